"""Message carbons (XEP-0280): what the account's other resources send and receive.

With carbons enabled (``enable``, sent at every login), the server copies every chat
message another resource of ours sends (``<sent>``) or receives (``<received>``) to us,
wrapped in a XEP-0297 ``<forwarded>``. ``unwrap`` takes the copied message out; the
translator turns it into the same activity as a message we sent or received ourselves,
marked ``xmpp:carbon: sent|received``. Pure, like ``translate``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .context import XmppContext

__all__ = ["CARBONS_NS", "enable", "unwrap"]

CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"
_CLIENT = "{jabber:client}message"


def enable() -> ET.Element:
    """The payload of the ``<iq type="set">`` that turns carbons on (XEP-0280 §4)."""
    return ET.Element(f"{{{CARBONS_NS}}}enable")


def unwrap(el: ET.Element, ctx: XmppContext) -> tuple[str, ET.Element | None] | None:
    """``(direction, copied message)`` for a carbon, ``None`` for any other message.

    A carbon that does not come from our own bare JID is a forgery (XEP-0280 §11: anyone
    can send us a ``<sent>`` claiming we said something): it gives ``(direction, None)``,
    to be dropped. A missing ``from`` is our own account (RFC 6120 §8.1.2.1)."""
    for direction in ("sent", "received"):
        wrapper = el.find(f"{{{CARBONS_NS}}}{direction}")
        if wrapper is None:
            continue
        sender = el.get("from")
        if sender and (not ctx.is_me(sender) or "/" in sender):
            return direction, None
        return direction, wrapper.find(f"{{{FORWARD_NS}}}forwarded/{_CLIENT}")
    return None
