"""Numeric error replies → ``IrcError``: a stable condition and a message naming the culprit.

The connector uses these to fail the request that caused them (``IrcError.exception()``
gives the ``envelopes.errors`` error: its class code, e.g. ``refused``, is the reply's
``code``; the IRC condition and numeric are in ``details``) or, when no request is waiting,
to tell the browser in an event.

    numeric  condition              error class (code)
    401      no-such-nick           NotFound
    403/476  no-such-channel        NotFound
    404      cannot-send            Refused
    405      too-many-channels      Refused
    432      erroneous-nick         Refused
    433/436  nick-in-use            Refused
    437      nick-in-use (a nick) / channel-unavailable (a channel)   Refused
    442      not-on-channel         Refused
    464/904  auth-failed            AuthenticationFailed
    465      banned-from-server     Refused
    471      channel-full           Refused
    473      invite-only            Refused
    474      banned                 Refused
    475      bad-channel-key        Refused
    477      needs-registered-nick  Refused
    482      not-channel-operator   Refused
    734      monitor-list-full      Refused   (``people``; also our own SOCKETHUB_IRC_MAX_MONITOR)
    (none)   rejoin-failed          Refused   a channel could not be rejoined after a reconnect
    (none)   unsupported            Refused   the server lacks what a request needs (``watch``)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from envelopes.errors import (
    AuthenticationFailed,
    NotFound,
    PermanentError,
    Refused,
    condition_detail,
)

from .ids import CHANNEL_PREFIXES, is_channel
from .lines import Message

__all__ = ["CONDITIONS", "ERRORS", "IrcError", "failure", "numeric_error"]

# RFC 1459/2812 §6.1 error replies, and IRCv3 SASL's 904, that a request can run into.
ERRORS: dict[str, tuple[str, str]] = {
    "401": ("no-such-nick", "no such nick or channel: {t}"),
    "403": ("no-such-channel", "no such channel: {t}"),
    "404": ("cannot-send", "cannot send to channel {t}"),
    "405": ("too-many-channels", "cannot join {t}: you have joined too many channels"),
    "432": ("erroneous-nick", "erroneous nickname: {t}"),
    "433": ("nick-in-use", "nickname {t} is already in use"),
    "436": ("nick-in-use", "nickname collision for {t}"),
    "437": ("nick-in-use", "nickname {t} is temporarily unavailable"),
    "442": ("not-on-channel", "you are not on channel {t}"),
    "464": ("auth-failed", "the server password is incorrect"),
    "465": ("banned-from-server", "you are banned from this server"),
    "471": ("channel-full", "cannot join {t}: the channel is full (+l)"),
    "473": ("invite-only", "cannot join {t}: the channel is invite only (+i)"),
    "474": ("banned", "cannot join {t}: you are banned from it (+b)"),
    "475": ("bad-channel-key", "cannot join {t}: wrong or missing channel key (+k)"),
    "476": ("no-such-channel", "bad channel name: {t}"),
    "477": ("needs-registered-nick", "{t} requires a registered nickname"),
    "482": ("not-channel-operator", "you are not a channel operator on {t}"),
    "904": ("auth-failed", "SASL authentication failed"),
}

# Every condition an IRC error can carry (docs/protocol.md lists each under its code).
CONDITIONS = frozenset(
    {c for c, _ in ERRORS.values()}
    | {"channel-unavailable", "rejoin-failed", "monitor-list-full", "unsupported"}
)

_CLASSES: dict[str, type[PermanentError]] = {
    "auth-failed": AuthenticationFailed,
    "no-such-nick": NotFound,
    "no-such-channel": NotFound,
}


@dataclass(frozen=True)
class IrcError:
    """A numeric error reply: what went wrong, for whom, in a person's words."""

    code: str  # the IRC condition: stable, from the table above
    numeric: str  # e.g. "433"
    message: str  # ours, naming the nick or channel
    target: str | None = None  # the nick or channel the server complained about
    text: str = ""  # the server's own words

    def exception(self) -> PermanentError:
        """The error for a failed reply: a ``Refused``, ``NotFound`` or ``AuthenticationFailed``
        whose ``details`` carry ``{"condition": ..., "platform": "irc", "numeric": ...,
        "target": ...}``."""
        cls = _CLASSES.get(self.code, Refused)
        extra = {"numeric": self.numeric} if self.numeric else {}
        if self.target is not None:
            extra["target"] = self.target
        return cls(self.message, details=[condition_detail("irc", self.code, **extra)])


def failure(results: Iterable[Any], fails: Callable[[IrcError], bool]) -> IrcError | None:
    """The first error among one line's results that ``fails`` says fails a request."""
    return next((r for r in results if isinstance(r, IrcError) and fails(r)), None)


def numeric_error(msg: Message, chantypes: str = CHANNEL_PREFIXES) -> IrcError | None:
    """The ``IrcError`` for ``msg``, or ``None`` when it is not an error we know."""
    if msg.command not in ERRORS:
        return None
    code, template = ERRORS[msg.command]
    # "<me> <nick|channel> :text" for most; "<me> :text" for 464, 465 and 904.
    target = msg.params[1] if len(msg.params) > 2 else None
    text = msg.params[-1] if len(msg.params) > 1 else ""
    if msg.command == "437" and target and is_channel(target, chantypes):
        code, template = "channel-unavailable", "channel {t} is temporarily unavailable"
    return IrcError(code, msg.command, template.format(t=target or "?"), target, text)
