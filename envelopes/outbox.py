"""Publishing replies and events into a session's stream, atomically, with ``seq``.

Workers and gateways both write here; whatever writes first for a request wins and every
later writer is a no-op, so each request gets exactly one terminal reply (the worker's
result, or the gateway's timeout). ``redis`` is any redis-py client; this module imports
none.

A stream entry holds ``seq`` and ``f``: the frame as JSON without its ``seq``, sealed
under the session's key (``envelopes.atrest``); the gateway opens it and ``frame_with_seq``
splices the ``seq`` in when it sends it. Entries with ``ctl`` instead are control messages
between gateways (a session resumed elsewhere) and carry no ``seq``.

What one session can make Redis hold is bounded. A frame over ``max_frame`` bytes
(``SOCKETHUB_MAX_REPLY_BYTES``) is never written: a reply becomes a failed ``too-large``
reply naming its size, the cap and the setting (still the request's one terminal reply);
an event becomes a small event with its ``type``, ``actor`` and ``target`` and an ``error``
saying what was dropped. The stream keeps at most ``maxlen`` entries and ``max_bytes``
bytes of frames (``SOCKETHUB_STREAM_MAXLEN``, ``SOCKETHUB_STREAM_MAX_BYTES``): each write
adds its size to the stream's byte counter and trims the oldest entries while over
either bound, exactly, keeping at least the newest. A resume that needed a trimmed entry
is told ``missed`` by the gateway (the stream's first ``seq`` is past its ``lastSeq``).
"""

from __future__ import annotations

import json
from typing import Any

from . import keys
from .atrest import AtRest
from .errors import SessionError, TooLarge
from .markers import Markers
from .scripts import run_many
from .settings import Settings

__all__ = ["Outbox", "frame_with_seq", "reply_frame", "failure_frame", "event_frame"]

# Append ``seq``/``f`` to the stream and trim it to its bounds; set ``seq`` and ``ttl``
# first. ARGV[n]: the frame, ARGV[n+1]: maxlen, ARGV[n+2]: max bytes.
# KEYS[s]: the stream, KEYS[b]: its byte counter.
_APPEND = """
local stream, counter = KEYS[{s}], KEYS[{b}]
local maxlen, maxbytes = tonumber(ARGV[{n1}]), tonumber(ARGV[{n2}])
if redis.call('XLEN', stream) == 0 then redis.call('SET', counter, 0) end
redis.call('XADD', stream, '*', 'seq', seq, 'f', ARGV[{n0}])
local total = redis.call('INCRBY', counter, string.len(ARGV[{n0}]))
local count = redis.call('XLEN', stream)
while count > 1 and (count > maxlen or total > maxbytes) do
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  local fields = oldest[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'f' then total = total - string.len(fields[i + 1]) end
  end
  redis.call('XDEL', stream, oldest[1])
  count = count - 1
end
if total < 0 then total = 0 end
redis.call('SET', counter, total, 'EX', ttl)
redis.call('EXPIRE', stream, ttl)
"""

# Tell the gateway holding the session (the session hash's ``gw``) that its stream has
# something new: its pump then reads only the streams that changed, however many are open.
# ARGV[n], ARGV[n+1], ARGV[n+2]: session id, wake key prefix, wake key suffix.
_WAKE = """
local gw = redis.call('HGET', KEYS[1], 'gw')
if gw then
  local wake = ARGV[{n1}] .. gw .. ARGV[{n2}]
  redis.call('XADD', wake, 'MAXLEN', '~', 10000, '*', 's', ARGV[{n0}])
  redis.call('EXPIRE', wake, 3600)
end
"""

# The request's marker (``envelopes.markers``) says whether this reply is the first: any
# in-flight state (``a`` accepted, ``p`` sent, ``r`` running) for a reply, only ``a`` for
# ``not-sent`` (which then leaves ``n``, so the id may be sent again). A ``not-sent`` that
# finds the request sent after all leaves its deadline in place: its timeout is still owed.
# KEYS: session, request, seq, stream, deadlines, stream bytes, unsent
# ARGV: frame, maxlen, deadline member, session id, wake prefix, wake suffix, max bytes,
#       states answered, state after
_REPLY = (
    """
local cur = redis.call('GET', KEYS[2])
local ok = cur and #cur > 0 and string.find(ARGV[8], string.sub(cur, 1, 1), 1, true)
redis.call('ZREM', KEYS[7], ARGV[3])
if ok or ARGV[8] ~= 'a' then redis.call('ZREM', KEYS[5], ARGV[3]) end
if not ok then return 0 end
local ttl = redis.call('TTL', KEYS[1])
if ttl == -2 then redis.call('DEL', KEYS[2]) return -1 end
if ttl == -1 then ttl = 86400 end
redis.call('SET', KEYS[2], ARGV[9], 'EX', ttl)
local seq = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ttl)
"""
    + _APPEND.format(s=4, b=6, n0=1, n1=2, n2=7)
    + _WAKE.format(n0=4, n1=5, n2=6)
    + """
return seq
"""
)

