"""One browser socket: its session, its incoming frames, its outgoing queue.

The receive loop runs in the request's thread (a greenlet under gevent); a writer thread
drains the outgoing queue so that the pump never waits on a slow browser. Every reply goes
through the session's stream (``envelopes.outbox``), so replies and events share one
sequence and a resumed session misses neither.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from simple_websocket import ConnectionClosed

from envelopes import keys
from envelopes.errors import (
    ClientError,
    CredentialsMissing,
    DuplicateRequest,
    RateLimited,
    SessionError,
    SockethubError,
)
from envelopes.outbox import failure_frame, frame_with_seq, reply_frame
from envelopes.validate import Envelope, validate_envelope

from .frames import Inbound, parse_frame, request_id_of
from .ratelimit import TokenBucket
from .sessions import Session

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["Connection", "MAX_VERB_TIMEOUT"]

log = logging.getLogger("sockethub.connection")

MAX_VERB_TIMEOUT = 600.0
# The number of a verb on its connection, counted in the session hash; never re-creates the
# hash of a session that has just expired (a hash without a TTL would look alive).
_NEXT_SEQ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
"""
_CLOSE = object()


def _missed(entries: list[Any], after: int, last: int) -> dict[str, Any] | None:
    """The range of frames a resume cannot deliver, because the stream no longer has them."""
    first = next((int(f[b"seq"]) for _, f in entries if b"seq" in f), None)
    if last <= after or (first is not None and first <= after + 1):
        return None
    return {
        "from": after + 1,
        "to": (first - 1) if first is not None else last,
        "reason": "older than the resume buffer (SOCKETHUB_STREAM_MAXLEN)",
    }


