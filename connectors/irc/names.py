"""NAMES replies (353 until 366) → one ``query`` activity with the room's members.

Pure, like ``translate``, which calls these. ``roles`` keeps each member's highest role;
with IRCv3 ``multi-prefix`` a member's every role is listed (``allRoles``, for those with
more than one), with ``userhost-in-names`` their ``user@host`` (``hosts``); ``away`` names
members known to be away (``people``). Entries wait in the ``IrcContext`` until 366.
"""

from __future__ import annotations

from typing import Any

from ..session.activity import activity
from .context import ROLE_BY_MODE, IrcContext
from .ids import person, room
from .lines import Message
from .numerics import IrcError

__all__ = ["rpl_endofnames", "rpl_namreply"]

Result = dict[str, Any] | IrcError


def _role_of(entry: str, ctx: IrcContext) -> tuple[str, list[str], str]:
    """A NAMES entry → (nick, roles highest first, "user@host" or ""): multi-prefix lists
    every symbol, userhost-in-names gives ``nick!user@host``."""
    rest = entry.lstrip("".join(ctx.prefixes))
    symbols = entry[: len(entry) - len(rest)]
    roles = [ROLE_BY_MODE.get(ctx.prefixes[s], "member") for s in symbols] or ["member"]
    nick, _, host = rest.partition("!")
    return nick, roles, host


def rpl_namreply(msg: Message, ctx: IrcContext) -> list[Result]:  # 353
    if len(msg.params) < 3:
        return []
    # RFC 2812: "<me> <=|*|@> <channel> :names"; RFC 1459 servers omit the symbol.
    channel, entries = msg.params[-2], msg.params[-1]
    _, roles = ctx.names.setdefault(ctx.fold(channel), (channel, {}))
    extras = ctx.name_extras.setdefault(ctx.fold(channel), {})
    for entry in entries.split():
        nick, all_roles, host = _role_of(entry, ctx)
        if nick:
            roles[nick] = all_roles[0]
            if len(all_roles) > 1 or host:
                extras[nick] = (all_roles, host)
    return []


def rpl_endofnames(msg: Message, ctx: IrcContext) -> list[Result]:  # 366
    if len(msg.params) < 2:
        return []
    channel = msg.params[1]
    if channel == "*":  # end of a NAMES for every channel: close them all
        keys = list(ctx.names)
    else:
        keys = [ctx.fold(channel)]
    out: list[Result] = []
    for key in keys:
        spelled, roles = ctx.names.pop(key, (channel, {}))
        extras = ctx.name_extras.pop(key, {})
        obj: dict[str, Any] = {"type": "attendance", "members": list(roles), "roles": dict(roles)}
        # Only what the server told: every role (multi-prefix), hosts (userhost-in-names),
        # who is away (away-notify, 301, WHO).
        if every := {n: r for n, (r, _h) in extras.items() if len(r) > 1}:
            obj["allRoles"] = every
        if hosts := {n: h for n, (_r, h) in extras.items() if h}:
            obj["hosts"] = hosts
        if away := {n: t for n in roles if (t := ctx.away_of(n)) is not None}:
            obj["away"] = away
        us = person(ctx.nick, ctx.server)
        when = msg.tags.get("time")
        out.append(activity("irc", "query", room(spelled, ctx.server), us, obj, when))
    return out