# KEYS: session, seq, stream, stream bytes
# ARGV: frame, maxlen, session id, wake prefix, wake suffix, max bytes
_EVENT = (
    """
local ttl = redis.call('TTL', KEYS[1])
if ttl == -2 then return -1 end
if ttl == -1 then ttl = 86400 end
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ttl)
"""
    + _APPEND.format(s=3, b=4, n0=1, n1=2, n2=6)
    + _WAKE.format(n0=3, n1=4, n2=5)
    + """
return seq
"""
)


_WAKE_KEY = keys.gateway_wake("\0").split("\0")  # prefix and suffix around the gateway id


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def reply_frame(rid: str | None, result: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "reply", "id": rid, "status": "completed", "result": result}


def failure_frame(
    rid: str | None, error: dict[str, Any], activity: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A failed reply. ``activity`` is echoed with Sockethub's ``error`` string added.

    A request over ``ECHO_MAX_BYTES`` is echoed by its short fields only, marked
    ``truncated``: a browser sending near-limit junk must not get each frame back whole."""
    frame: dict[str, Any] = {"kind": "reply", "id": rid, "status": "failed", "error": error}
    if activity is not None:
        frame["activity"] = {**_echo_of(activity), "error": error.get("message", "")}
    return frame


ECHO_MAX_BYTES = 16384
_ECHO_KEPT = ("@context", "id", "type", "context", "platform", "actor", "target")


def _echo_of(activity: dict[str, Any]) -> dict[str, Any]:
    try:
        if len(_dumps(activity)) <= ECHO_MAX_BYTES:
            return activity
    except (TypeError, ValueError):
        pass
    small: dict[str, Any] = {"truncated": True}
    for name in _ECHO_KEPT:
        value = activity.get(name)
        try:
            if value is not None and len(_dumps(value)) <= 2048:
                small[name] = value
        except (TypeError, ValueError):
            continue
    return small


def event_frame(activity: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "event", "activity": activity}


def frame_with_seq(seq: int, frame_json: str) -> str:
    """``{"seq":N,...}`` from a frame's JSON, without parsing it again."""
    return f'{{"seq":{seq},{frame_json[1:]}' if frame_json != "{}" else f'{{"seq":{seq}}}'


_SETTING = "SOCKETHUB_MAX_REPLY_BYTES"
_KEPT = ("@context", "type", "actor", "target", "context")  # what a dropped event keeps


def _too_large_reply(rid: str | None, size: int, cap: int) -> dict[str, Any]:
    err = TooLarge(
        f"the reply was {size} bytes, over this gateway's {cap}-byte cap ({_SETTING}); "
        "ask for less (a feed's limit, for instance)"
    )
    return failure_frame(rid, err.to_dict())


def _dropped_event(frame: dict[str, Any], size: int, cap: int) -> dict[str, Any]:
    activity = frame.get("activity")
    said = f"an event of {size} bytes was dropped: over this gateway's {cap}-byte cap ({_SETTING})"
    small: dict[str, Any] = {"error": said}
    if isinstance(activity, dict):
        for name in _KEPT:
            value = activity.get(name)
            if value is not None and len(_dumps(value)) <= 2048:  # short ones only
                small[name] = value
    return {**{k: v for k, v in frame.items() if k != "activity"}, "activity": small}


class Outbox:
    """``maxlen`` entries and ``max_bytes`` bytes of frames per stream; no frame over
    ``max_frame`` bytes. ``from_settings`` takes all three from ``Settings``."""

    def __init__(
        self,
        redis: Any,
        maxlen: int = 2000,
        *,
        max_bytes: int = Settings.stream_max_bytes,
        max_frame: int = Settings.max_reply_bytes,
        sealer: AtRest,
    ):
        self._redis = redis
        self._maxlen = max(1, maxlen)
        self._max_bytes = max(1, max_bytes)
        self._max_frame = max(1, max_frame)
        self.sealer = sealer  # what writes here seals, what reads opens (gateway, sweeper)
        self.markers = Markers(redis)  # the request markers this outbox's replies end
        self._reply = redis.register_script(_REPLY)
        self._event = redis.register_script(_EVENT)

    @classmethod
    def from_settings(cls, redis: Any, settings: Settings, sealer: AtRest) -> Outbox:
        return cls(
            redis,
            settings.stream_maxlen,
            max_bytes=settings.stream_max_bytes,
            max_frame=settings.max_reply_bytes,
            sealer=sealer,
        )

    def _encoded(self, frame: dict[str, Any], rid: str | None, reply: bool) -> str:
        text = _dumps(frame)
        if len(text) * 4 <= self._max_frame:  # at most 4 UTF-8 bytes a character
            return text
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self._max_frame:
            return text
        if reply:
            return _dumps(_too_large_reply(rid, size, self._max_frame))
        return _dumps(_dropped_event(frame, size, self._max_frame))

    def reply(self, sid: str, rid: str, frame: dict[str, Any], *, unsent: bool = False) -> int:
        """Terminal reply for a request in flight: its seq, 0 if already answered, -1 if
        the session is gone. ``unsent``: only if it was never handed to its workers
        (the ``not-sent`` answer; the id may then be used again)."""
        try:
            sealed = self.sealer.seal_frame(sid, self._encoded(frame, rid, reply=True))
        except SessionError:  # its key is gone with it: clear what the script would
            pipe = self._redis.pipeline(transaction=False)
            pipe.zrem(keys.deadlines(), keys.deadline_member(sid, rid))
            pipe.zrem(keys.unsent(), keys.deadline_member(sid, rid))
            pipe.delete(keys.request(sid, rid))
            pipe.execute()
            return -1
        k, a = self._reply_args(sid, rid, sealed, unsent)
        return int(self._reply(keys=k, args=a))

    def reply_many(self, replies: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
        """``reply`` for many ``(session, request, frame)`` in one round trip (a pipeline,
        not a transaction: each reply is atomic on its own). Each one's ``reply`` answer."""
        out = [0] * len(replies)
        todo: list[tuple[int, list[str], list[Any]]] = []
        for i, (sid, rid, frame) in enumerate(replies):
            try:
                sealed = self.sealer.seal_frame(sid, self._encoded(frame, rid, reply=True))
            except SessionError:
                out[i] = self.reply(sid, rid, frame)  # clears what is left of it
                continue
            todo.append((i, *self._reply_args(sid, rid, sealed, False)))
        if not todo:
            return out
        seqs = run_many(self._redis, self._reply, [(k, a) for _i, k, a in todo])
        for (i, _k, _a), seq in zip(todo, seqs, strict=True):
            out[i] = int(seq)
        return out

    def _reply_args(
        self, sid: str, rid: str, sealed: bytes, unsent: bool
    ) -> tuple[list[str], list[Any]]:
        return [
            keys.session(sid),
            keys.request(sid, rid),
            keys.session_seq(sid),
            keys.session_stream(sid),
            keys.deadlines(),
            keys.session_stream_bytes(sid),
            keys.unsent(),
        ], [
            sealed,
            self._maxlen,
            keys.deadline_member(sid, rid),
            sid,
            *_WAKE_KEY,
            self._max_bytes,
            "a" if unsent else "apr",
            "n" if unsent else "done",
        ]

    def push(self, sid: str, frame: dict[str, Any]) -> int:
        """Any other frame (events, refusals of frames that never became requests)."""
        sealed = self._sealed(sid, frame)
        return -1 if sealed is None else int(self._push_sealed(sid, sealed, None))

    def push_many(self, frames: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """``push`` for many ``(session, frame)`` in one round trip (a pipeline, not a
        transaction: each write is atomic on its own). Each one's seq, or -1."""
        out = [-1] * len(frames)
        sealed = [(i, sid, self._sealed(sid, frame)) for i, (sid, frame) in enumerate(frames)]
        todo = [(i, sid, f) for i, sid, f in sealed if f is not None]
        if not todo:
            return out
        seqs = run_many(self._redis, self._event, [self._event_args(sid, f) for _i, sid, f in todo])
        for (i, _sid, _f), seq in zip(todo, seqs, strict=True):
            out[i] = int(seq)
        return out

    def _sealed(self, sid: str, frame: dict[str, Any]) -> bytes | None:
        reply = frame.get("kind") == "reply"
        try:
            return self.sealer.seal_frame(sid, self._encoded(frame, frame.get("id"), reply))
        except SessionError:  # the session ended, its key with it
            return None

    def _push_sealed(self, sid: str, sealed: bytes, client: Any) -> Any:
        """The event script for one sealed frame, run by ``client``."""
        k, a = self._event_args(sid, sealed)
        return self._event(keys=k, args=a, client=client)

    def _event_args(self, sid: str, sealed: bytes) -> tuple[list[str], list[Any]]:
        k = [
            keys.session(sid),
            keys.session_seq(sid),
            keys.session_stream(sid),
            keys.session_stream_bytes(sid),
        ]
        return k, [sealed, self._maxlen, sid, *_WAKE_KEY, self._max_bytes]

    def event(self, sid: str, activity: dict[str, Any]) -> int:
        return self.push(sid, event_frame(activity))
