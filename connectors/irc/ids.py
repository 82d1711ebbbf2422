"""How IRC people, channels and servers are named in activities.

One convention, used in requests and in events alike (Sockethub mixed ``#chan@server`` in
its docs with ``server/#chan`` in its events; sockethub#1131 wanted them unified)::

    person   {"type": "person",  "id": "<nick>@<server host>",     "name": "<nick>"}
    channel  {"type": "room",    "id": "<#channel>@<server host>", "name": "<#channel>"}
    server   {"type": "service", "id": "<server host>",            "name": "<server host>"}

``<server host>`` is the host name the user connected to, as given in the credentials,
never the name the server reports for itself (a network's servers each have their own).
A channel name is kept as sent, with its ``#``, ``&``, ``+`` or ``!`` prefix.

When a request gives only an ``id``, the name is what precedes the last ``@``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHANNEL_PREFIXES",
    "casefold",
    "is_channel",
    "name_of",
    "person",
    "room",
    "service",
]

# RFC 2812 §1.3: channel names start with one of these. Servers announce their own set
# in RPL_ISUPPORT CHANTYPES; this is the default when they do not.
CHANNEL_PREFIXES = "#&+!"

_UPPER_RFC1459 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~"
_LOWER_RFC1459 = "abcdefghijklmnopqrstuvwxyz{}|^"
_FOLD = {
    "ascii": str.maketrans(_UPPER_RFC1459[:26], _LOWER_RFC1459[:26]),
    "rfc1459": str.maketrans(_UPPER_RFC1459, _LOWER_RFC1459),
    "strict-rfc1459": str.maketrans(_UPPER_RFC1459[:29], _LOWER_RFC1459[:29]),
}


def person(nick: str, server: str) -> dict[str, str]:
    return {"type": "person", "id": f"{nick}@{server}", "name": nick}


def room(channel: str, server: str) -> dict[str, str]:
    return {"type": "room", "id": f"{channel}@{server}", "name": channel}


def service(server: str) -> dict[str, str]:
    return {"type": "service", "id": server, "name": server}


def is_channel(name: str, chantypes: str = CHANNEL_PREFIXES) -> bool:
    return bool(name) and name[0] in chantypes


def casefold(name: str, casemapping: str = "rfc1459") -> str:
    """Compare nicks and channels as the server does.

    RFC 1459 §2.2: ``{}|`` are the lower case of ``[]\\`` (and ``^`` of ``~`` in the
    ``rfc1459`` mapping the servers announce in RPL_ISUPPORT CASEMAPPING).
    """
    table = _FOLD.get(casemapping.lower(), _FOLD["rfc1459"])
    return name.translate(table)


def name_of(entity: Mapping[str, Any], field: str) -> tuple[str, str]:
    """The IRC name of a request's ``actor``/``target`` and the path it was read from.

    ``name`` when given, else the ``id`` up to its last ``@`` (``#chan@host`` → ``#chan``).
    """
    name = entity.get("name")
    if isinstance(name, str) and name:
        return name, f"{field}.name"
    ident = str(entity.get("id", ""))
    head, at, _host = ident.rpartition("@")
    return (head if at else ident), f"{field}.id"
