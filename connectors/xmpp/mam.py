"""The server's message archives of one XMPP upstream (MAM, XEP-0313): history pages, and
the messages of a gap after a reconnect or a takeover.

``server_history`` answers a page of one conversation (our account's archive ``with`` the
contact for a chat, the room's archive for a room), oldest first; ``recover`` fetches what
each archive got since the last message we delivered from it (``marks``) and delivers it as
``send`` events with ``late: true``, or a ``gap`` event where that cannot be done. Servers
cap a page (Prosody: 50), so a request is as many RSM pages as it needs, up to its limit.
Asyncio only.
"""

from __future__ import annotations

import logging
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.session.history import MAX_LIMIT, History, check_window
from envelopes.errors import SockethubError, UpstreamUnavailable

from ..session.activity import activity
from .archive import MAM, Fin, Result, archived_send, fin_of, query_element, result_of
from .ids import bare, fold, person, room, split_jid
from .marks import iso
from .translate import _name, child

if TYPE_CHECKING:
    from .client import XmppUpstream

__all__ = ["Archives", "History", "MAX_LIMIT", "gap_event", "recover"]

log = logging.getLogger("sockethub.xmpp")

TAKEOVER_SECONDS = 60  # after a takeover nobody knows when the old stream died
EPOCH = "1970-01-01T00:00:00Z"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


@dataclass
class _Collect:
    archive: str
    limit: int
    results: list[Result] = field(default_factory=list)


def gap_event(me: str, target: dict[str, str], start: str, end: str) -> dict[str, Any]:
    return activity("xmpp", "gap", person(me), target, {"type": "gap", "from": start, "to": end})


