"""The session's stream out to one socket: replay after a resume, then live, in order.

The pump hands every entry of the session's stream to ``SessionStream.deliver``, which
never waits: a writer thread drains a bounded queue (``sendqueue``) into the transport, so
the pump never waits on a slow client, and a client that stops reading is closed with
``BEHIND_CODE`` instead of making this process hold its events (the stream in Redis
already holds them for a resume). Replies and events share one sequence, so a resumed
session misses neither.

What the stream does not know is the transport's framing: it hands each entry's number
and frame JSON to ``Transport.send_entry`` (our WebSocket adds ``seq`` to the frame;
Socket.IO turns a reply into an ack and an event into a ``message`` emit).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol

from envelopes import keys

from .sendqueue import BEHIND, FINISHED, SendQueue
from .sessions import Session

if TYPE_CHECKING:
    from .hub import Hub

__all__ = [
    "SessionStream",
    "Transport",
    "BEHIND_CODE",
    "LOST_CODE",
    "LOST_REASON",
    "TAKEN_OVER_CODE",
    "REPLAY_PAGE",
    "missed_range",
]

log = logging.getLogger("sockethub.connection")

REPLAY_PAGE = 200  # stream entries read per round trip when a session resumes
BEHIND_CODE = 4008  # close code: the socket fell SOCKETHUB_SEND_BUFFER_BYTES behind
LOST_CODE = 4002  # close code: the session is gone from Redis (it lost its data)
TAKEN_OVER_CODE = 4001  # close code: another socket resumed this session
LOST_REASON = "session ended on the server; resume to be told, or start a new session"

ENDED_REASON = "session ended"

_TAKEN_OVER = object()


class _Close:
    """A queued item: close the socket once what was queued before it is written."""

    def __init__(self, code: int, reason: str):
        self.code, self.reason = code, reason


class Transport(Protocol):
    """What a socket adapter gives the stream. ``send_*`` raise when the socket is gone."""

    def send_text(self, text: str) -> None: ...

    def send_entry(self, seq: int, frame_json: str) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


def _seq_of(fields: dict[bytes, bytes]) -> int:
    try:
        return int(fields[b"seq"])
    except (KeyError, ValueError):
        return 0  # control entries have none (the writer reads them), damaged ones neither


def missed_range(entries: list[Any], after: int, last: int) -> dict[str, Any] | None:
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


class SessionStream:
    """One socket's view of its session's stream; what the hub attaches and detaches."""

    def __init__(self, hub: Hub, session: Session, transport: Transport, after: int = 0):
        self.hub = hub
        self.session = session
        self.transport = transport
        self.last_seq = after  # the last frame the client has, or was sent
        self._out = SendQueue(hub.settings.send_buffer_bytes)
        self._writer: threading.Thread | None = None

    @property
    def sid(self) -> str:
        return self.session.sid

    # -- what the transport calls ------------------------------------------------------
    def offer(self, text: str) -> None:
        """A frame of the transport's own (a welcome, a pong), in order with the rest."""
        self._out.offer(text)

    def start(self, replay_after: int | None) -> None:
        """Start the writer; replay what a resume missed (after ``replay_after``), then
        attach to the pump for what comes next."""
        self._writer = threading.Thread(
            target=self._write_loop, name="sockethub-writer", daemon=True
        )
        self._writer.start()
        last_id = self._replay(replay_after)
        self.hub.attach(self, last_id)

    def finish(self) -> None:
        """The socket ended: stop the writer, start the session's grace period."""
        self._out.finish()
        self.hub.detach(self)

    def end(self, text: str, code: int, reason: str) -> None:
        """Write ``text`` after what is queued, then close the socket with ``code``."""
        self._out.offer(text)
        self._out.offer(_Close(code, reason))

    def welcome_missed(self, after: int, last: int) -> dict[str, Any] | None:
        head = list(self.hub.redis.xrange(keys.session_stream(self.sid), count=REPLAY_PAGE) or [])
        return missed_range(head, after, last)

    # -- what the hub and the pump call ------------------------------------------------
    def deliver(self, fields: dict[bytes, bytes]) -> None:
        """Called by the pump for each stream entry; never waits."""
        self._out.offer(fields)

    def close(self, code: int, reason: str) -> None:
        self.transport.close(code, reason)

    def lost(self) -> None:
        """The session is gone from Redis: no reply can reach this socket any more. Close
        it (in the background: never in the caller's way) so the client resumes, is told
        ``session-expired`` and starts a new session."""
        threading.Thread(
            target=self.transport.close,
            args=(LOST_CODE, LOST_REASON),
            name="sockethub-lost",
            daemon=True,
        ).start()

    # -- inside ------------------------------------------------------------------------
    def _replay(self, after: int | None) -> bytes | str:
        """What a resume missed, a page at a time as the socket takes it."""
        last_id: bytes | str = "0-0"
        stream = keys.session_stream(self.sid)
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
        return last_id

    def _write_loop(self) -> None:
        while True:
            item = self._out.get()
            if item is FINISHED:
                return
            if item is BEHIND:
                self.hub.metrics.inc("sockethub_sockets_behind_total")
                self.transport.close(BEHIND_CODE, "too far behind; resume from lastSeq")
                return
            try:
                if isinstance(item, _Close):
                    self.transport.close(item.code, item.reason)
                    return
                if isinstance(item, dict):
                    try:
                        entry = self._entry(item)
                    except Exception:
                        # A damaged entry must not end this socket's writer: skip it, say so.
                        log.exception("skipping an unreadable stream entry for %s", self.sid)
                        continue
                    if entry is _TAKEN_OVER:
                        self.transport.close(TAKEN_OVER_CODE, "session resumed elsewhere")
                        return
                    if entry is None:
                        continue
                    self.transport.send_entry(*entry)
                else:
                    self.transport.send_text(item)
                self.hub.metrics.inc("sockethub_frames_sent_total")
            except Exception:
                # The socket is going away. Keep reading what the client already sent:
                # those requests still run, and their replies wait in the stream for resume.
                return

    def _entry(self, item: dict[bytes, bytes]) -> Any:
        """``(seq, frame JSON)`` for a stream entry; None to skip it; ``_TAKEN_OVER``."""
        if b"ctl" in item:
            # A later attach means another socket resumed this session.
            if int(item.get(b"gen", 0)) > self.session.gen:
                return _TAKEN_OVER
            return None
        seq = int(item[b"seq"])
        if seq <= self.last_seq:
            return None
        self.last_seq = seq
        frame = self.hub.atrest.open_frame(self.sid, item[b"f"])
        if frame is None:  # sealed under a key we cannot open: logged there, skipped here
            return None
        return seq, frame
