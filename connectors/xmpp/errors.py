"""XMPP error stanzas, stream errors and SASL failures → ``envelopes.errors``.

An error stanza (RFC 6120 §8.3) carries a type (``auth``, ``cancel``, ``continue``,
``modify``, ``wait``) and one defined condition. The connector fails the request that
caused it with ``XmppError.exception()``, whose ``code`` is the tree's class code
(``refused``, ``not-found``, ...) and whose ``details`` carry the condition itself
(``{"condition": "forbidden", "platform": "xmpp", "type": "auth", ...}``), or, when no
request is waiting, tells the browser in an ``error`` event.

    stanza condition (RFC 6120 §8.3.3)                 error class (code)
    not-authorized (while logging in)                  AuthenticationFailed (auth-failed)
    item-not-found, remote-server-not-found,
    recipient-unavailable, gone                        NotFound (not-found)
    any condition of type "wait"                       UpstreamError (upstream-error)
    everything else                                    Refused (refused)

    stream error (RFC 6120 §4.9.3)                     error class (code)
    conflict (another client took our resource),
    the ones in PERMANENT_STREAM_ERRORS                Refused (refused)
    any other                                          UpstreamUnavailable

    SASL failure (RFC 6120 §6.5)                       error class (code)
    temporary-auth-failure                             UpstreamUnavailable
    any other                                          AuthenticationFailed (auth-failed)
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
    UpstreamUnavailable,
    condition_detail,
)

__all__ = [
    "PERMANENT_STREAM_ERRORS",
    "SASL_CONDITIONS",
    "STANZAS_NS",
    "STANZA_CONDITIONS",
    "STREAM_CONDITIONS",
    "XmppError",
    "describe",
    "error_of",
    "sasl_failure",
    "stream_failure",
]

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


STANZA_CONDITIONS = frozenset(_WORDS)

# RFC 6120 §4.9.3: the conditions of a stream error.
STREAM_CONDITIONS = frozenset(
    {
        "bad-format",
        "bad-namespace-prefix",
        "conflict",
        "connection-timeout",
        "host-gone",
        "host-unknown",
        "improper-addressing",
        "internal-server-error",
        "invalid-from",
        "invalid-namespace",
        "invalid-xml",
        "not-authorized",
        "not-well-formed",
        "policy-violation",
        "remote-connection-failed",
        "reset",
        "resource-constraint",
        "restricted-xml",
        "see-other-host",
        "system-shutdown",
        "undefined-condition",
        "unsupported-encoding",
        "unsupported-feature",
        "unsupported-stanza-type",
        "unsupported-version",
    }
)

# Stream errors after which connecting again as before cannot work.
PERMANENT_STREAM_ERRORS = frozenset(
    {
        "host-unknown",
        "host-gone",
        "improper-addressing",
        "invalid-from",
        "not-authorized",
        "policy-violation",
        "unsupported-version",
    }
)

# RFC 6120 §6.5: why SASL authentication failed.
SASL_CONDITIONS = frozenset(
    {
        "aborted",
        "account-disabled",
        "credentials-expired",
        "encryption-required",
        "incorrect-encoding",
        "invalid-authzid",
        "invalid-mechanism",
        "malformed-request",
        "mechanism-too-weak",
        "not-authorized",
        "temporary-auth-failure",
    }
)


def stream_failure(cond: str, message: str) -> ConnectorError:
    """The error for a stream the server closed with ``cond`` (RFC 6120 §4.9.3)."""
    cls: type[ConnectorError] = (
        Refused if cond in PERMANENT_STREAM_ERRORS or cond == "conflict" else UpstreamUnavailable
    )
    return cls(message, details=[condition_detail("xmpp", cond, kind="stream")])


def sasl_failure(cond: str, message: str) -> ConnectorError:
    """The error for a refused login (RFC 6120 §6.5): ``temporary-auth-failure`` is worth
    another try later, every other condition needs other credentials."""
    cls: type[ConnectorError] = (
        UpstreamUnavailable if cond == "temporary-auth-failure" else AuthenticationFailed
    )
    return cls(message, details=[condition_detail("xmpp", cond, kind="sasl")])


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
        """The error for a failed reply: its class code, the condition in ``details``."""
        detail = condition_detail("xmpp", self.condition, kind="stanza", type=self.type)
        detail["stanza"] = self.kind
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
        return cls(self.message, details=[detail])


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
