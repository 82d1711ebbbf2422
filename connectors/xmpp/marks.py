"""What one XMPP connection remembers of the messages it delivered, to close a gap later.

Kept in the process's ``Memory`` (it outlives the upstream of each attempt, not the
process: after a takeover by another worker the new node starts without it), small and
bounded:

- ``own``: the last message seen from our account's archive (its stanza-id, stamped by
  our server, XEP-0359, and its time): one MAM query ``after`` it covers every chat;
- ``rooms``: the same per room (the room stamps its messages), for at most ``MAX_ROOMS``;
- ``chats``: the last ``MAX_CHATS`` people we chatted with, to name them in a ``gap``
  event when our account's archive cannot be read;
- ``recent``: the last stanza-ids delivered (``MAX_RECENT``), so a message delivered both
  live and from the archive (a race at the reconnect) reaches the browser once;
- ``ids``: our event ids (``object.id``) → the archive's ids, for paging by the ids
  events carry (``MAX_IDS``).

Asyncio only (the loop's thread).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ids import fold

__all__ = ["Mark", "Marks", "iso", "MAX_CHATS", "MAX_IDS", "MAX_RECENT", "MAX_ROOMS"]

MAX_ROOMS = 1000
MAX_CHATS = 100
MAX_RECENT = 512
MAX_IDS = 1000


def iso(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@dataclass
class Mark:
    stanza_id: str
    at: str  # ISO time of that message


def _put(table: OrderedDict[str, Any], key: str, value: Any, cap: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > cap:
        table.popitem(last=False)


@dataclass
class Marks:
    own: Mark | None = None
    rooms: OrderedDict[str, Mark] = field(default_factory=OrderedDict)
    chats: OrderedDict[str, str] = field(default_factory=OrderedDict)  # fold → bare JID
    recent: OrderedDict[str, None] = field(default_factory=OrderedDict)
    ids: OrderedDict[str, str] = field(default_factory=OrderedDict)

    @staticmethod
    def archive_of(event: dict[str, Any], me: str) -> str:
        """Whose archive holds a ``send`` event: the room's, or our own."""
        target = event.get("target") or {}
        return str(target["id"]) if target.get("type") == "room" else me

    def delivered(self, event: dict[str, Any], me: str) -> bool:
        """Note a ``send`` about to be delivered; False if it already was (same archive id)."""
        obj = event.get("object") or {}
        archive = self.archive_of(event, me)
        room = archive != me
        if not room:
            actor, target = event.get("actor") or {}, event.get("target") or {}
            other = target if fold(str(actor.get("id", ""))) == fold(me) else actor
            peer = str(other.get("id", "")).partition("/")[0]
            if peer:
                _put(self.chats, fold(peer), peer, MAX_CHATS)
        sid = obj.get("xmpp:stanza-id")
        if not sid:
            return True  # no archive id: nothing to recognise it by later
        key = f"{fold(archive)} {sid}"
        if key in self.recent:
            return False
        _put(self.recent, key, None, MAX_RECENT)
        if obj.get("id"):
            _put(self.ids, f"{fold(archive)} {obj['id']}", str(sid), MAX_IDS)
        mark = Mark(str(sid), str(event.get("published") or iso()))
        if room:
            _put(self.rooms, fold(archive), mark, MAX_ROOMS)
        else:
            self.own = mark
        return True

    def archive_id(self, archive: str, event_id: str) -> str:
        """The archive's id of the message our events call ``event_id`` (unknown: the id
        as given, which may be an archive id already)."""
        return self.ids.get(f"{fold(archive)} {event_id}", event_id)

    def remember_ids(self, archive: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            obj = item.get("object") or {}
            if obj.get("id") and obj.get("xmpp:stanza-id"):
                _put(self.ids, f"{fold(archive)} {obj['id']}", str(obj["xmpp:stanza-id"]), MAX_IDS)

    def mark_of(self, archive: str, me: str) -> Mark | None:
        return self.own if fold(archive) == fold(me) else self.rooms.get(fold(archive))
