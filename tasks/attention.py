"""What a published message means for its person: unread counts, and maybe a Web Push.

Called by the publisher thread (``tasks/fanout.py``) for each batch of a connection's
events, before they are written to the sessions' streams (so a tab that reads the
message and marks it read at once finds it already counted). For each incoming message
(a ``send`` event of someone else, ``message`` or ``me``):

- it is counted unread in its conversation (``tasks/marks.py``): a room by the room's id,
  a direct message by the sender's id;
- a direct message to us, or a room message whose text names our nick as a word, is
  offered to the pusher (``tasks/pusher.py``) for every session on the connection; the
  pusher sends only to sessions detached when the window closes.

Best effort: a failure here is logged and the events still go out, never twice counted
(the item remembers it was seen).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from envelopes.outbox import Outbox
from envelopes.pushsubs import PushSubscriptions
from envelopes.settings import Settings

from .marks import Incoming, Marks
from .publisher import Item
from .pusher import Pending, Pusher

__all__ = ["Attention", "conversation_of", "mentions"]

log = logging.getLogger("sockethub.attention")

# (connection key) → our own (person id, nick) there, or None if not known here
Identity = Callable[[str], tuple[str, str] | None]
_KINDS = ("message", "me")
_WORD = r"[\w\[\]\\`^{}|-]"  # what may continue a nick (IRC nicks have these)


def mentions(content: str, nick: str) -> bool:
    """``nick`` appears in ``content`` as a word of its own, any case."""
    if not nick:
        return False
    pattern = rf"(?<!{_WORD}){re.escape(nick)}(?!{_WORD})"
    return re.search(pattern, content, re.IGNORECASE) is not None


def conversation_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The conversation an incoming ``send`` belongs to: its room, or its sender for a
    direct message; None if it is not one."""
    target, actor = activity.get("target"), activity.get("actor")
    if not isinstance(target, dict) or not isinstance(actor, dict):
        return None
    who = target if target.get("type") == "room" else actor
    out = {"id": str(who.get("id", "")), "type": str(who.get("type", ""))}
    if who.get("name"):
        out["name"] = str(who["name"])
    return out if out["id"] else None


def _preview_text(obj: dict[str, Any]) -> str:
    """A push's preview: the message's text, or the name of the file it links to."""
    attachment = obj.get("attachment")
    if not obj.get("content") and isinstance(attachment, dict):
        return str(attachment.get("name") or attachment.get("url") or "")
    return str(obj.get("content") or "")


class Attention:
    def __init__(self, marks: Marks, pusher: Pusher | None, identity: Identity):
        self.marks = marks
        self.pusher = pusher
        self.identity = identity

    @classmethod
    def build(
        cls, platform: str, settings: Settings, redis: Any, outbox: Outbox, identity: Identity
    ) -> Attention:
        """A persistent platform's: push only when a VAPID key is set."""
        marks = Marks(platform, redis, settings.read_markers_max, settings.read_marker_ids)
        pusher = None
        if settings.vapid_private_key:
            pusher = Pusher(settings, redis, marks, PushSubscriptions(redis, outbox.sealer))
        return cls(marks, pusher, identity)

    def close(self) -> None:
        if self.pusher is not None:
            self.pusher.close()

    def observe(self, items: list[Item]) -> None:
        try:
            self._observe(items)
        except Exception:
            log.warning("could not count unread messages of a batch", exc_info=True)

    def _observe(self, items: list[Item]) -> None:
        found: list[tuple[Item, dict[str, Any], bool]] = []
        for item in items:
            if item.noted:
                continue
            item.noted = True
            act = item.activity
            obj = act.get("object")
            if act.get("type") != "send" or not isinstance(obj, dict):
                continue
            if obj.get("type") not in _KINDS or not isinstance(obj.get("content"), str):
                continue
            me = self.identity(item.key)
            actor = act.get("actor")
            if not isinstance(actor, dict):
                continue
            if me is not None and str(actor.get("id", "")).lower() == me[0].lower():
                continue  # our own, echoed or sent from a sibling tab
            conv = conversation_of(act)
            if conv is None:
                continue
            direct = conv["type"] != "room"
            wanted = not act.get("late") and (
                direct or (me is not None and mentions(str(obj.get("content") or ""), me[1]))
            )
            found.append((item, conv, wanted))
        if not found:
            return
        seqs = self.marks.incoming(
            [
                Incoming(i.key, c["id"], str(i.activity["object"].get("id") or ""))
                for i, c, _ in found
            ]
        )
        if self.pusher is None:
            return
        for (item, conv, wanted), seq in zip(found, seqs, strict=True):
            if not wanted:
                continue
            actor = item.activity["actor"]
            sender = {"id": str(actor.get("id", ""))}
            if actor.get("name"):
                sender["name"] = str(actor["name"])
            preview = self.pusher.preview(_preview_text(item.activity["object"]))
            for sid in item.sessions or []:
                self.pusher.offer(Pending(sid, item.key, conv, sender, preview, seq))
