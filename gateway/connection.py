"""One browser socket: its session, its incoming frames, its outgoing queue.

The receive loop runs in the request's thread (a greenlet under gevent); a writer thread
drains the outgoing queue so that the pump never waits on a slow browser. Every reply goes
through the session's stream (``envelopes.outbox``), so replies and events share one
sequence and a resumed session misses neither.
"""

from __future__ import annotations

import json
import logging
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
    internal_error,
)
from envelopes.markers import NUMBER, tag_of
from envelopes.outbox import failure_frame, frame_with_seq, reply_frame
from envelopes.validate import Envelope, validate_envelope

from .enqueue import Acceptance
from .frames import Inbound, parse_frame, request_id_of
from .ratelimit import CLOSE, REFUSE, SILENT, Meter
from .sendqueue import BEHIND, FINISHED, SendQueue
from .sessions import Session
from .upgrade import CLOSE_WAIT
from .wire import abort, capped

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["Connection", "MAX_VERB_TIMEOUT"]

log = logging.getLogger("sockethub.connection")

MAX_VERB_TIMEOUT = 600.0
REPLAY_PAGE = 200  # stream entries read per round trip when a session resumes
BEHIND_CODE = 4008  # close code: the socket fell SOCKETHUB_SEND_BUFFER_BYTES behind
LOST_CODE = 4002  # close code: the session is gone from Redis (it lost its data)
LOST_REASON = "session ended on the server; resume to be told, or start a new session"


_TAKEN_OVER = object()
_RATE_CLOSE = "rate limit exceeded for too long; reconnect later"


