"""One HTTP action: a session of its own, the one pipeline, one NDJSON line per activity.

Sockethub's semantics (docs/http-actions.md): each call is its own session, which ends
when the answer is written, so credentials must come in the same call as the messages
that use them. Its credentials run first, one by one in order; then its messages are all
handed to the pipeline at once. Here the lines come in the body's order (credentials
acks first): Sockethub writes them as they complete, which is one of the orders a
Sockethub client must already accept, and the body's order lets a script pair each line
with what it sent.

Every activity goes through ``gateway.pipeline`` as a frame of our WebSocket does (rate
limit, validation, vault, marker, enqueue) and its one reply comes back through the
session's stream (``gateway.stream``), whose ``Transport`` this call is. A persistent
platform works within one call (credentials, ``connect``, ``join``, ``send``); when the
session ends, its worker closes a connection no other session shares. Events (messages
from others) have nowhere to go over HTTP and are dropped.

The call runs in its own thread, not in the response's: a client that goes away stops
the writing, not the jobs, and the answer is still kept for replay.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from envelopes.errors import FrameTooLarge, InvalidUnicode, RateLimited, SockethubError

from .frames import lone_surrogate_path
from .httpbody import CREDENTIALS, MESSAGE, UNSUPPORTED, Item, credentials_ack, error_line
from .httpreplay import Recorder
from .pipeline import HANDLE, Pipeline
from .sessions import Session
from .sioshapes import ack_payload
from .stream import SessionStream

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["HttpCall"]

log = logging.getLogger("sockethub.http")

_END = object()


class _Closed:
    def __init__(self, reason: str):
        self.reason = reason


class HttpCall:
    def __init__(
        self,
        hub: Hub,
        session: Session,
        items: list[Item],
        rid: str,
        recorder: Recorder | None,
        timeouts: tuple[float, float],
        address: str = "",
    ):
        self.hub = hub
        self.session = session
        self.items = items
        self.rid = rid
        self.recorder = recorder
        self.pipeline = Pipeline(hub, session, self._lost, address)
        self.stream = SessionStream(hub, session, self)
        self._replies: queue.Queue[Any] = queue.Queue()
        self._got: dict[str, Any] = {}
        self._out: queue.Queue[Any] = queue.Queue()
        total, self._idle = timeouts  # the call's, and without a line
        self._deadline = time.monotonic() + total
        self._last_line = time.monotonic()
        self._over: str | None = None  # why the call stopped early

    # -- what the Flask view uses ------------------------------------------------------
    def start(self) -> None:
        self.stream.start(None)
        threading.Thread(target=self._run, name="sockethub-http", daemon=True).start()

    def lines(self) -> Iterator[bytes]:
        """The answer, a line at a time, as it is written."""
        while True:
            line = self._out.get()
            if line is _END:
                return
            yield line

    # -- the Transport the stream writes to --------------------------------------------
    def send_text(self, text: str) -> None:
        pass  # our own protocol's frames: an HTTP call gets none

    def send_entry(self, seq: int, frame_json: str) -> None:
        frame = json.loads(frame_json)
        if frame.get("kind") == "reply":
            self._replies.put(frame)

    def close(self, code: int, reason: str) -> None:
        self._replies.put(_Closed(reason))

    def _lost(self) -> None:
        self._replies.put(_Closed("the session of this call ended on the server"))

    # -- inside ------------------------------------------------------------------------
    @staticmethod
    def _id(item: Item) -> str:
        return f"h{item.index}"

    def _run(self) -> None:
        try:
            for item in (i for i in self.items if i.kind == CREDENTIALS):
                self._submit(item)
                frame = self._wait(item)
                if frame is None:
                    return
                failed = frame.get("status") == "failed"
                error = str((frame.get("error") or {}).get("message") or "failed")
                self._emit(credentials_ack(item.value, error if failed else None, self.rid))
            rest = [i for i in self.items if i.kind != CREDENTIALS]
            for item in rest:
                if item.kind == MESSAGE:
                    self._submit(item)
            for item in rest:
                if item.kind == UNSUPPORTED:
                    self._emit(error_line("unsupported payload type", self.rid))
                    continue
                frame = self._wait(item)
                if frame is None:
                    return
                self._emit(ack_payload(frame, item.value))
        except Exception:
            log.exception("HTTP action %s failed", self.rid)
            self._emit(error_line("internal error (see the gateway's log)", self.rid))
        finally:
            self._finish()

    def _submit(self, item: Item) -> None:
        rid, activity = self._id(item), item.value
        try:
            if self.pipeline.charge() != HANDLE:
                s = self.hub.settings
                raise RateLimited(
                    f"more than {s.rate_limit:g} requests per second (burst {s.rate_burst}): "
                    "this activity was not handled, slow down"
                )
            self._check(activity)
        except SockethubError as exc:
            self.pipeline.refuse(rid, exc, activity)
            return
        self.pipeline.submit(rid, activity)

    def _check(self, activity: Any) -> None:
        """What our frame parser checks of a raw frame, for an activity of the body."""
        size = len(json.dumps(activity, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        cap = self.hub.settings.max_frame_bytes
        if size > cap:
            raise FrameTooLarge(
                f"activity of {size} bytes is over the limit of {cap} bytes "
                "(SOCKETHUB_MAX_FRAME_BYTES)"
            )
        path = lone_surrogate_path(activity)
        if path is not None:
            raise InvalidUnicode(
                f"{path or 'activity'} holds a lone UTF-16 surrogate (such as \\ud800), which "
                "is not a character; send valid Unicode text",
                path=path,
            )

    def _wait(self, item: Item) -> dict[str, Any] | None:
        """The reply to ``item``; None once the call is over (its last line written)."""
        want = self._id(item)
        while want not in self._got:
            now = time.monotonic()
            idle_at = self._last_line + self._idle
            wait = min(self._deadline, idle_at) - now
            if wait <= 0:
                total = self._deadline <= idle_at
                self._stop("request timeout" if total else "request idle timeout")
                return None
            try:
                got = self._replies.get(timeout=wait)
            except queue.Empty:
                continue
            if isinstance(got, _Closed):
                self._stop(got.reason)
                return None
            self._got[str(got.get("id"))] = got
        frame: dict[str, Any] = self._got.pop(want)
        return frame

    def _stop(self, reason: str) -> None:
        self._over = reason
        self._emit(error_line(reason, self.rid))

    def _emit(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        self._last_line = time.monotonic()
        if self.recorder is not None:
            try:
                self.recorder.add(text)
            except Exception:
                log.warning("could not keep a line of HTTP action %s", self.rid, exc_info=True)
                self.recorder = None  # not replayable: it will not be marked complete
        self._out.put((text + "\n").encode())

    def _finish(self) -> None:
        try:
            self.stream.finish()
            self.hub.sessions.end(self.session.sid, tuple(self._id(i) for i in self.items))
            if self.recorder is not None:
                self.recorder.complete()
        except Exception:
            log.warning("could not end HTTP action %s cleanly", self.rid, exc_info=True)
        finally:
            self._out.put(_END)
