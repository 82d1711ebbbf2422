"""The account's bookmarked rooms (XEP-0402): the query, and reading its answer.

XEP-0402 keeps each bookmark as an item of the account's PEP node
``urn:xmpp:bookmarks:1``, its id the room's JID, holding a ``<conference autojoin name>``
with an optional ``<nick>``. At every login the connector asks for them and joins those
marked ``autojoin`` (§3.3), as every other client of the account does. Pure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .ids import split_jid

__all__ = ["BOOKMARKS_NODE", "Bookmark", "bookmarks_query", "read_bookmarks"]

BOOKMARKS_NODE = "urn:xmpp:bookmarks:1"
PUBSUB = "http://jabber.org/protocol/pubsub"


@dataclass(frozen=True)
class Bookmark:
    room: str  # bare JID
    name: str
    nick: str  # "" when the bookmark names none
    autojoin: bool


def bookmarks_query() -> ET.Element:
    """The payload of the ``<iq type="get">`` to our own account (XEP-0402 §3.2)."""
    pubsub = ET.Element(f"{{{PUBSUB}}}pubsub")
    ET.SubElement(pubsub, f"{{{PUBSUB}}}items", node=BOOKMARKS_NODE)
    return pubsub


def read_bookmarks(result: ET.Element) -> list[Bookmark]:
    """The bookmarks in the iq result; items that are not a room's bare JID are skipped."""
    out = []
    for item in result.iter(f"{{{PUBSUB}}}item"):
        conf = item.find(f"{{{BOOKMARKS_NODE}}}conference")
        jid = split_jid(item.get("id") or "")
        if conf is None or not jid.local or not jid.domain or jid.resource:
            continue
        nick = (conf.findtext(f"{{{BOOKMARKS_NODE}}}nick") or "").strip()
        out.append(
            Bookmark(
                room=jid.bare,
                name=conf.get("name") or jid.local,
                nick=nick,
                autojoin=conf.get("autojoin") in ("true", "1"),  # xs:boolean
            )
        )
    return out
