"""A person's profile: ``WHOIS <nick>`` and the numerics that answer it (RFC 2812 §3.6.2,
§5.1), read into the shared profile shape (docs/protocol.md)::

    311 RPL_WHOISUSER      <me> <nick> <user> <host> * :<real name>  name, host, realName
    312 RPL_WHOISSERVER    <me> <nick> <server> :<info>              server
    317 RPL_WHOISIDLE      <me> <nick> <seconds> <signon> :...        idle
    319 RPL_WHOISCHANNELS  <me> <nick> :@#a +#b                       rooms (ids)
    301 RPL_AWAY           <me> <nick> :<message>                     away
    330 RPL_WHOISACCOUNT   <me> <nick> <account> :is logged in as     account
    318 RPL_ENDOFWHOIS     <me> <nick> :End of /WHOIS list            (the end)
    401 ERR_NOSUCHNICK     <me> <nick> :No such nick                  not-found

Only what the server gave is in the result. With labels (``ask``) the answer is what the
server marked; without, the numerics above naming the nick, until its 318.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ask import END, TAKE, ask
from .context import IrcContext
from .ids import room
from .lines import Message
from .numerics import IrcError, numeric_error

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["WHOIS_NUMERICS", "profile", "whois"]

WHOIS_NUMERICS = frozenset(
    {"301", "307", "310", "311", "312", "313", "317", "319", "320", "330", "338", "378", "671"}
)


def profile(lines: list[Message], nick: str, ctx: IrcContext) -> dict[str, Any]:
    """The profile in ``lines``, the answer to ``WHOIS nick``; raises ``NotFound``
    (condition ``no-such-nick``) when the server knows no such nick."""
    out: dict[str, Any] = {"type": "profile", "name": nick}
    rooms: list[str] = []
    found = False
    for msg in lines:
        p = msg.params
        if msg.command == "401":
            err = numeric_error(msg, ctx.chantypes) or IrcError(
                "no-such-nick", msg.command, f"no such nick: {nick}", nick
            )
            raise err.exception()
        if len(p) < 3:
            continue
        if msg.command == "311" and len(p) >= 6:
            found = True
            out["name"] = p[1]
            out["host"] = f"{p[2]}@{p[3]}"
            if p[5]:
                out["realName"] = p[5]
        elif msg.command == "312":
            out["server"] = p[2]
        elif msg.command == "317" and p[2].isdigit():
            out["idle"] = int(p[2])
        elif msg.command == "319":
            symbols = "".join(ctx.prefixes)
            for entry in p[-1].split():
                name = entry.lstrip(symbols)
                if name:
                    rooms.append(room(name, ctx.server)["id"])
        elif msg.command == "301":
            out["away"] = p[-1]
        elif msg.command == "330" and len(p) >= 4:
            out["account"] = p[2]
    if not found:
        raise IrcError("no-such-nick", "", f"no such nick: {nick}", nick).exception()
    if rooms:
        out["rooms"] = rooms
    return out


async def whois(up: IrcUpstream, nick: str, timeout: float) -> dict[str, Any]:
    """``WHOIS nick`` on ``up``: the profile, or ``NotFound``."""
    folded = up.ctx.fold(nick)
    lines: list[Message] = []
    cap = max(1, min(up.settings.irc_max_reply_lines, 100_000))

    def fallback(msg: Message, results: list[Any]) -> Any:
        for r in results:
            if isinstance(r, IrcError) and r.target and up.ctx.fold(r.target) == folded:
                return r  # 401: no such nick
        if len(msg.params) < 2 or up.ctx.fold(msg.params[1]) != folded:
            return None
        if msg.command == "318":
            return END
        if msg.command in WHOIS_NUMERICS and len(lines) < cap:
            return TAKE
        return None

    await ask(
        up,
        f"WHOIS {nick}",
        f"WHOIS {nick}",
        timeout,
        take=lines.append,
        fallback=fallback,
        max_lines=cap,
    )
    return profile(lines, nick, up.ctx)
