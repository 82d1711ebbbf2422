"""IRCv3 capabilities: which we ask for, and what the server's CAP lines change.

We ask for a capability only when the server offers it (``CAP LS 302``, IRCv3 capability
negotiation 3.2), so a server without it (ngircd, or InspIRCd without its CAP module)
sees plain RFC 2812 and nothing degrades but the feature:

- ``cap-notify``: the server tells us of capabilities it adds (``CAP NEW``, which we then
  ask for when we want them) or removes (``CAP DEL``) while we are connected;
- ``server-time``: a ``time`` tag on every line; events carry it as ``published``;
- ``message-tags``: tags on messages, the server's ``msgid`` among them (``object.id``);
- ``echo-message``: the server sends our own messages back, so a ``send`` completes when
  the server has taken the message, with its id and time, and not before;
- ``batch`` and ``labeled-response``: related lines marked as one batch, replies to a
  labelled command marked with its label: our WHOIS and LIST carry a label and their
  answers are told apart by it (``ask``, ``batch``). Lines in a batch are handled as they
  arrive: nothing is held for a batch to end;
- ``draft/message-redaction``: ``REDACT`` withdraws a message (the ``delete`` verb);
- ``away-notify``, ``account-notify``, ``account-tag``, ``extended-join``, ``chghost``,
  ``setname``, ``invite-notify``: what happens to people (away, services account, host,
  real name, invitations) arrives as it happens (``people``);
- ``multi-prefix``, ``userhost-in-names``: NAMES gives every role and each host;
- ``draft/chathistory``: the server's history of a conversation (``chathistory``).

MONITOR is no capability: the server announces it in RPL_ISUPPORT (``MONITOR=<limit>``).

``sasl`` is asked for apart from these, only when a password was given (``register``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .lines import Message

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["ASKED", "HISTORY", "PEOPLE", "WANTED", "cap_reply", "names", "on_cap", "wanted"]

WANTED = (
    "cap-notify",
    "server-time",
    "message-tags",
    "echo-message",
    "batch",
    "labeled-response",
    "draft/message-redaction",
)
# About people (connectors/irc/people.py): away state, services accounts, hosts, real names.
PEOPLE = (
    "away-notify",
    "account-notify",
    "account-tag",
    "extended-join",
    "multi-prefix",
    "userhost-in-names",
    "chghost",
    "setname",
    "invite-notify",
)
# History (connectors/irc/chathistory.py): CHATHISTORY and its batches.
HISTORY = ("draft/chathistory",)
ASKED = frozenset((*WANTED, *PEOPLE, *HISTORY, "sasl"))  # every capability we may ask for


def names(caps: Iterable[str]) -> set[str]:
    """Capability names without their 302 values (``sasl=PLAIN,EXTERNAL`` → ``sasl``)."""
    return {c.partition("=")[0] for c in caps if c}


def wanted(offered: Iterable[str]) -> list[str]:
    """What we ask for of ``offered``, in a stable order."""
    have = names(offered)
    return [c for c in (*WANTED, *PEOPLE, *HISTORY) if c in have]


def cap_reply(msg: Message) -> tuple[str, list[str]] | None:
    """``CAP <nick> <subcommand> [*] :<caps>`` → (subcommand, caps); None for other lines."""
    if msg.command != "CAP" or len(msg.params) < 3:
        return None
    return msg.params[1].upper(), msg.params[-1].split()


def on_cap(up: IrcUpstream, msg: Message) -> None:
    """Keep ``up.enabled`` up to date from ACK and DEL; ask for what ``CAP NEW`` offers."""
    reply = cap_reply(msg)
    if reply is None:
        return
    sub, caps = reply
    if sub == "ACK":
        for cap in caps:
            name = cap.removeprefix("-").partition("=")[0]
            if name not in ASKED:
                continue  # only what we ask for is held: a server cannot grow this set
            if cap.startswith("-"):
                up.enabled.discard(name)
            else:
                up.enabled.add(name)
    elif sub == "DEL":
        up.enabled -= names(caps)
    elif sub == "NEW" and up.registered:
        new = [c for c in wanted(caps) if c not in up.enabled]
        if new:
            up.raw(f"CAP REQ :{' '.join(new)}")
