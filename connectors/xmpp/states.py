"""Connection state as an event, the same shape as IRC's (``connectors/irc/states.py``)::

    {"@context": [... xmpp], "type": "connect" | "disconnect",
     "actor": {"type": "service", "id": "<domain>", "name": "<domain>"},
     "target": {"type": "person", "id": "<bare JID>", "name": "<localpart>"},
     "object": {"type": "connection",
                "state": "connecting" | "connected" | "reconnecting" | "disconnected",
                "attempt": 2, "delay": 4.0, "reason": "..."}}

``type`` is ``disconnect`` only for the final ``disconnected`` state; ``attempt``,
``delay`` and ``reason`` only when given. ``<domain>`` is the domain of the account's JID
(not the host dialled), so it stays the same whatever the SRV records say.
"""

from __future__ import annotations

from typing import Any

from ..persistent import CONNECTION_STATES
from ..persistent import connection_event as _event
from .ids import person, service, split_jid

__all__ = ["CONNECTION_STATES", "connection_event"]


def connection_event(
    state: str,
    jid: str,
    *,
    attempt: int | None = None,
    delay: float | None = None,
    reason: str | None = None,
    condition: str | None = None,
) -> dict[str, Any]:
    """The event for ``state`` of the connection of the account ``jid`` (see above)."""
    return _event(
        "xmpp",
        state,
        service(split_jid(jid).domain),
        person(jid),
        attempt=attempt,
        delay=delay,
        reason=reason,
        condition=condition,
    )
