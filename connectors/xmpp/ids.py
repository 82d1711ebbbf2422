"""How XMPP people, rooms, occupants and servers are named in activities.

One convention, in requests and in events alike (``envelopes/platforms/xmpp.py``)::

    person    {"type": "person",  "id": "<bare JID>",          "name": "<localpart>"}
    room      {"type": "room",    "id": "<room bare JID>",     "name": "<room localpart>"}
    occupant  {"type": "person",  "id": "<room JID>/<nick>",   "name": "<nick>"}
    server    {"type": "service", "id": "<domain>",            "name": "<domain>"}

JIDs are split here without a protocol library (RFC 7622 §3.1: ``[local@]domain[/resource]``).
Comparison folds the localpart and the
domain to lower case, which is what the PRECIS profiles do for the ASCII that real
deployments use; the resource is compared as is (RFC 7622 §3.4).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Jid", "split_jid", "bare", "fold", "person", "room", "occupant", "service"]


class Jid(NamedTuple):
    local: str
    domain: str
    resource: str

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def full(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource else self.bare


def split_jid(jid: str) -> Jid:
    """``local@domain/resource`` → its three parts (missing parts are empty), split as
    RFC 7622 §3.2 says: the resource after the first ``/``, the localpart before the
    first ``@`` of what remains."""
    head, slash, resource = jid.partition("/")
    local, at, domain = head.partition("@")
    if not at:
        local, domain = "", head
    return Jid(local, domain, resource if slash else "")


def bare(jid: str) -> str:
    return split_jid(jid).bare


def fold(jid: str) -> str:
    """A bare JID as compared: lower-cased localpart and domain."""
    return bare(jid).lower()


def person(jid: str) -> dict[str, str]:
    parts = split_jid(jid)
    return {"type": "person", "id": parts.bare, "name": parts.local or parts.domain}


def room(jid: str, name: str | None = None) -> dict[str, str]:
    parts = split_jid(jid)
    return {"type": "room", "id": parts.bare, "name": name or parts.local or parts.domain}


def occupant(room_jid: str, nick: str) -> dict[str, str]:
    return {"type": "person", "id": f"{bare(room_jid)}/{nick}", "name": nick}


def service(domain: str) -> dict[str, str]:
    return {"type": "service", "id": domain, "name": domain}
