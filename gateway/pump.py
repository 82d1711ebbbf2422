"""The event pump: one reader per gateway process for the streams of all its sessions.

Writers (``envelopes.outbox``) append to a session's stream and name the session in the
wake stream of the gateway holding it. The pump blocks on that one wake stream, then reads
just the streams it named, in one ``XREAD``: the cost follows the sessions that have
something new, not the number of open sockets. A session attaching names itself too, so
anything written between its replay and its subscription is read at once; a full pass over
every subscription every ``SWEEP`` seconds catches anything a lost wake-up would hide.
Entries go to each session's ``deliver`` callback, which only queues them: a slow browser
never holds up the pump. The sweeper answers ``timeout`` for requests whose deadline
passed, and ``not-sent`` for requests a stopped gateway accepted but never handed to a
worker; any gateway may do it, the outbox guarantees one reply.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from envelopes import keys
from envelopes.errors import NotSent, RequestTimeout, SockethubError
from envelopes.outbox import Outbox, failure_frame

__all__ = ["Pump", "Sweeper", "Heartbeat", "SWEEP"]

log = logging.getLogger("sockethub.pump")

Deliver = Callable[[dict[bytes, bytes]], None]

SWEEP = 5.0  # seconds between full passes over every subscription
BATCH = 256  # streams per XREAD


@dataclass(eq=False)
class _Sub:
    sid: str
    stream: bytes
    last_id: bytes
    deliver: Deliver


class Pump:
    def __init__(self, redis: Any, writer: Any, gateway_id: str, block_ms: int = 2000):
        self._redis = redis  # dedicated client: this thread blocks on it
        self._writer = writer  # shared client for wake-ups
        self._wake = keys.gateway_wake(gateway_id).encode()
        self._block_ms = block_ms
        self._subs: dict[str, _Sub] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Called (in the pump's thread) when Redis answers again after failing.
        self.on_recover: Callable[[], None] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sockethub-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke("")

    def add(self, sid: str, last_id: bytes | str, deliver: Deliver) -> None:
        if isinstance(last_id, str):
            last_id = last_id.encode()
        with self._lock:
            self._subs[sid] = _Sub(sid, keys.session_stream(sid).encode(), last_id, deliver)
        self._poke(sid)

    def remove(self, sid: str, deliver: Deliver | None = None) -> None:
        with self._lock:
            sub = self._subs.get(sid)
            if sub is not None and (deliver is None or sub.deliver is deliver):
                del self._subs[sid]

    def __len__(self) -> int:
        return len(self._subs)

    def _poke(self, sid: str) -> None:
        try:
            pipe = self._writer.pipeline(transaction=False)
            pipe.xadd(self._wake, {"s": sid}, maxlen=10000, approximate=True)
            pipe.expire(self._wake, 3600)
            pipe.execute()
        except Exception:  # the pump's own retry loop reports Redis trouble
            log.debug("wake failed", exc_info=True)

    def _wake_start(self) -> bytes:
        # An explicit id, not "$": a wake-up written before the first read is not missed.
        while not self._stop.is_set():
            try:
                last = self._redis.xrevrange(self._wake, count=1)
                return last[0][0] if last else b"0-0"
            except Exception:
                log.exception("pump cannot reach Redis; retrying in 1 s")
                self._stop.wait(1)
        return b"0-0"

    def _run(self) -> None:
        wake_last = self._wake_start()
        swept = time.monotonic()
        broken = False
        while not self._stop.is_set():
            try:
                resp = self._redis.xread({self._wake: wake_last}, block=self._block_ms, count=5000)
                if broken:
                    # Redis is back (restarted, or the network healed): read every stream
                    # (a wake-up may be lost), and let the hub find sessions it lost.
                    broken, swept = False, 0.0
                    self._recovered()
                due: set[str] = set()
                for _stream, entries in resp or []:
                    for entry_id, fields in entries:
                        wake_last = entry_id
                        sid = fields.get(b"s", b"").decode(errors="replace")
                        if sid:
                            due.add(sid)
                with self._lock:
                    if time.monotonic() - swept > SWEEP:
                        swept = time.monotonic()
                        subs = list(self._subs.values())
                    else:
                        subs = [self._subs[sid] for sid in due if sid in self._subs]
                for start in range(0, len(subs), BATCH):
                    self._read(subs[start : start + BATCH])
            except Exception:
                log.exception("pump read failed; retrying in 1 s")
                broken = True
                self._stop.wait(1)

    def _recovered(self) -> None:
        if self.on_recover is not None:
            try:
                self.on_recover()
            except Exception:
                log.exception("checking sessions after Redis came back failed")

    def _read(self, subs: list[_Sub]) -> None:
        """Deliver what is new in these sessions' streams (one non-blocking XREAD)."""
        by_stream = {sub.stream: sub for sub in subs}
        while by_stream:
            resp = self._xread(by_stream)
            full = {}
            for stream, entries in resp or []:
                target = by_stream[stream]
                if self._subs.get(target.sid) is not target:
                    continue
                for entry_id, fields in entries:
                    target.last_id = entry_id
                    try:
                        target.deliver(fields)
                    except Exception:
                        log.exception("delivery to session %s failed", target.sid)
                if len(entries) == 500:  # more waiting in that stream
                    full[stream] = target
            by_stream = full

    def _xread(self, by_stream: dict[bytes, _Sub]) -> list[Any]:
        streams = {stream: sub.last_id for stream, sub in by_stream.items()}
        try:
            return list(self._redis.xread(streams, count=500) or [])
        except ResponseError:
            pass  # Redis refused the command, for one stream or all: find which below
        # One stream that cannot be read (a key of the wrong type, a bad id) fails the whole
        # XREAD: read them one by one so only that session waits, and say which one it is.
        out: list[Any] = []
        for stream, last_id in streams.items():
            try:
                out.extend(self._redis.xread({stream: last_id}, count=500) or [])
            except ResponseError:
                log.exception("cannot read stream %r; skipping it this pass", stream)
        return out


