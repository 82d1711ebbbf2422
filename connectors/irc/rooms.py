"""A server's channel list: ``LIST`` collected within caps, then searched and paged.

    321 RPL_LISTSTART  <me> Channel :Users Name      (optional, ignored)
    322 RPL_LIST       <me> <#channel> <members> :<topic>
    323 RPL_LISTEND    <me> :End of /LIST
    263 RPL_TRYAGAIN   <me> LIST :Server load is temporarily too heavy   (no list: ``busy``)

Networks list tens of thousands of channels, so ``Collector`` keeps at most
``max_channels`` of them and ``max_bytes`` of names and topics; what is past a cap is
left out and the list says it is ``truncated``. A ``Snapshot`` is what the cache stores
(``roomcache``): its rooms most members first, then by name, with a ``version`` (when it
was fetched, in ms) that cursors carry. ``page`` answers one query from it.

A cursor is ``<version>:<offset>``. One from an older snapshot (the list was fetched again
meanwhile) goes on at its offset in the new one: the order is the same, so a page may
repeat or skip a little, but nothing fails. Pure: no socket, no Redis, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from envelopes.errors import InvalidEnvelope

from .ids import room
from .lines import Message

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Collector", "Snapshot", "page"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# InspIRCd and others put the channel's modes before the topic: "[+nt] the topic".
_MODES = re.compile(r"^\[\+[^\]]*\] ?")


@dataclass
class Collector:
    """The 322 lines of one LIST, kept within ``max_channels`` and ``max_bytes``."""

    max_channels: int
    max_bytes: int
    rooms: list[tuple[str, int, str]] = field(default_factory=list)
    size: int = 0
    seen: int = 0  # 322 lines received, kept or not
    truncated: bool = False
    busy: bool = False  # the server said "try again later" (263) instead of listing

    def take(self, msg: Message) -> None:
        if msg.command == "263":
            self.busy = True
            return
        if msg.command != "322" or len(msg.params) < 3:
            return
        self.seen += 1
        name = msg.params[1]
        members = int(msg.params[2]) if msg.params[2].isdigit() else 0
        topic = _MODES.sub("", msg.params[3]) if len(msg.params) > 3 else ""
        cost = len(name) + len(topic) + 16  # what it holds, roughly, as stored
        if len(self.rooms) >= self.max_channels or self.size + cost > self.max_bytes:
            self.truncated = True
            return
        self.size += cost
        self.rooms.append((name, members, topic))


@dataclass(frozen=True)
class Snapshot:
    version: int  # when it was fetched, epoch ms
    rooms: list[tuple[str, int, str]]  # (name, members, topic), most members first
    truncated: bool = False

    @classmethod
    def of(cls, collector: Collector, version: int) -> Snapshot:
        ordered = sorted(collector.rooms, key=lambda r: (-r[1], r[0].lower()))
        return cls(version, ordered, collector.truncated)

    def to_json(self) -> dict[str, Any]:
        return {"v": self.version, "t": self.truncated, "r": [list(r) for r in self.rooms]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        rooms = [(str(n), int(m), str(t)) for n, m, t in data["r"]]
        return cls(int(data["v"]), rooms, bool(data.get("t")))


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    _version, sep, offset = cursor.partition(":")
    if not sep or not offset.isdigit():
        raise InvalidEnvelope(
            "not a cursor of this channel list (use the `next` of a previous page)",
            path="object.cursor",
        )
    return int(offset)


def page(
    snap: Snapshot,
    server: str,
    *,
    search: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """One page of the rooms whose name or topic holds ``search`` (case-insensitive), as
    the shared channel list shape (docs/protocol.md)."""
    size = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    start = _offset(cursor)
    if search:
        needle = search.casefold()
        rooms = [r for r in snap.rooms if needle in r[0].casefold() or needle in r[2].casefold()]
    else:
        rooms = snap.rooms
    chunk = rooms[start : start + size]
    items = [
        {**room(name, server), "summary": topic, "members": members}
        for name, members, topic in chunk
    ]
    more = start + size < len(rooms)
    out: dict[str, Any] = {
        "type": "collection",
        "totalItems": len(rooms),
        "items": items,
        "next": f"{snap.version}:{start + size}" if more else None,
    }
    if snap.truncated:
        out["truncated"] = True
    return out
