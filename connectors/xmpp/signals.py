"""Body-less chat signals: delivery receipts (XEP-0184) and chat states (XEP-0085).

One AS2 shape each, meant for every platform that has them (IRC's ``+typing`` tag is a
chat state too, docs/protocol.md), the same in a request and in an event::

    typing   object {type: typing, state: active|composing|paused|inactive|gone}
    receipt  object {type: receipt, id: <the message's id>, status: delivered}
             (``status: read`` is a XEP-0333 marker, read in ``references``)

``read`` translates a received message's signal into that object (or None); the stanzas
that send one are built in ``outbound``. Pure, like ``translate``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

__all__ = ["CHAT_STATES", "CHATSTATES_NS", "HINTS_NS", "RECEIPTS_NS", "read"]

CHATSTATES_NS = "http://jabber.org/protocol/chatstates"
RECEIPTS_NS = "urn:xmpp:receipts"
HINTS_NS = "urn:xmpp:hints"
CHAT_STATES = ("active", "composing", "paused", "inactive", "gone")  # XEP-0085 §2


def read(el: ET.Element) -> tuple[str, dict[str, Any]] | None:
    """``(verb, object)`` for the signal a body-less message carries, else None. A receipt
    names the message it acknowledges (XEP-0184 §5.2 ``<received id/>``)."""
    received = el.find(f"{{{RECEIPTS_NS}}}received")
    if received is not None and received.get("id"):
        return "receipt", {"type": "receipt", "id": received.get("id"), "status": "delivered"}
    for state in CHAT_STATES:
        if el.find(f"{{{CHATSTATES_NS}}}{state}") is not None:
            return "typing", {"type": "typing", "state": state}
    return None
