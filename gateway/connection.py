"""Our own WebSocket protocol (docs/protocol.md): a thin adapter over the pipeline.

It reads frames (``hello`` first, then ``request`` and ``ping``), hands requests to
``gateway.pipeline`` and writes what ``gateway.stream`` gives it as frames with ``seq``.
The receive loop runs in the request's thread (a greenlet under gevent); the stream's
writer thread does the sending, so the pump never waits on a slow browser.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from simple_websocket import ConnectionClosed

from envelopes.errors import ClientError, SockethubError, internal_error
from envelopes.outbox import frame_with_seq

from .frames import Inbound, parse_frame, request_id_of
from .pipeline import CUT, DROP, RATE_CLOSE, Pipeline, Refused, open_session
from .push import handle_push
from .ratelimit import CLOSE
from .stream import ENDED_REASON, SessionStream
from .upgrade import CLOSE_WAIT
from .wire import abort, capped

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["Connection"]

log = logging.getLogger("sockethub.connection")


class Connection:
    """One browser WebSocket; also the ``Transport`` its ``SessionStream`` writes to."""

    def __init__(self, hub: Hub, ws: Any, address: str = ""):
        self.hub = hub
        self.ws = ws
        self.address = address  # the client's, for the per-address limits
        self.pipeline: Pipeline | None = None
        self.stream: SessionStream | None = None
        self._send_lock = threading.Lock()
        self._closing = False
        self._ended = False  # an ``end`` frame came: what follows it is not handled

    @property
    def sid(self) -> str | None:
        return self.pipeline.sid if self.pipeline is not None else None

    # -- lifecycle ---------------------------------------------------------------------
    def serve(self) -> None:
        try:
            first = self.ws.receive()
            if first is None:
                return
            try:
                pending, replay_after = self._start(first)
            except Refused as refused:
                self.hub.metrics.inc("sockethub_sockets_refused_total", reason=refused.reason)
                self.close(1008, str(refused))
                return
            assert self.stream is not None
            self.stream.start(replay_after)
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

    def _start(self, first: str | bytes) -> tuple[str | bytes | None, int | None]:
        """Resume or create the session and queue the welcome; return the first frame if
        it still needs handling, and the ``lastSeq`` to replay after (a resume only)."""
        hello: Inbound | None = None
        try:
            frame = parse_frame(first, self.hub.settings.max_frame_bytes)
            if frame.kind == "hello":
                hello = frame
        except SockethubError:
            pass
        session, resume_error = open_session(
            self.hub,
            self.address,
            hello.resume if hello is not None else None,
            hello.keep if hello is not None else None,
        )
        self.pipeline = Pipeline(self.hub, session, self._lost, self.address)
        after = 0
        replay_after = None
        if session.resumed and hello is not None:
            try:
                after = int(hello.resume.get("lastSeq") or 0)
            except (TypeError, ValueError):
                after = 0
            replay_after = after
        self.stream = SessionStream(self.hub, session, self, after)
        if hello is not None and self.pipeline.meter.charge() == CLOSE:
            raise Refused(RATE_CLOSE, "rate-limited")
        welcome = self.hub.welcome(session, resume_error)
        if replay_after is not None:
            missed = self.stream.welcome_missed(after, int(welcome["lastSeq"]))
            if missed is not None:
                welcome["missed"] = missed
        self.stream.offer(json.dumps(welcome))
        self.hub.metrics.inc(
            "sockethub_sessions_resumed_total"
            if session.resumed
            else "sockethub_sessions_started_total"
        )
        log.info("session %s %s", session.sid, "resumed" if session.resumed else "started")
        return (None if hello is not None else first), replay_after

    def _end(self) -> None:
        """The ``end`` frame: the session ends now (its keys go, the workers release its
        upstream connections); the browser is told, then the socket closes (1000)."""
        assert self.pipeline is not None and self.stream is not None
        sid = self.pipeline.sid
        self._ended = True
        self.hub.sessions.end(sid, every=True)
        self.hub.metrics.inc("sockethub_sessions_ended_total")
        log.info("session %s ended by its browser", sid)
        self.stream.end(json.dumps({"kind": "ended", "session": sid}), 1000, ENDED_REASON)

    def _finish(self) -> None:
        self._closing = True
        if self.pipeline is not None:
            self.pipeline.flush()
        if self.stream is not None:
            self.stream.finish()

    def _lost(self) -> None:
        if self.stream is not None:
            self.stream.lost()

    # -- the Transport the stream writes to --------------------------------------------
    def send_text(self, text: str) -> None:
        with self._send_lock:
            self.ws.send(text)

    def send_entry(self, seq: int, frame_json: str) -> None:
        self.send_text(frame_with_seq(seq, frame_json))

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

    # -- incoming ----------------------------------------------------------------------
    def _handle_raw(self, raw: str | bytes) -> None:
        pipeline = self.pipeline
        assert pipeline is not None and self.stream is not None
        rid = None
        if self._ended:
            return
        try:
            verdict = pipeline.charge()
            if verdict in (DROP, CUT):
                if verdict == CUT:
                    self.close(1008, RATE_CLOSE)
                return
            frame = parse_frame(raw, self.hub.settings.max_frame_bytes)
            rid = frame.id
            if frame.kind == "ping":
                self.stream.offer('{"kind":"pong"}')
            elif frame.kind == "end":
                self._end()
            elif frame.kind == "hello":
                raise ClientError("hello is only accepted as the first frame", code="invalid-frame")
            elif frame.kind == "push":
                assert rid is not None
                pipeline.answer(handle_push(self.hub, pipeline.sid, rid, frame.push))
            else:
                assert rid is not None
                pipeline.submit(rid, frame.activity)
        except SockethubError as exc:
            if rid is None:
                rid = request_id_of(raw)
            pipeline.refuse(rid, exc, None)
        except Exception as exc:
            pipeline.refuse(
                rid, internal_error(log, "unexpected error handling a frame", exc), None
            )
