"""What an IRC server may make one connection hold, and the error when it breaks a cap.

A browser chooses the server, so the server may be hostile. Each cap has a setting
(``envelopes.settings``) and breaking it is a ``ProtocolError`` naming that setting: the
connection is closed and not retried, and the browser is told why. Caps on what one line
may be are the ``reader``'s; the inbound line budget is the ``wire``'s. Open IRCv3 batches
are capped in ``batch.Batches`` (their lines are never held). Pure: no socket, no clock.
"""

from __future__ import annotations

from envelopes.errors import ProtocolError
from envelopes.settings import Settings

from .context import IrcContext
from .reader import LineTooLong

__all__ = ["caps_error", "held_error", "overflow_error"]


def held_error(ctx: IrcContext, settings: Settings, host: str) -> ProtocolError | None:
    """The cap ``ctx`` is over, if any: names of NAMES lists not yet ended (353 without
    366, an entry per list and per name), or the channels the server put us in."""
    names = sum(len(roles) + 1 for _, roles in ctx.names.values())
    if names > settings.irc_max_names:
        return ProtocolError(
            f"{host} sent more than {settings.irc_max_names} names without ending their "
            "NAMES list (353 without 366; SOCKETHUB_IRC_MAX_NAMES)"
        )
    if len(ctx.channels) > settings.irc_max_channels:
        return ProtocolError(
            f"{host} put this connection in more than {settings.irc_max_channels} channels "
            "(SOCKETHUB_IRC_MAX_CHANNELS)"
        )
    return None


def overflow_error(exc: LineTooLong, host: str) -> ProtocolError:
    tags = exc.what == "IRCv3 tags"
    setting = "SOCKETHUB_IRC_MAX_TAG_BYTES" if tags else "SOCKETHUB_IRC_MAX_LINE_BYTES"
    what = "IRCv3 tags" if tags else "a line"
    return ProtocolError(f"{host} sent {what} longer than {exc.limit} bytes ({setting})")


def caps_error(host: str, limit: int) -> ProtocolError:
    return ProtocolError(
        f"{host} sent a capability list (CAP LS) of more than {limit} entries "
        "(SOCKETHUB_IRC_MAX_CAPS)"
    )
