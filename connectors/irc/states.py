"""Connection state as an event: what became of the browser's upstream connection.

Shape (Sockethub's XMPP sends ``{type: "connect", object: {type: "connect", status}}``
only on failure; IRC sends nothing at all, sockethub weakness (b))::

    {"@context": [... irc], "type": "connect" | "disconnect",
     "actor": {"type": "service", "id": "<server host>", "name": "<server host>"},
     "target": {"type": "person", "id": "<nick>@<server host>", "name": "<nick>"},
     "object": {"type": "connection",
                "state": "connecting" | "connected" | "reconnecting" | "disconnected",
                "attempt": 2,          # reconnecting: which try, from 1
                "delay": 4.0,          # reconnecting: seconds until that try
                "reason": "...",       # why: the server's ERROR text, a socket error
                "condition": "..."}}   # banned | throttled | too-many-connections | paced

``type`` is ``disconnect`` only for the final ``disconnected`` state; ``target`` is left
out while our nick is not known; ``attempt``, ``delay`` and ``reason`` only when given.
"""

from __future__ import annotations

from typing import Any

from ..persistent import CONNECTION_STATES
from ..persistent import connection_event as _event
from ..session.activity import error_activity
from .ids import person, service
from .numerics import IrcError

__all__ = ["CONNECTION_STATES", "connection_event", "error_event"]


def connection_event(
    state: str,
    server: str,
    nick: str | None = None,
    *,
    attempt: int | None = None,
    delay: float | None = None,
    reason: str | None = None,
    condition: str | None = None,
) -> dict[str, Any]:
    """The event for ``state`` of the connection of ``nick`` to ``server`` (see above)."""
    target = person(nick, server) if nick is not None else None
    return _event(
        "irc",
        state,
        service(server),
        target,
        attempt=attempt,
        delay=delay,
        reason=reason,
        condition=condition,
    )


def error_event(server: str, nick: str, err: IrcError) -> dict[str, Any]:
    """An ``error`` event for a numeric error nobody was waiting for."""
    return error_activity(
        "irc",
        service(server),
        person(nick, server),
        err.exception(),  # the same code and condition a failed reply would carry
        err.code,
        err.message,
        numeric=err.numeric,
    )
