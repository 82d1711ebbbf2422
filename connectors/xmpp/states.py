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

from envelopes.context import context_for

from .ids import person, service, split_jid

__all__ = ["CONNECTION_STATES", "connection_event"]

CONNECTION_STATES = ("connecting", "connected", "reconnecting", "disconnected")


def connection_event(
    state: str,
    jid: str,
    *,
    attempt: int | None = None,
    delay: float | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The event for ``state`` of the connection of the account ``jid`` (see above)."""
    if state not in CONNECTION_STATES:
        raise ValueError(f"unknown connection state {state!r}; one of {CONNECTION_STATES}")
    obj: dict[str, Any] = {"type": "connection", "state": state}
    if attempt is not None:
        obj["attempt"] = attempt
    if delay is not None:
        obj["delay"] = delay
    if reason is not None:
        obj["reason"] = reason
    return {
        "@context": context_for("xmpp"),
        "type": "disconnect" if state == "disconnected" else "connect",
        "actor": service(split_jid(jid).domain),
        "target": person(jid),
        "object": obj,
    }