class Connection:
    def __init__(self, hub: Hub, ws: Any):
        self.hub = hub
        self.ws = ws
        self.session: Session | None = None
        self.last_seq = 0
        self._out: queue.Queue[Any] = queue.Queue()
        self._send_lock = threading.Lock()
        self._bucket = TokenBucket(hub.settings.rate_limit, hub.settings.rate_burst)
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------
    def serve(self) -> None:
        try:
            first = self.ws.receive()
            if first is None:
                return
            pending = self._start(first)
            writer = threading.Thread(target=self._write_loop, name="sockethub-writer")
            writer.daemon = True
            writer.start()
            if pending is not None:
                self._handle_raw(pending)
            while not self._closing:
                raw = self.ws.receive()
                if raw is None:
                    break
                self._handle_raw(raw)
        except ConnectionClosed:
            pass
        finally:
            self._finish()

    def _start(self, first: str | bytes) -> str | bytes | None:
        """Resume or create the session; return the first frame if it still needs handling."""
        hello: Inbound | None = None
        try:
            frame = parse_frame(first, self.hub.settings.max_frame_bytes)
            if frame.kind == "hello":
                hello = frame
        except SockethubError:
            pass
        resume_error = None
        if hello is not None and isinstance(hello.resume, dict):
            try:
                self.session = self.hub.sessions.resume(
                    hello.resume.get("session"), hello.resume.get("token"), self.hub.gateway_id
                )
            except SessionError as exc:
                resume_error = exc.to_dict()
        if self.session is None:
            self.session = self.hub.sessions.create(self.hub.gateway_id)
        sid = self.session.sid
        welcome = self.hub.welcome(self.session, resume_error)
        after = 0
        entries: list[Any] = []
        if self.session.resumed and hello is not None:
            try:
                after = int(hello.resume.get("lastSeq") or 0)
            except (TypeError, ValueError):
                after = 0
            entries = list(self.hub.redis.xrange(keys.session_stream(sid)) or [])
            missed = _missed(entries, after, int(welcome["lastSeq"]))
            if missed is not None:
                welcome["missed"] = missed
        self._out.put(json.dumps(welcome))
        self.hub.metrics.inc(
            "sockethub_sessions_resumed_total"
            if self.session.resumed
            else "sockethub_sessions_started_total"
        )
        self.last_seq = after
        last_id: bytes | str = "0-0"
        for entry_id, fields in entries:
            last_id = entry_id
            seq = fields.get(b"seq")
            if seq is not None and int(seq) > after:
                self.deliver(fields)
        self.hub.attach(self, last_id)
        log.info("session %s %s", sid, "resumed" if self.session.resumed else "started")
        return None if hello is not None else first

    def _finish(self) -> None:
        self._closing = True
        self._out.put(_CLOSE)
        if self.session is not None:
            self.hub.detach(self)

    def close(self, code: int, reason: str) -> None:
        self._closing = True
        try:
            with self._send_lock:
                self.ws.close(reason=code, message=reason)
        except Exception:
            pass

    # -- outgoing ----------------------------------------------------------------------
    def deliver(self, fields: dict[bytes, bytes]) -> None:
        """Called by the pump (and the replay) for each stream entry."""
        self._out.put(fields)

    def _write_loop(self) -> None:
        while True:
            item = self._out.get()
            if item is _CLOSE:
                return
            if isinstance(item, dict):
                if b"ctl" in item:
                    # A later attach means another socket resumed this session.
                    if int(item.get(b"gen", 0)) > self.session.gen:  # type: ignore[union-attr]
                        self.close(4001, "session resumed elsewhere")
                        return
                    continue
                seq = int(item[b"seq"])
                if seq <= self.last_seq:
                    continue
                self.last_seq = seq
                text = frame_with_seq(seq, item[b"f"].decode())
            else:
                text = item
            try:
                with self._send_lock:
                    self.ws.send(text)
                self.hub.metrics.inc("sockethub_frames_sent_total")
            except Exception:
                # The socket is going away. Keep reading what the browser already sent:
                # those requests still run, and their replies wait in the stream for resume.
                return

    # -- incoming ----------------------------------------------------------------------
    def _handle_raw(self, raw: str | bytes) -> None:
        rid = None
        try:
            frame = parse_frame(raw, self.hub.settings.max_frame_bytes)
            rid = frame.id
            if frame.kind == "ping":
                self._out.put('{"kind":"pong"}')
            elif frame.kind == "hello":
                raise ClientError("hello is only accepted as the first frame", code="invalid-frame")
            else:
                self._request(frame)
        except SockethubError as exc:
            if rid is None:
                rid = request_id_of(raw)
            self._refuse(rid, exc, None)
        except Exception:
            log.exception("unexpected error handling a frame")
            self._refuse(rid, SockethubError("internal error in the gateway"), None)

    def _refuse(self, rid: str | None, exc: SockethubError, activity: Any) -> None:
        self.hub.metrics.inc("sockethub_refusals_total", code=exc.code)
        echo = activity if isinstance(activity, dict) else None
        if echo is not None and ("object" in echo) and echo.get("type") == "credentials":
            echo = {k: v for k, v in echo.items() if k != "object"}  # never echo secrets
        self.hub.outbox.push(self.session.sid, failure_frame(rid, exc.to_dict(), echo))  # type: ignore[union-attr]

    def _request(self, frame: Inbound) -> None:
        sid = self.session.sid  # type: ignore[union-attr]
        rid = frame.id
        assert rid is not None
        if not self._bucket.allow():
            raise RateLimited(
                f"more than {self.hub.settings.rate_limit:g} requests per second "
                f"(burst {self.hub.settings.rate_burst}); request {rid} was not run"
            )
        try:
            env = validate_envelope(frame.activity, self.hub.registry)
        except ClientError as exc:
            self._refuse(rid, exc, frame.activity)
            return
        if env.verb == "credentials":
            self._credentials(rid, env)
            return
        verb = env.platform.verbs[env.verb]
        ckey = None
        if verb.needs_credentials:
            stored, ckey = self.hub.vault.lookup(sid, env.platform.name, env.actor_id)
            if not stored:
                raise CredentialsMissing(
                    f"credentials not found for {env.platform.name}:{env.actor_id}; send a "
                    "credentials activity for this actor first"
                )
        timeout = min(verb.timeout or self.hub.settings.request_timeout, MAX_VERB_TIMEOUT)
        self._enqueue(rid, env, timeout, ckey)

    def _credentials(self, rid: str, env: Envelope) -> None:
        obj = dict(env.activity["object"])
        obj.pop("type", None)
        identity = None
        if env.platform.connection_identity is not None:
            identity = env.platform.connection_identity(obj)
        self.hub.vault.store(self.session.sid, env.platform.name, env.actor_id, obj, identity)  # type: ignore[union-attr]
        result = {k: v for k, v in env.activity.items() if k != "object"}
        self.hub.outbox.push(self.session.sid, reply_frame(rid, result))  # type: ignore[union-attr]

    def _enqueue(self, rid: str, env: Envelope, timeout: float, ckey: str | None) -> None:
        sid = self.session.sid  # type: ignore[union-attr]
        deadline = time.time() + timeout
        marker = "p" + json.dumps(env.activity, separators=(",", ":"))
        redis = self.hub.redis
        if not redis.set(keys.request(sid, rid), marker, nx=True, ex=int(timeout) + 120):
            raise DuplicateRequest(f"request id {rid} was already used in this session")
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(keys.deadlines(), {keys.deadline_member(sid, rid): deadline})
        if env.platform.persistent and ckey:
            # Later verbs go to the node that holds the connection; a new one to the pool.
            pipe.get(keys.lease(env.platform.name, ckey))
            # Numbered per session and connection: the owner runs them in this order.
            pipe.eval(_NEXT_SEQ, 1, keys.session(sid), keys.order_field(env.platform.name, ckey))
        _added, *lease = pipe.execute()
        payload = {
            "session": sid,
            "request": rid,
            "verb": env.verb,
            "activity": env.activity,
            "deadline": deadline,
        }
        queue = env.platform.queue
        if ckey:
            payload["connection"] = ckey
        if lease:
            payload["seq"] = int(lease[1])
        if lease and lease[0]:
            queue = lease[0].decode() if isinstance(lease[0], bytes) else str(lease[0])
        self.hub.metrics.inc("sockethub_requests_total", platform=env.platform.name, verb=env.verb)
        try:
            self.hub.enqueuer.send(env.platform, payload, timeout, queue)
        except Exception as exc:
            log.exception("enqueue failed")
            err = SockethubError(f"failed to add job to queue: {type(exc).__name__}")
            self.hub.outbox.reply(sid, rid, failure_frame(rid, err.to_dict(), env.activity))
