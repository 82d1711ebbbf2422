"""IRCv3 ``draft/chathistory`` (https://ircv3.net/specs/extensions/chathistory): history
pages of one channel or person, and the messages of a gap after a reconnect or takeover.

``server_history`` sends ``CHATHISTORY BEFORE|AFTER|AROUND <target> msgid=<id> <n>`` (or
``LATEST <target> * <n>``), ``n`` capped by the server's ``CHATHISTORY=<n>`` (RPL_ISUPPORT)
and 500; the answer is a ``chathistory`` batch, oldest first, whose PRIVMSG/NOTICE lines
become ``send`` activities as live ones do (``object.id`` from msgid, ``published`` from
server-time). Those lines are never emitted as live events (``client._on_line``).

``Marks`` remembers, per connection and across its reconnects, the time of the last
message delivered in each channel and the ids recently delivered (both bounded);
``recover`` asks each rejoined channel for what came after that time and delivers it
with ``late: true``, skipping ids already delivered, or emits one ``gap`` event per
channel when the server has no chathistory or the fetch fails. Asyncio only.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors.session.history import MAX_LIMIT, History, check_window
from envelopes.errors import SockethubError

from ..session.activity import activity
from .ask import ask
from .ids import person, room
from .lines import Message
from .numerics import IrcError
from .translate import translate

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["CAP", "History", "Marks", "MAX_LIMIT", "gap_event", "recover", "server_history"]

log = logging.getLogger("sockethub.irc")

CAP = "draft/chathistory"
TAKEOVER_SECONDS = 60  # after a takeover nobody knows when the old connection died
MAX_CHANNELS = 1000  # channels whose last time a connection's marks keep
MAX_IDS = 5000  # ids of recently delivered messages kept (late ones are skipped by them)


def iso(at: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class Marks:
    """What one connection delivered, kept across its reconnects (the connector holds it)."""

    def __init__(self) -> None:
        self.last: OrderedDict[str, str] = OrderedDict()  # folded channel → ISO time
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.lost_at: float | None = None

    def forget(self) -> None:
        """The connection was closed for good: nothing to recover any more."""
        self.last.clear()
        self.ids.clear()
        self.lost_at = None

    def note(self, item: dict[str, Any], folded: str | None) -> bool:
        """A ``send`` delivered (``folded``: its channel, None for a person); False when
        its id was delivered already."""
        mid = (item.get("object") or {}).get("id")
        if mid is not None:
            if mid in self.ids:
                return False
            self.ids[mid] = None
            while len(self.ids) > MAX_IDS:
                self.ids.popitem(last=False)
        if folded is not None:
            self.last[folded] = str(item.get("published") or iso())
            self.last.move_to_end(folded)
            while len(self.last) > MAX_CHANNELS:
                self.last.popitem(last=False)
        return True


def gap_event(up: IrcUpstream, channel: str, start: str, end: str) -> dict[str, Any]:
    return activity(
        "irc",
        "gap",
        person(up.nick, up.host),
        room(channel, up.host),
        {"type": "gap", "from": start, "to": end},
    )


def offered(up: IrcUpstream) -> bool:
    return CAP in up.enabled and "batch" in up.enabled


def cap_limit(up: IrcUpstream, limit: int) -> int:
    server = up.ctx.chathistory or MAX_LIMIT  # CHATHISTORY=0 (or absent): no server cap
    return max(1, min(limit, server, MAX_LIMIT))


async def fetch(up: IrcUpstream, sub: str, name: str, ref: str, limit: int) -> list[dict[str, Any]]:
    """One CHATHISTORY request: its batch's messages as ``send`` activities, oldest first."""
    items: list[dict[str, Any]] = []
    state: dict[str, str | None] = {"ref": None}

    def take(msg: Message) -> None:
        if msg.command in ("PRIVMSG", "NOTICE") and len(items) < limit:
            items.extend(r for r in translate(msg, up.ctx) if isinstance(r, dict))

    def fallback(msg: Message, _results: list[Any]) -> Any:
        """Without labeled-response: the chathistory batch naming the target is ours."""
        if msg.command == "FAIL" and msg.params[:1] == ["CHATHISTORY"]:
            return IrcError("history-failed", "FAIL", " ".join(msg.params[1:])[:300], name)
        head = msg.params[0] if msg.params else ""
        if (
            msg.command == "BATCH"
            and head.startswith("+")
            and msg.params[1:3]
            == [
                "chathistory",
                name,
            ]
        ):
            state["ref"] = head[1:]
            return None
        ref_now = state["ref"]
        if ref_now is None:
            return None
        if msg.command == "BATCH" and head == f"-{ref_now}":
            return "stop"
        return "take" if msg.tags.get("batch") == ref_now else None

    line = f"CHATHISTORY {sub} {name} {ref} {limit}"
    timeout = max(0.1, up.settings.irc_history_timeout)
    await ask(up, line, f"CHATHISTORY {sub} {name}", timeout, take=take, fallback=fallback)
    return [i for i in items if i.get("type") == "send"][:limit]


async def server_history(
    up: IrcUpstream,
    conversation: str,
    *,
    before: str | None = None,
    after: str | None = None,
    around: str | None = None,
    limit: int,
) -> History | None:
    check_window(limit, before, after, around)
    if not offered(up):
        return None
    head, at, _host = conversation.rpartition("@")
    name = head if at else conversation
    n = cap_limit(up, limit)
    page = History()
    if around is not None:
        page.extend(await fetch(up, "AROUND", name, f"msgid={around}", n))
        page.more = {"before": len(page) >= n, "after": len(page) >= n}
    elif after is not None:
        page.extend(await fetch(up, "AFTER", name, f"msgid={after}", n))
        page.more = {"before": True, "after": len(page) >= n}
    elif before is not None:
        page.extend(await fetch(up, "BEFORE", name, f"msgid={before}", n))
        page.more = {"before": len(page) >= n, "after": True}
    else:
        page.extend(await fetch(up, "LATEST", name, "*", n))
        page.more = {"before": len(page) >= n, "after": False}
    return page


async def recover(up: IrcUpstream, channels: list[str]) -> None:
    """After a reconnect or a takeover: deliver, late, what each rejoined channel got
    since the last message we delivered in it; a ``gap`` event where that cannot be done
    (no chathistory, a failure, or more than ``SOCKETHUB_IRC_GAP_MAX_MESSAGES``)."""
    marks = up.marks
    lost = marks.lost_at
    default = iso(lost) if lost is not None else iso(time.time() - TAKEOVER_SECONDS)
    cap = cap_limit(up, max(1, min(up.settings.irc_gap_max_messages, MAX_LIMIT)))
    for channel in channels:
        since = marks.last.get(up.ctx.fold(channel), default)
        now = iso()
        if not offered(up):
            up.emit(gap_event(up, channel, since, now))
            continue
        try:
            items = await fetch(up, "AFTER", channel, f"timestamp={since}", cap)
        except SockethubError as exc:
            if up.closed.is_set():
                return  # lost again: the next reconnect recovers from the same marks
            log.info("no recovery of %s on %s: %s", channel, up.host, exc.message)
            up.emit(gap_event(up, channel, since, now))
            continue
        for item in items:
            if marks.note(item, up.ctx.fold(channel)):
                up.emit({**item, "late": True})
        if len(items) >= cap:
            last = str(items[-1].get("published") or since)
            up.emit(gap_event(up, channel, last, now))
