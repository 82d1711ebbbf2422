"""People's online state (IRCv3 Monitor) and our own away state and real name.

``query`` with ``object {type: "presence"}`` puts a nick on the server's MONITOR list and
answers with the presence the server reports at once (730 online, 731 offline); changes
then arrive as ``update`` presence events (``people``). ``watch: false`` takes it off.
The list is bounded by the smaller of the server's ``MONITOR=<limit>`` (RPL_ISUPPORT) and
``SOCKETHUB_IRC_MAX_MONITOR``. A server without MONITOR (ngircd) refuses the request:
``refused`` with condition ``unsupported``; we do not fall back to polling with ISON.

The watch list belongs to the connection: after a reconnect it starts empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envelopes.errors import Refused, condition_detail

from .lines import Message
from .numerics import IrcError
from .outbound import monitor_line, nick_name

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["set_real_name", "unsupported", "watch"]


def unsupported(host: str, feature: str, what: str) -> Refused:
    """The refusal for a request the server offers no means for."""
    return Refused(
        f"{host} does not offer {feature}: {what} is not available on this server",
        details=[condition_detail("irc", "unsupported", feature=feature)],
    )


def _limit(up: IrcUpstream) -> tuple[int, str]:
    ours = up.settings.irc_max_monitor
    server = up.ctx.monitor or 0
    if server and server < ours:
        return server, f"the limit of {up.host} (MONITOR={server})"
    return ours, "SOCKETHUB_IRC_MAX_MONITOR"


async def watch(up: IrcUpstream, activity: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Watch (or stop watching) the person ``activity`` targets; the reply's object is
    their presence now, ``online`` or ``offline``."""
    nick = nick_name(activity)
    line = monitor_line(activity)
    if up.ctx.monitor is None:
        raise unsupported(up.host, "MONITOR", "watching whether people are online")
    ctx, key = up.ctx, up.ctx.fold(nick)
    obj: dict[str, Any] = {"type": "presence"}
    if line.startswith("MONITOR -"):
        ctx.watched.pop(key, None)
        await up.roundtrip([line], lambda _e: False, timeout)
        return {**activity, "object": {**obj, "watch": False}}
    known = ctx.watched.get(key)
    if not known:
        limit, named = _limit(up)
        if known is None and len(ctx.watched) >= limit:
            raise Refused(
                f"already watching {len(ctx.watched)} people, the most allowed ({named}): "
                "stop watching someone first (watch: false)",
                details=[condition_detail("irc", "monitor-list-full")],
            )
        ctx.watched[key] = ""

        def answered(msg: Message, results: list[Any]) -> Any:
            for r in results:
                if isinstance(r, IrcError) and r.code == "monitor-list-full":
                    return r
                if (
                    isinstance(r, dict)
                    and msg.command in ("730", "731")
                    and ctx.fold(r["actor"].get("name", "")) == key
                ):
                    return True
            return None

        try:
            await up.expect_after([line], answered, timeout, f"MONITOR {nick}")
        except BaseException:
            ctx.watched.pop(key, None)
            raise
        known = ctx.watched.get(key) or "offline"
    return {**activity, "object": {**obj, "presence": known}}


async def set_real_name(up: IrcUpstream, lines: list[str], timeout: float) -> None:
    """``SETNAME`` where the server offers IRCv3 setname, refused where it does not."""
    if "setname" not in up.enabled:
        raise unsupported(up.host, "the setname capability", "changing the real name")
    await up.roundtrip(lines, lambda _e: False, timeout)
