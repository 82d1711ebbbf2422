"""One Socket.IO client on one of our sessions: the transport its ``SessionStream`` writes to.

Requests go through the same ``Pipeline`` as our WebSocket's frames, with a request id of
our own per event (``sio1``, ``sio2``, ...: the client's ack ids are per connection and
its activity ids are optional). The one reply each request gets comes back on the
session's stream in order with the events; here it becomes the ack the client asked for,
or is dropped when it asked for none (as Sockethub drops it). Events become ``message``
pushes.

A Socket.IO client carries no resume token (Sockethub's SDK has nowhere to keep one), so
each Socket.IO connection is a new session of ours, which starts its grace period when
the client goes. What carries over a reconnect is the upstream connection, through the
credentials the SDK replays (``gateway.sioreattach``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envelopes.errors import FrameTooLarge, InvalidEnvelope, InvalidUnicode, SockethubError

from .frames import lone_surrogate_path
from .pipeline import CUT, DROP, Pipeline
from .sessions import Session
from .sioreattach import Reattach
from .sioshapes import RATE_LIMITED, ack_payload, error_ack, message_push, server_error
from .stream import SessionStream

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["SioSession", "Emitter"]

log = logging.getLogger("sockethub.sio")

# ``emit(event, payload)``, ``disconnect()``, ``drop()`` (``gateway.sio._Client``).
Emitter = Any

# After the rate limit's cut, how long the acks of requests accepted before it may take
# to arrive before the client is disconnected anyway (a Socket.IO client cannot resume
# and fetch them later, as our own client does after its 1008).
CUT_GRACE = 5.0


def _named(activity: Any) -> Any:
    """The parts of a refused activity its failure ack echoes: short ones that can be
    encoded (a lone surrogate cannot be written as UTF-8)."""
    if not isinstance(activity, dict):
        return None
    kept = {k: activity[k] for k in ("@context", "type", "id", "actor", "target") if k in activity}
    return {
        k: v
        for k, v in kept.items()
        if lone_surrogate_path(v) is None and len(json.dumps(v)) <= 2048
    }


class SioSession:
    def __init__(self, hub: Hub, session: Session, emitter: Emitter, sid: str, address: str):
        self.hub = hub
        self.sid = sid  # the Socket.IO id
        self._emitter = emitter
        self.pipeline = Pipeline(hub, session, self._lost, address)
        self.reattach = Reattach(
            hub.redis, hub.vault, hub.settings.resume_grace, session.sid, address
        )
        self.pipeline.key_sid = self.reattach.key_sid
        self.stream = SessionStream(hub, session, self)
        self._pending: dict[str, tuple[Callable[[Any], None] | None, Any]] = {}
        self._lock = threading.Lock()
        self._count = 0
        self._blocked = False  # the rate limit's error event was sent for this block
        self._cutting = False  # cut by the rate limit: disconnect once the acks are out
        self._cut_timer: threading.Timer | None = None
        self._gone = False

    def start(self) -> None:
        self.stream.start(None)

    def finish(self) -> None:
        self.pipeline.flush()
        try:
            self.reattach.release()  # the next socket of this client may take them back
        except Exception:
            log.warning("could not release the connections of %s", self.sid, exc_info=True)
        self.stream.finish()
        with self._lock:
            self._pending.clear()

    def _lost(self) -> None:
        self.stream.lost()

    # -- incoming ----------------------------------------------------------------------
    def admit(self) -> bool | str:
        """Charge one event to the session's rate limit: True to handle it; a message to
        refuse it with (the first events over the limit: their acks say so, and the first
        of a block also sends Sockethub's ``error`` event); False to drop it unanswered."""
        try:
            verdict = self.pipeline.charge()
        except SockethubError as exc:
            self.hub.metrics.inc("sockethub_refusals_total", code=exc.code)
            if not self._blocked:
                self._blocked = True
                self._emitter.emit("error", server_error(RATE_LIMITED))
            return exc.message
        if self._cutting:
            return False
        if verdict in (DROP, CUT):
            if verdict == CUT:
                self.close(1008, "rate limit exceeded for too long")
            return False
        self._blocked = False
        return True

    def request(self, event: str, activity: Any, ack: Callable[[Any], None] | None) -> None:
        """A ``credentials`` or ``message`` event: one request, one ack (if asked)."""
        with self._lock:
            self._count += 1
            rid = f"sio{self._count}"
            self._pending[rid] = (ack, activity)
        try:
            self._check(event, activity)
        except (FrameTooLarge, InvalidUnicode) as exc:
            # Echo what names the request, not the whole of it (nor what cannot be encoded).
            with self._lock:
                self._pending[rid] = (ack, _named(activity))
            self.pipeline.refuse(rid, exc, None)
            return
        except SockethubError as exc:
            self.pipeline.refuse(rid, exc, activity)
            return
        self.pipeline.submit(rid, activity)

    def _check(self, event: str, activity: Any) -> None:
        """What our frame parser checks of a raw frame, for an event Socket.IO parsed."""
        size = len(json.dumps(activity, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        cap = self.hub.settings.max_frame_bytes
        if size > cap:
            raise FrameTooLarge(f"activity of {size} bytes is over the limit of {cap} bytes")
        path = lone_surrogate_path(activity)
        if path is not None:
            raise InvalidUnicode(
                f"{path or 'activity'} holds a lone UTF-16 surrogate (such as \\ud800), which "
                "is not a character; send valid Unicode text",
                path=path,
            )
        if event == "credentials" and (
            not isinstance(activity, dict) or activity.get("type") != "credentials"
        ):
            raise InvalidEnvelope(
                "credential activity streams must have credentials set as type", path="type"
            )

    # -- the Transport the stream writes to --------------------------------------------
    def send_text(self, text: str) -> None:
        pass  # our own frames (welcome, pong): a Socket.IO client gets none

    def send_entry(self, seq: int, frame_json: str) -> None:
        frame = json.loads(frame_json)
        kind = frame.get("kind")
        if kind == "reply":
            with self._lock:
                ack, request = self._pending.pop(str(frame.get("id")), (None, None))
                last = self._cutting and not self._pending
            if ack is not None:
                ack(ack_payload(frame, request))
            if last:
                self._disconnect_now()
        elif kind == "event":
            self._emitter.emit("message", message_push(frame.get("activity")))

    def close(self, code: int, reason: str) -> None:
        """A policy close (1008: the rate limit) is a Socket.IO disconnect, after which the
        client stays away; any other (1001 shutdown, 4008 too far behind, 4002 session
        lost) drops the transport, and the client reconnects as after a network drop."""
        log.info("closing Socket.IO client %s: %s (%s)", self.sid, reason, code)
        if code != 1008:
            self._emitter.drop()
            return
        with self._lock:
            if self._cutting:
                return
            self._cutting = True
            waiting = bool(self._pending)
            if waiting:
                # Requests accepted before the cut still get their one ack each.
                self._cut_timer = threading.Timer(CUT_GRACE, self._disconnect_now)
                self._cut_timer.daemon = True
                self._cut_timer.start()
        if not waiting:
            self._disconnect_now()

    def _disconnect_now(self) -> None:
        with self._lock:
            if self._gone:
                return
            self._gone = True
            timer, self._cut_timer = self._cut_timer, None
        if timer is not None:
            timer.cancel()
        self._emitter.disconnect()

    def refuse_ack(self, ack: Callable[[Any], None] | None, activity: Any, message: str) -> None:
        if ack is not None:
            ack(error_ack(activity, message))