class _Refused(Exception):
    """The socket is refused before it gets a session (closed with 1008, this message)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # the metric's label


def _seq_of(fields: dict[bytes, bytes]) -> int:
    try:
        return int(fields[b"seq"])
    except (KeyError, ValueError):
        return 0  # control entries have none (the writer reads them), damaged ones neither


def _missed(entries: list[Any], after: int, last: int) -> dict[str, Any] | None:
    """The range of frames a resume cannot deliver, because the stream no longer has them."""
    first = next((int(f[b"seq"]) for _, f in entries if b"seq" in f), None)
    if last <= after or (first is not None and first <= after + 1):
        return None
    return {
        "from": after + 1,
        "to": (first - 1) if first is not None else last,
        "reason": "older than the resume buffer "
        "(SOCKETHUB_STREAM_MAXLEN, SOCKETHUB_STREAM_MAX_BYTES)",
    }


class Connection:
    def __init__(self, hub: Hub, ws: Any, address: str = ""):
        self.hub = hub
        self.ws = ws
        self.address = address  # the client's, for the per-address limits
        self.session: Session | None = None
        self.last_seq = 0
        self._out = SendQueue(hub.settings.send_buffer_bytes)
        self._replay_after: int | None = None  # lastSeq of a resume, until replayed
        self._send_lock = threading.Lock()
        self._closing = False
        self._meter: Meter | None = None  # the session's rate limit, once it has one

    # -- lifecycle ---------------------------------------------------------------------
    def serve(self) -> None:
        try:
            first = self.ws.receive()
            if first is None:
                return
            try:
                pending = self._start(first)
            except _Refused as refused:
                self.hub.metrics.inc("sockethub_sockets_refused_total", reason=refused.reason)
                self.close(1008, str(refused))
                return
            writer = threading.Thread(target=self._write_loop, name="sockethub-writer")
            writer.daemon = True
            writer.start()
            self._replay_and_attach()
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
            if not self.hub.addresses.new_session(self.address):
                raise _Refused(
                    "too many new sessions from your address; resume one, or retry in a minute",
                    "sessions-per-address",
                )
            self.session = self.hub.sessions.create(self.hub.gateway_id)
        self._meter = Meter(self.hub.bucket, self.session.sid)
        if hello is not None and self._meter.charge() == CLOSE:
            raise _Refused(_RATE_CLOSE, "rate-limited")
        sid = self.session.sid
        welcome = self.hub.welcome(self.session, resume_error)
        after = 0
        if self.session.resumed and hello is not None:
            try:
                after = int(hello.resume.get("lastSeq") or 0)
            except (TypeError, ValueError):
                after = 0
            self._replay_after = after
            head = list(self.hub.redis.xrange(keys.session_stream(sid), count=REPLAY_PAGE) or [])
            missed = _missed(head, after, int(welcome["lastSeq"]))
            if missed is not None:
                welcome["missed"] = missed
        self._out.offer(json.dumps(welcome))
        self.hub.metrics.inc(
            "sockethub_sessions_resumed_total"
            if self.session.resumed
            else "sockethub_sessions_started_total"
        )
        self.last_seq = after
        log.info("session %s %s", sid, "resumed" if self.session.resumed else "started")
        return None if hello is not None else first

    def _replay_and_attach(self) -> None:
        """What a resume missed, a page at a time as the socket takes it; then live."""
        last_id: bytes | str = "0-0"
        after = self._replay_after
        stream = keys.session_stream(self.session.sid)  # type: ignore[union-attr]
        start: bytes | str = "-"
        while after is not None:
            page: list[Any] = self.hub.redis.xrange(stream, min=start, count=REPLAY_PAGE) or []
            for entry_id, fields in page:
                last_id = entry_id
                if _seq_of(fields) > after:
                    if not self._out.put(fields, timeout=self.hub.settings.send_timeout):
                        after = None  # too far behind: the writer closes with 4008
                        break
            if len(page) < REPLAY_PAGE:
                break
            start = b"(" + (last_id if isinstance(last_id, bytes) else last_id.encode())
        self._replay_after = None
        self.hub.attach(self, last_id)

    def _finish(self) -> None:
        self._closing = True
        self._out.finish()
        if self._meter is not None:
            try:
                self._meter.flush()  # what this socket sent, for the session's next socket
            except Exception:
                log.warning("could not charge the last frames of session %s", self.sid)
        if self.session is not None:
            self.hub.detach(self)

    def close(self, code: int, reason: str, wait: float = CLOSE_WAIT) -> None:
        """Send a close frame within ``wait`` seconds, or cut the socket: a browser that
        does not read never holds up a shutdown or another socket's resume."""
        self._closing = True
        if not self._send_lock.acquire(timeout=wait):
            abort(self.ws)  # a frame is still going out; a close frame cannot follow it
            return
        try:
            with capped(self.ws, wait):
                self.ws.close(reason=code, message=reason)
        except Exception:
            abort(self.ws)
        finally:
            self._send_lock.release()

    def lost(self) -> None:
        """The session is gone from Redis: no reply can reach this socket any more. Close
        it (in the background: never in the caller's way) so the browser resumes, is told
        ``session-expired`` and starts a new session."""
        threading.Thread(
            target=self.close, args=(LOST_CODE, LOST_REASON), name="sockethub-lost", daemon=True
        ).start()

    # -- outgoing ----------------------------------------------------------------------
    def deliver(self, fields: dict[bytes, bytes]) -> None:
        """Called by the pump for each stream entry; never waits."""
        self._out.offer(fields)

    def _write_loop(self) -> None:
        while True:
            item = self._out.get()
            if item is FINISHED:
                return
            if item is BEHIND:
                self.hub.metrics.inc("sockethub_sockets_behind_total")
                self.close(BEHIND_CODE, "too far behind; resume from lastSeq")
                return
            if isinstance(item, dict):
                try:
                    text = self._entry_text(item)
                except Exception:
                    # A damaged entry must not end this socket's writer: skip it, say so.
                    log.exception("skipping an unreadable stream entry for %s", self.sid)
                    continue
                if text is _TAKEN_OVER:
                    self.close(4001, "session resumed elsewhere")
                    return
                if text is None:
                    continue
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

    @property
    def sid(self) -> str | None:
        return self.session.sid if self.session is not None else None

    def _entry_text(self, item: dict[bytes, bytes]) -> Any:
        """The frame to send for a stream entry; None to skip it; ``_TAKEN_OVER``."""
        if b"ctl" in item:
            # A later attach means another socket resumed this session.
            if int(item.get(b"gen", 0)) > self.session.gen:  # type: ignore[union-attr]
                return _TAKEN_OVER
            return None
        seq = int(item[b"seq"])
        if seq <= self.last_seq:
            return None
        self.last_seq = seq
        frame = self.hub.atrest.open_frame(self.session.sid, item[b"f"])  # type: ignore[union-attr]
        if frame is None:  # sealed under a key we cannot open: logged there, skipped here
            return None
        return frame_with_seq(seq, frame)

    # -- incoming ----------------------------------------------------------------------
    def _handle_raw(self, raw: str | bytes) -> None:
        rid = None
        try:
            if not self._charge(raw):
                return
            frame = parse_frame(raw, self.hub.settings.max_frame_bytes)
            rid = frame.id
            if frame.kind == "ping":
                self._out.offer('{"kind":"pong"}')
            elif frame.kind == "hello":
                raise ClientError("hello is only accepted as the first frame", code="invalid-frame")
            else:
                self._request(frame)
        except SockethubError as exc:
            if rid is None:
                rid = request_id_of(raw)
            self._refuse(rid, exc, None)
        except Exception as exc:
            self._refuse(rid, internal_error(log, "unexpected error handling a frame", exc), None)

    def _charge(self, raw: str | bytes) -> bool:
        """Take this frame's token; False if it must not be handled (see ``ratelimit``)."""
        verdict = self._meter.charge()  # type: ignore[union-attr]
        if verdict == REFUSE:
            s = self.hub.settings
            raise RateLimited(
                f"more than {s.rate_limit:g} requests per second (burst {s.rate_burst}; "
                "pings and invalid frames count too): this frame was not handled, slow down"
            )
        if verdict in (SILENT, CLOSE):
            self.hub.metrics.inc("sockethub_frames_dropped_total", reason="rate-limited")
            if verdict == CLOSE:
                self.close(1008, _RATE_CLOSE)
            return False
        return True

    def _refuse(self, rid: str | None, exc: SockethubError, activity: Any) -> None:
        self.hub.metrics.inc("sockethub_refusals_total", code=exc.code)
        echo = activity if isinstance(activity, dict) else None
        if echo is not None and ("object" in echo) and echo.get("type") == "credentials":
            echo = {k: v for k, v in echo.items() if k != "object"}  # never echo secrets
        if self.hub.outbox.push(self.session.sid, failure_frame(rid, exc.to_dict(), echo)) < 0:  # type: ignore[union-attr]
            self.lost()

    def _request(self, frame: Inbound) -> None:
        sid = self.session.sid  # type: ignore[union-attr]
        rid = frame.id
        assert rid is not None
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
        if self.hub.outbox.push(self.session.sid, reply_frame(rid, result)) < 0:  # type: ignore[union-attr]
            self.lost()

    def _enqueue(self, rid: str, env: Envelope, timeout: float, ckey: str | None) -> None:
        """Accept and publish in one script (``gateway.enqueue``); a persistent verb's queue
        is looked up between the two, so it is accepted first (marker ``a``): a crash in
        between is answered ``not-sent`` soon, never a lost request (``envelopes.markers``)."""
        sid = self.session.sid  # type: ignore[union-attr]
        now = time.time()
        deadline = now + timeout
        marker = self.hub.atrest.marker(sid, rid, env.activity)
        markers = self.hub.outbox.markers
        lost_at = now + self.hub.settings.unsent_grace
        taken = DuplicateRequest(
            f"request id {rid} was already used in this session (its reply comes, or "
            "came, on this session)"
        )
        ttl, first = int(timeout) + 120, bool(env.platform.persistent and ckey)
        if first and not markers.accept(sid, rid, marker, ttl, deadline, lost_at, now):
            raise taken
        acceptance = Acceptance(sid, rid, marker, ttl, deadline, lost_at, now, first)
        lease: list[Any] = []
        if env.platform.persistent and ckey:
            pipe = self.hub.redis.pipeline(transaction=False)
            # Later verbs go to the node that holds the connection; a new one to the pool.
            pipe.get(keys.lease(env.platform.name, ckey))
            # Numbered per session and connection: the owner runs them in this order. Also
            # listed as pending there, so that a node taking the connection over finds it
            # if its owner dies holding it (``envelopes.markers.NUMBER``; it never
            # re-creates the hash of a session that has just expired).
            name = env.platform.name
            pipe.eval(
                NUMBER,
                2,
                keys.session(sid),
                keys.connection_pending(name, ckey, sid),
                keys.order_field(name, ckey),
                rid,
                int(MAX_VERB_TIMEOUT) + 120,
            )
            lease = pipe.execute()
        payload = {
            "session": sid,
            "request": rid,
            "verb": env.verb,
            "activity": env.activity,
            "deadline": deadline,
            "tag": tag_of(marker),  # which acceptance this task is (a resend replaces it)
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
            sent = self.hub.enqueuer.send(
                env.platform, self.hub.atrest.seal_task(payload), queue, acceptance
            )
        except Exception as exc:
            err = internal_error(log, f"enqueue to {queue} failed", exc)
            # The one answer if it was accepted; refused (``_handle_raw``) if it was not.
            if self.hub.outbox.reply(sid, rid, failure_frame(rid, err.to_dict(), env.activity)):
                return
            raise err from None
        if not sent and not first:  # (a persistent verb answered meanwhile has its answer)
            raise taken
