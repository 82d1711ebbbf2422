"""People's online state (IRCv3 Monitor) and our own away state and real name.

``query`` with ``object {type: "presence"}`` puts a nick on the server's MONITOR list and
answers with the presence the server reports at once (730 online, 731 offline); changes
then arrive as ``update`` presence events (``people``). ``watch: false`` takes it off.
The list is bounded by the smaller of the server's ``MONITOR=<limit>`` (RPL_ISUPPORT) and
``SOCKETHUB_IRC_MAX_MONITOR``. A server without MONITOR (ngircd) refuses the request:
``refused`` with condition ``unsupported``; we do not fall back to polling with ISON.

The watch list belongs to the connection, and is remembered with its rooms (as
``MONITOR <nick>`` entries: a space is in no channel name and no nick), so a reconnect
or a takeover by another worker watches the same people again (``rewatch``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envelopes.errors import Refused, condition_detail

from .lines import Message
from .numerics import IrcError
from .outbound import monitor_line, nick_name

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["WATCH_PREFIX", "rewatch", "set_real_name", "split_rooms", "unsupported", "watch"]

WATCH_PREFIX = "MONITOR "  # a remembered "room" that is a watched nick
_TARGETS_BYTES = 400  # nicks per MONITOR line, well within 512 bytes


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


def split_rooms(rooms: list[str]) -> tuple[list[str], list[str]]:
    """Remembered entries → (channels to rejoin, nicks to watch again)."""
    channels = [r for r in rooms if not r.startswith(WATCH_PREFIX)]
    nicks = [r.removeprefix(WATCH_PREFIX) for r in rooms if r.startswith(WATCH_PREFIX)]
    return channels, nicks


async def rewatch(up: IrcUpstream, nicks: list[str]) -> None:
    """After a reconnect: MONITOR the people watched before (as many as the limit takes);
    the server's 730/731 answers come as ``update`` presence events."""
    if up.ctx.monitor is None or not nicks:
        return
    limit, _named = _limit(up)
    lines: list[str] = []
    batch: list[str] = []
    for nick in dict.fromkeys(nicks):
        if len(up.ctx.watched) >= limit:
            break
        up.ctx.watched.setdefault(up.ctx.fold(nick), "")
        batch.append(nick)
        if sum(len(n) + 1 for n in batch) > _TARGETS_BYTES:
            lines.append(f"MONITOR + {','.join(batch)}")
            batch = []
    if batch:
        lines.append(f"MONITOR + {','.join(batch)}")
    await up.send_lines(lines)


async def set_real_name(up: IrcUpstream, lines: list[str], timeout: float) -> None:
    """``SETNAME`` where the server offers IRCv3 setname, refused where it does not."""
    if "setname" not in up.enabled:
        raise unsupported(up.host, "the setname capability", "changing the real name")
    await up.roundtrip(lines, lambda _e: False, timeout)
