"""Web Push for detached sessions: gathered per (session, conversation), sent off the loop.

``offer`` (from the publisher thread, never the loop) notes that a message calls for a
push; the first message of a conversation opens a window of ``SOCKETHUB_PUSH_COALESCE``
seconds and later ones only replace what the push will say, so a burst is one push. When
the window closes, this module's thread decides, with what Redis says *then*:

- nothing, if a socket is attached to the session again (its ``att`` is not ``0``), or if
  the conversation was read up to that message or past it (``tasks/marks.py``), from
  this or another session sharing the connection;
- else one push per subscription of the session (``envelopes/pushsubs.py``), payload JSON
  ``{sender, conversation, preview}`` and nothing more; a push service answering 404 or
  410 has forgotten the subscription, which is removed; other failures are logged.

At most ``SOCKETHUB_PUSH_PENDING_MAX`` windows are open at once; past it a new one is
not opened (logged): a push is a courtesy, the messages themselves are in the stream.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from connectors.net.webpush import GONE, Vapid, push
from envelopes import keys
from envelopes.errors import SockethubError
from envelopes.pushsubs import PushSubscriptions
from envelopes.settings import Settings

from .marks import Marks

__all__ = ["Pusher", "Pending", "PENDING_CAP", "COALESCE_CAP", "PREVIEW_CAP"]

log = logging.getLogger("sockethub.push")

PENDING_CAP = 1_000_000  # cap of SOCKETHUB_PUSH_PENDING_MAX
COALESCE_CAP = 3600.0
PREVIEW_CAP = 500


@dataclass
class Pending:
    sid: str
    key: str  # the connection
    conversation: dict[str, Any]  # {id, type, name?}
    sender: dict[str, Any]  # {id, name?}
    preview: str
    seq: int  # the latest message's (tasks/marks.py)
    due: float = field(default=0.0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Pusher:
    def __init__(self, settings: Settings, redis: Any, marks: Marks, subs: PushSubscriptions):
        self.settings = settings
        self.redis = redis
        self.marks = marks
        self.subs = subs
        self.vapid = Vapid(settings.vapid_private_key, settings.vapid_subject)
        self.window = min(max(0.0, settings.push_coalesce), COALESCE_CAP)
        self.preview_chars = min(settings.push_preview_chars, PREVIEW_CAP)
        self.max_pending = max(1, min(settings.push_pending_max, PENDING_CAP))
        self._pending: dict[tuple[str, str], Pending] = {}
        self._due: list[tuple[float, str, str]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="sockethub-push", daemon=True)
        self._thread.start()

    def preview(self, content: str) -> str:
        content = " ".join(content.split())
        if len(content) <= self.preview_chars:
            return content
        return content[: max(0, self.preview_chars - 1)] + "…" if self.preview_chars else ""

    def offer(self, item: Pending) -> None:
        lane = (item.sid, str(item.conversation.get("id")))
        with self._cond:
            had = self._pending.get(lane)
            if had is not None:  # inside the window: the push will name the latest message
                had.sender, had.preview, had.seq = item.sender, item.preview, item.seq
                return
            if len(self._pending) >= self.max_pending:
                log.warning(
                    "push skipped: %d conversations already wait for theirs "
                    "(SOCKETHUB_PUSH_PENDING_MAX)",
                    len(self._pending),
                )
                return
            item.due = time.monotonic() + self.window
            self._pending[lane] = item
            heapq.heappush(self._due, (item.due, *lane))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closing:
                    now = time.monotonic()
                    if self._due and self._due[0][0] <= now:
                        break
                    self._cond.wait(self._due[0][0] - now if self._due else None)
                if self._closing:
                    return
                _due, sid, conv = heapq.heappop(self._due)
                item = self._pending.pop((sid, conv), None)
            if item is not None:
                try:
                    self._send(item)
                except Exception:
                    log.exception("push for session %s failed", item.sid)

    def _send(self, item: Pending) -> None:
        att = self.redis.hget(keys.session(item.sid), "att")
        if att is None or _text(att) != "0":
            return  # attached again (the browser has it), or the session ended
        conv = str(item.conversation.get("id"))
        if self.marks.read_seq(item.key, [conv])[0] >= item.seq:
            log.info("no push for %s: read elsewhere", item.sid)
            return
        data = json.dumps(
            {"sender": item.sender, "conversation": item.conversation, "preview": item.preview},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        for endpoint_digest, sub in self.subs.load(item.sid):
            try:
                status = push(
                    sub,
                    data,
                    self.vapid,
                    allow_private=self.settings.allow_private_addresses,
                    timeout=self.settings.push_timeout,
                )
            except SockethubError as exc:
                log.warning("push to a subscription of %s failed: %s", item.sid, exc.message)
                continue
            if status in GONE:
                self.subs.remove(item.sid, endpoint_digest)
                log.info("push subscription of %s gone (%d): removed", item.sid, status)
            elif status >= 300:
                log.warning("push service answered %d for a subscription of %s", status, item.sid)
            else:
                log.info("pushed to a subscription of %s", item.sid)
