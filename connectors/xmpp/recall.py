"""What one XMPP connection remembers of recent messages, bounded, oldest forgotten first.

Replies, reactions and retraction name another message, and the XEPs want a particular
id for it: in a room the id the room gave it (its XEP-0359 ``<stanza-id>``, XEP-0461 §3,
XEP-0444 §3.2, XEP-0424 §5), elsewhere the message's own id. The browser knows a
message by the ``object.id`` of its ``send`` event, so each message seen is kept here by
both ids: ``lookup`` turns either into the remembered message. Reactions need more
memory still: XEP-0444 sends a sender's whole set for a message each time, so we keep our
own set (to send it with one change) and the last set seen from each sender (to turn the
next into the changes). All of it is bounded by ``SOCKETHUB_XMPP_MAX_REMEMBERED_MESSAGES``.
Asyncio-free and pure: the translator and the connector call it on the loop.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Recall", "Remembered"]

EXCERPT = 100  # characters of a message kept for a reply's fallback quote (XEP-0461 §5)


@dataclass(frozen=True, slots=True)
class Remembered:
    id: str  # the message's own id (the browser's object.id), or its stanza-id if none
    stanza_id: str  # the room's (or our archive's) XEP-0359 id, "" when unknown
    author: str  # a bare JID, or the occupant JID in a room
    excerpt: str
    ours: bool  # sent by this account (any of its resources)


class _Bounded(OrderedDict[tuple[str, ...], object]):
    def __init__(self, bound: int):
        super().__init__()
        self.bound = max(1, bound)

    def put(self, key: tuple[str, ...], value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.bound:
            self.popitem(last=False)


class Recall:
    def __init__(self, bound: int = 300, max_reactions: int = 50):
        self.max_reactions = max_reactions  # distinct emojis kept in one set
        self._messages = _Bounded(bound)  # (conversation, id) → Remembered
        self._ours = _Bounded(bound)  # (conversation, target) → our reaction set
        self._theirs = _Bounded(bound)  # (conversation, sender, target) → their last set

    def add(
        self,
        conversation: str,
        mid: str,
        stanza_id: str,
        author: str,
        text: str,
        ours: bool,
    ) -> None:
        key = mid or stanza_id
        if not key:
            return
        # One string per conversation and author, not one per message (they repeat).
        conversation, author = sys.intern(conversation), sys.intern(author)
        entry = Remembered(key, stanza_id, author, text[:EXCERPT], ours)
        self._messages.put((conversation, key), entry)
        if stanza_id and stanza_id != key:
            self._messages.put((conversation, "\0sid", stanza_id), entry)

    def lookup(self, conversation: str, any_id: str) -> Remembered | None:
        """The message named by its own id or by its stanza-id in ``conversation``."""
        found = self._messages.get((conversation, any_id)) or self._messages.get(
            (conversation, "\0sid", any_id)
        )
        return found if isinstance(found, Remembered) else None

    def known_as(self, conversation: str, any_id: str) -> str:
        """The id the browser knows the message by: its own id when we saw it."""
        found = self.lookup(conversation, any_id)
        return found.id if found is not None else any_id

    # -- reactions (XEP-0444) --------------------------------------------------------------
    def our_set(self, conversation: str, target: str) -> list[str]:
        got = self._ours.get((conversation, target))
        return list(got) if isinstance(got, list) else []

    def set_ours(self, conversation: str, target: str, emojis: list[str]) -> None:
        self._ours.put((conversation, target), list(emojis))

    def diff_theirs(
        self, conversation: str, sender: str, target: str, emojis: list[str]
    ) -> tuple[list[str], list[str]]:
        """``(added, removed)`` against the last set seen from ``sender`` for ``target``
        (first sight: all added), remembering ``emojis`` as the new one."""
        key = (conversation, sender, target)
        before = self._theirs.get(key)
        old = list(before) if isinstance(before, list) else []
        self._theirs.put(key, list(emojis))
        return [e for e in emojis if e not in old], [e for e in old if e not in emojis]