class _Periodic:
    interval = 1.0
    name = "sockethub-periodic"

    def __init__(self) -> None:
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:
                log.exception("%s failed", self.name)

    def tick(self) -> object:
        raise NotImplementedError


class Sweeper(_Periodic):
    """Answers ``not-sent`` for every request whose gateway stopped before it left (its
    marker still ``a`` past ``SOCKETHUB_UNSENT_GRACE``), and ``timeout`` for every request
    whose deadline has passed. Any gateway sharing the Redis may answer either."""

    interval = 0.25
    name = "sockethub-sweeper"

    def __init__(self, redis: Any, outbox: Outbox, clock: Callable[[], float] = time.time):
        super().__init__()
        self._redis = redis
        self._outbox = outbox
        self._clock = clock

    def tick(self) -> int:
        now = self._clock()
        answered = self._sweep(keys.unsent(), now, unsent=True)
        return answered + self._sweep(keys.deadlines(), now, unsent=False)

    def _sweep(self, zset: str, now: float, unsent: bool) -> int:
        due = self._redis.zrangebyscore(zset, "-inf", now, 0, 200)
        answered = 0
        for member in due:
            try:
                answered += self._answer(member, unsent)
            except (RedisConnectionError, RedisTimeoutError):
                raise  # Redis trouble, not this entry's: the next tick tries again
            except Exception:
                # One entry we cannot answer must not hold up everyone else's timeouts
                # (every gateway sharing this Redis sweeps the same set): drop it, say so.
                log.exception("dropping %s entry %r that cannot be answered", zset, member)
                self._redis.zrem(zset, member)
        return answered

    def _answer(self, member: bytes | str, unsent: bool) -> int:
        text = member.decode() if isinstance(member, bytes) else member
        sid, rid = keys.split_deadline_member(text)
        raw = self._redis.get(keys.request(sid, rid))
        activity = self._outbox.sealer.open_marker(sid, rid, raw)
        error: SockethubError
        if unsent:
            error = NotSent(
                "the gateway stopped before your request left for the platform's workers: "
                "it did not run; send it again"
            )
        else:
            error = RequestTimeout(
                "no reply from the platform's workers within the deadline "
                "(the worker may have stopped, or no worker serves this platform)"
            )
        try:
            seq = self._outbox.reply(
                sid, rid, failure_frame(rid, error.to_dict(), activity), unsent=unsent
            )
        except (UnicodeError, TypeError, ValueError):
            # The stored activity cannot be echoed (not encodable): answer without it.
            log.warning("%s reply for %s without its activity (not encodable)", error.code, text)
            seq = self._outbox.reply(
                sid, rid, failure_frame(rid, error.to_dict(), None), unsent=unsent
            )
        return 1 if seq > 0 else 0


class Heartbeat(_Periodic):
    """Keeps attached sessions alive while their sockets are open."""

    name = "sockethub-heartbeat"

    def __init__(self, touch: Callable[[], None], interval: float):
        super().__init__()
        self.interval = interval
        self._touch = touch

    def tick(self) -> None:
        self._touch()