class Archives:
    def __init__(self, up: XmppUpstream):
        self.up = up
        self.pending: dict[str, _Collect] = {}
        self.info: dict[str, tuple[bool, bool]] = {}  # fold(jid) → (is a room, has MAM)

    def offer(self, el: ET.Element) -> bool:
        """Take a MAM result message (True: it is one, never an event). XEP-0313 §5.1.2: a
        result counts only from the archive asked, for a query of ours."""
        res = result_of(el)
        if res is None:
            return False
        c = self.pending.get(res.queryid)
        sender = el.get("from") or self.up.jid
        if c is None or split_jid(sender).resource or fold(sender) != fold(c.archive):
            log.info("dropped a MAM result from %s not asked for", sender[:100])
            return True
        if len(c.results) < c.limit:
            c.results.append(res)
        return True

    async def _info(self, jid: str) -> tuple[bool, bool]:
        key = fold(jid)
        if key not in self.info:
            assert self.up.xmpp is not None
            iq = self.up.xmpp.Iq(stype="get", sto=bare(jid))
            iq.append(ET.Element(f"{{{DISCO_INFO}}}query"))
            try:
                answer = await self.up.iq(iq, self.up.settings.xmpp_history_timeout, "disco#info")
            except SockethubError:
                answer = ET.Element("iq")  # no answer, or an error: no archive we can use
            query = child(answer, "query", DISCO_INFO)
            items = list(query) if query is not None else []
            is_room = any(
                _name(i.tag)[1] == "identity" and i.get("category") == "conference" for i in items
            )
            has_mam = any(_name(i.tag)[1] == "feature" and i.get("var") == MAM for i in items)
            if len(self.info) > 1000:
                self.info.clear()
            self.info[key] = (is_room, has_mam)
        return self.info[key]

    async def supports(self, archive: str) -> bool:
        """The archive at ``archive`` (ours, or a room) advertises MAM (disco, §6)."""
        return (await self._info(archive))[1]

    async def _page(self, archive: str, limit: int, **cursor: str | None) -> tuple[list[Any], Fin]:
        up = self.up
        assert up.xmpp is not None
        qid = uuid.uuid4().hex
        own = fold(archive) == fold(up.jid)
        iq = up.xmpp.Iq(stype="set", sto=None if own else archive)
        iq.append(query_element(qid, limit, **cursor))
        self.pending[qid] = collect = _Collect(archive, limit)
        try:
            answer = await up.iq(iq, up.settings.xmpp_history_timeout, f"the archive of {archive}")
        except SockethubError as exc:
            exc.message = f"the archive of {archive} refused the query: {exc.message}"
            raise
        finally:
            self.pending.pop(qid, None)
        items = [archived_send(r, archive, up.ctx) for r in collect.results]
        fin = fin_of(answer)
        if collect.results and fin.first is None:
            fin = Fin(fin.complete, collect.results[0].id, collect.results[-1].id)
        return [i for i in items if i is not None], fin

    async def fetch(
        self,
        archive: str,
        limit: int,
        *,
        with_jid: str | None = None,
        before: str | None = None,
        after: str | None = None,
        start: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` messages, oldest first, over as many pages as the server needs;
        and whether the archive has no more in that direction."""
        newer = after is not None or start is not None
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            got, fin = await self._page(
                archive,
                limit - len(out),
                with_jid=with_jid,
                start=start,
                before=before,
                after=after,
            )
            out = out + got if newer else got + out
            if fin.complete or fin.first is None:
                return out, True
            if newer:
                after, start = fin.last, None
            else:
                before = fin.first
        return out, False

    async def server_history(
        self,
        conversation: str,
        *,
        before: str | None = None,
        after: str | None = None,
        around: str | None = None,
        limit: int,
    ) -> History | None:
        check_window(limit, before, after, around)
        up = self.up
        is_room = up.ctx.room(conversation) is not None or (await self._info(conversation))[0]
        archive = bare(conversation) if is_room else up.jid
        if not await self.supports(archive):
            return None
        with_jid = None if is_room else bare(conversation)
        ids = up.marks.archive_id
        page = History()
        if around is not None:
            half = limit // 2
            older, at_start = await self.fetch(
                archive, max(1, half), with_jid=with_jid, before=ids(archive, around)
            )
            keep = older[len(older) - min(len(older), half) :] if half else []
            last = older[-1]["object"]["xmpp:stanza-id"] if older else None
            newer, at_end = await self.fetch(
                archive,
                limit - len(keep),
                with_jid=with_jid,
                after=last,
                start=None if last else EPOCH,
            )
            page.extend(keep + newer)
            page.more = {"before": not at_start or len(older) > len(keep), "after": not at_end}
        elif after is not None:
            items, at_end = await self.fetch(
                archive, limit, with_jid=with_jid, after=ids(archive, after)
            )
            page.extend(items)
            page.more = {"before": True, "after": not at_end}
        else:
            cursor = ids(archive, before) if before is not None else None
            items, at_start = await self.fetch(archive, limit, with_jid=with_jid, before=cursor)
            page.extend(items)
            page.more = {"before": not at_start, "after": before is not None}
        up.marks.remember_ids(archive, page)
        return page


async def recover(up: XmppUpstream, rooms: list[str], lost_at: float | None) -> None:
    """After a new login (not a resumed stream): deliver, late, what each archive (ours,
    each joined room's) got since the last message we delivered from it; a ``gap`` event
    for an archive that cannot be read, or for what is past the cap."""
    now, me, marks = iso(), up.jid, up.marks
    default = iso(lost_at) if lost_at is not None else iso(time.time() - TAKEOVER_SECONDS)
    cap = up.settings.xmpp_gap_max_messages
    for archive in [me, *rooms]:
        mark = marks.mark_of(archive, me)
        since = mark.at if mark is not None else default
        own = fold(archive) == fold(me)
        chats = [person(p) for p in marks.chats.values()] or [person(me)]
        targets = chats if own else [room(archive)]
        try:
            if not await up.archives.supports(archive):
                raise UpstreamUnavailable(f"{archive} has no message archive (MAM)")
            if mark is not None:
                items, done = await up.archives.fetch(archive, cap, after=mark.stanza_id)
            else:
                items, done = await up.archives.fetch(archive, cap, start=default)
        except SockethubError as exc:
            if up.closed.is_set():
                return  # lost again: the next login recovers from the same marks
            log.info("no recovery from %s: %s", archive, exc.message)
            for target in targets:
                up.emit(gap_event(me, target, since, now))
            continue
        for item in items:
            if marks.delivered(item, me):
                up.emit({**item, "late": True})
        if not done:
            last = str(items[-1].get("published") or since) if items else since
            for target in targets:
                up.emit(gap_event(me, target, last, now))
