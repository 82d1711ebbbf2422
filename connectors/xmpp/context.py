"""What the translator remembers about one XMPP connection: who we are, and our rooms.

The connector registers a room when it sends the join presence; the translator then keeps
the room's occupants up to date from the presences the room sends (XEP-0045 §7.2.3: the
room sends every occupant's presence, then ours with status code 110), so ``attendance``
is answered from what the room told us, with roles and affiliations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ids import fold, split_jid
from .recall import Recall

__all__ = ["Occupant", "RoomState", "XmppContext"]


@dataclass
class Occupant:
    nick: str
    role: str = "participant"  # XEP-0045 §5.1: moderator, participant, visitor
    affiliation: str = "none"  # XEP-0045 §5.2: owner, admin, member, outcast, none
    jid: str = ""  # the real JID, when the room discloses it (non-anonymous rooms)
    presence: str = "online"
    status: str = ""


@dataclass
class RoomState:
    jid: str  # the room's bare JID, as we asked for it
    nick: str  # our nickname in it
    joined: bool = False  # the room confirmed our presence (status 110)
    created: bool = False  # our join created it (status 201): locked until we open it
    occupants: dict[str, Occupant] = field(default_factory=dict)
    subject: str = ""


@dataclass
class XmppContext:
    jid: str  # our bare JID
    resource: str = ""  # our bound resource, once known
    rooms: dict[str, RoomState] = field(default_factory=dict)  # fold(room) → state
    recall: Recall = field(default_factory=Recall)  # recent messages, reaction sets

    @property
    def full_jid(self) -> str:
        return f"{self.jid}/{self.resource}" if self.resource else self.jid

    def is_me(self, jid: str) -> bool:
        """Our bare JID (any of our resources)."""
        return fold(jid) == fold(self.jid)

    def is_this_session(self, jid: str) -> bool:
        parts = split_jid(jid)
        return self.is_me(jid) and parts.resource == self.resource

    def room(self, jid: str) -> RoomState | None:
        return self.rooms.get(fold(jid))

    def enter(self, jid: str, nick: str) -> RoomState:
        """Start joining ``jid`` as ``nick`` (keeps a joined room's state)."""
        state = self.rooms.get(fold(jid))
        if state is None or state.nick != nick:
            state = RoomState(jid=split_jid(jid).bare, nick=nick)
            self.rooms[fold(jid)] = state
        return state

    def forget(self, jid: str) -> None:
        self.rooms.pop(fold(jid), None)

    def joined_rooms(self) -> list[RoomState]:
        return [r for r in self.rooms.values() if r.joined]
