"""XMPP error stanzas → ``XmppError`` → ``envelopes.errors``.

An error stanza (RFC 6120 §8.3) carries a type (``auth``, ``cancel``, ``continue``,
``modify``, ``wait``) and one defined condition. The connector fails the request that
caused it with ``XmppError.exception()``, whose ``code`` is the condition itself
(``forbidden``, ``registration-required``, ``item-not-found``, ...), or, when no request
is waiting, tells the browser in an ``error`` event.

    condition                                          error class
    not-authorized (while logging in)                  AuthenticationFailed
    item-not-found, remote-server-not-found,
    recipient-unavailable, gone                        NotFound
    any condition of type "wait"                       UpstreamError (transient)
    everything else                                    Refused
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from envelopes.errors import (
    AuthenticationFailed,
    ConnectorError,
    NotFound,
    Refused,
    UpstreamError,
)

__all__ = ["STANZAS_NS", "XmppError", "error_of", "describe"]

STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"

_NOT_FOUND = {"item-not-found", "remote-server-not-found", "recipient-unavailable", "gone"}

# In a person's words; the condition names alone are terse.
_WORDS = {
    "bad-request": "the request was malformed",
    "conflict": "that name is already taken",
    "feature-not-implemented": "not supported there",
    "forbidden": "you are not allowed to do that",
    "gone": "that address no longer exists",
    "internal-server-error": "the server failed",
    "item-not-found": "no such room or address",
    "jid-malformed": "the address is not valid",
    "not-acceptable": "not accepted (are you in the room?)",
    "not-allowed": "not allowed",
    "not-authorized": "not authorized",
    "policy-violation": "refused by the server's policy",
    "recipient-unavailable": "the recipient is not available",
    "redirect": "the address has moved",
    "registration-required": "members only: you must be registered",
    "remote-server-not-found": "no such server",
    "remote-server-timeout": "the remote server did not answer",
    "resource-constraint": "the server is too busy",
    "service-unavailable": "no such service or user",
    "subscription-required": "a subscription is required",
    "undefined-condition": "an unspecified error",
    "unexpected-request": "not expected now",
}


@dataclass(frozen=True)
class XmppError:
    """An error stanza: what went wrong, where, and for which of our stanzas."""

    condition: str  # RFC 6120 §8.3.3, e.g. "forbidden"
    kind: str  # the stanza it came in: "message", "presence" or "iq"
    type: str = "cancel"  # RFC 6120 §8.3.2
    sender: str = ""  # the "from" of the error stanza (the room, the contact)
    stanza_id: str = ""  # the id of our stanza that failed
    text: str = ""  # the server's own words, if any
    by: str = ""  # who generated it

    @property
    def message(self) -> str:
        where = f" ({self.sender})" if self.sender else ""
        words = _WORDS.get(self.condition, self.condition)
        text = f": {self.text}" if self.text else ""
        return f"{self.condition}{where}: {words}{text}"

    def exception(self, *, login: bool = False) -> ConnectorError:
        """The error for a failed reply, with the condition as its code and in ``details``."""
        detail = {"xmpp": self.condition, "type": self.type, "stanza": self.kind}
        if self.sender:
            detail["from"] = self.sender
        cls: type[ConnectorError]
        if login and self.condition == "not-authorized":
            cls = AuthenticationFailed
        elif self.condition in _NOT_FOUND:
            cls = NotFound
        elif self.type == "wait":
            cls = UpstreamError
        else:
            cls = Refused
        return cls(self.message, code=self.condition, details=[detail])


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def describe(condition: str) -> str:
    return _WORDS.get(condition, condition)


def error_of(stanza: ET.Element) -> XmppError | None:
    """The ``XmppError`` of an error stanza, ``None`` for any other stanza."""
    if stanza.get("type") != "error":
        return None
    kind = _local(stanza.tag)[1]
    condition, text, etype, by = "undefined-condition", "", "cancel", ""
    for child in stanza:
        if _local(child.tag)[1] != "error":
            continue
        etype = child.get("type") or etype
        by = child.get("by") or ""
        for part in child:
            ns, name = _local(part.tag)
            if ns != STANZAS_NS:
                continue  # an application-specific condition (RFC 6120 §8.3.4)
            if name == "text":
                text = (part.text or "").strip()
            else:
                condition = name
        break
    return XmppError(
        condition, kind, etype, stanza.get("from") or "", stanza.get("id") or "", text, by
    )
