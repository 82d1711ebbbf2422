"""The XMPP connector: Sockethub's verbs, each a short coroutine on the live stream.

The stream itself (where to connect, TLS, login, keepalive, receiving) is
``client.XmppUpstream``; the worker's runtime keeps it alive, shares it between sessions
with identical credentials, reconnects and fails it over. A verb completes when the server
has answered it: a join at the room's self-presence (XEP-0045 §7.2.2, status 110), a room
message at its reflection (§7.4), a chat message once a ping sent after it returns (the
server has routed it; a bounce for a local account comes before), a query with its result.
An error stanza answering the request fails it with the XMPP condition as its code.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TypeGuard

from envelopes.errors import InvalidEnvelope, SockethubError

from ..base import Job
from ..persistent import ConnectionSpec, Emit, PersistentConnector, Upstream
from .bookmarks import bookmarks_query, read_bookmarks
from .client import Memory, XmppUpstream
from .errors import XmppError
from .ids import fold, split_jid
from .mam import recover
from .outbound import (
    check_text,
    join_stanza,
    leave_stanza,
    message_stanza,
    nick_for,
    presence_stanza,
    receipt_stanza,
    subject_stanza,
    subscription_stanzas,
    target_jid,
    typing_stanza,
)
from .profile import profile, publish_avatar
from .references import markable
from .referring import ReferringVerbs, prepare_reply
from .results import attendance, attendance_from_items, room_info, roster
from .slots import ServiceCache
from .slots import upload as upload_verb
from .translate import Activity, Result

__all__ = ["XmppConnector", "autojoin_bookmarks", "join", "restore_rooms"]

log = logging.getLogger("sockethub.xmpp")

# After a failover nobody knows when the old stream died: ask rooms for this much history.
TAKEOVER_HISTORY_SECONDS = 60
AUTOJOIN_TIMEOUT = 15.0  # for each bookmarked room joined at login


def _is(result: Result, verb: str, room: str) -> TypeGuard[Activity]:
    return (
        isinstance(result, dict)
        and result.get("type") == verb
        and fold(result.get("target", {}).get("id", "")) == fold(room)
    )


def _error_from(result: Result, jid: str, stanza: str = "") -> XmppError | None:
    if isinstance(result, XmppError) and fold(result.sender or jid) == fold(jid):
        if not stanza or result.kind == stanza:
            return result
    return None


async def join(
    up: XmppUpstream, room: str, nick: str, timeout: float, history: dict[str, str] | None = None
) -> None:
    """Join ``room`` as ``nick``; done at our self-presence, failed by an error presence.
    A room the join created is opened to others before the join completes."""
    state = up.ctx.room(room)
    if state is not None and state.joined:
        return
    deadline = time.monotonic() + timeout
    state = up.ctx.enter(room, nick)
    waiter = up.expect(lambda r: True if _is(r, "join", room) else _error_from(r, room, "presence"))
    show, status = up.presence
    up.send(
        join_stanza(
            room, nick, history=history, show="online" if show == "offline" else show, status=status
        )
    )
    await up.wait(waiter, timeout, f"the join of {room}")
    if state.created:
        await _open(up, room, deadline - time.monotonic())


async def _open(up: XmppUpstream, room: str, timeout: float) -> None:
    # XEP-0045 §10.1.2: until we accept a configuration nobody else can enter. We are in
    # the room either way, so a refusal is an error event, not a failed join.
    try:
        await up.open_instant_room(room, max(timeout, 5.0))
    except SockethubError as exc:
        text = f"created the room but could not open it to others: {exc.message}"
        up.emit(up.error_event(XmppError(exc.code, "iq", sender=room, text=text)))


async def restore_rooms(
    up: XmppUpstream,
    rooms: list[str],
    lost_at: float | None,
    archived: frozenset[str] = frozenset(),
) -> None:
    """Rejoin ``rooms`` (``room/nick`` as recorded), asking for what was missed: from the
    room's history, unless the room keeps an archive (``archived``, folded JIDs), which
    ``mam.recover`` then reads exactly from the last message we delivered."""
    if lost_at is not None:  # XEP-0045 §7.2.15: history since we were lost
        stamp = datetime.fromtimestamp(lost_at - 2, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        history = {"since": stamp}
    else:
        history = {"seconds": str(TAKEOVER_HISTORY_SECONDS)}
    for entry in rooms:
        parts = split_jid(entry)
        nick = parts.resource or split_jid(up.jid).local
        asked = {"maxstanzas": "0"} if fold(parts.bare) in archived else history
        try:
            await join(up, parts.bare, nick, 20, asked)
        except SockethubError as exc:
            err = XmppError(
                exc.condition or exc.code,
                "presence",
                sender=parts.bare,
                text=f"could not rejoin: {exc.message}",
            )
            up.emit(up.error_event(err))


async def autojoin_bookmarks(up: XmppUpstream, nick: str, timeout: float) -> None:
    """Join the bookmarked rooms marked ``autojoin`` (XEP-0402 §3.3), with the bookmark's
    nick or ``nick``. A server without bookmarks answers with an error: nothing to join.
    A room that refuses us is an error event; the login goes on."""
    assert up.xmpp is not None
    iq = up.xmpp.Iq(stype="get")
    iq.append(bookmarks_query())
    try:
        answer = await up.iq(iq, timeout, "the bookmarks")
    except SockethubError as exc:
        log.info("no bookmarks for %s: %s", up.jid, exc.message)
        return
    for mark in read_bookmarks(answer):
        if not mark.autojoin:
            continue
        try:
            await join(up, mark.room, check_text(mark.nick or nick, "nick"), AUTOJOIN_TIMEOUT)
        except SockethubError as exc:
            text = f"could not join a bookmarked room: {exc.message}"
            err = XmppError(exc.condition or exc.code, "presence", sender=mark.room, text=text)
            up.emit(up.error_event(err))


def _text_of(obj: dict[str, Any]) -> str:
    """What a message says, for the excerpt replies quote: its text, or its link alone."""
    attachment = obj.get("attachment")
    link = attachment.get("url", "") if isinstance(attachment, dict) else ""
    return str(obj.get("content") or link)


class _Upstream(XmppUpstream):
    recovery: asyncio.Task[None] | None = None  # mam.recover, after a new login

    async def restore(self, rooms: list[str]) -> None:
        """After a new login (a reconnect that could not resume, or a takeover): rejoin,
        then close the gap from the archives (``mam.recover``)."""
        lost_at = self.memory.lost_at.get(self.spec.key)
        archived = [
            r for r in {split_jid(e).bare for e in rooms} if await self.archives.supports(r)
        ]
        await restore_rooms(self, rooms, lost_at, frozenset(fold(r) for r in archived))
        joined = [state.jid for state in self.ctx.joined_rooms()]
        # In the background: verbs held for the reconnect need not wait for the archives.
        self.recovery = asyncio.get_running_loop().create_task(recover(self, joined, lost_at))

    async def close(self, reason: str) -> None:
        if self.recovery is not None:
            self.recovery.cancel()
        await super().close(reason)

    async def _start_session(self, x: Any) -> None:
        await super()._start_session(x)
        if self.presence[0] != "offline":  # joining would show us to the rooms
            nick = str(self.spec.actor.get("name") or split_jid(self.jid).local)
            await autojoin_bookmarks(self, nick, 10)


class XmppConnector(ReferringVerbs, PersistentConnector):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.memory = Memory()  # TLS read buffers are trimmed by tasks/loop.py
        self.upload_services: ServiceCache = {}  # XEP-0363, by domain (slots.py)

    def new_upstream(self, spec: ConnectionSpec, emit: Emit) -> XmppUpstream:
        return _Upstream(spec, emit, self.settings, self.memory)

    def _up(self, job: Job) -> XmppUpstream:
        up = self.runtime.upstream(job)
        assert isinstance(up, XmppUpstream)
        if up.resuming and not self.runtime.call(job, up.until_resumed()):
            # The server no longer had the session: wait for the new login and its rooms,
            # as for any reconnect, rather than fail with the stream that ended.
            up = self.runtime.upstream(job)
            assert isinstance(up, XmppUpstream)
        return up

    def connected_as(self, up: Upstream) -> dict[str, Any]:
        assert isinstance(up, XmppUpstream)
        return {"jid": up.full_jid}

    def join(self, job: Job) -> None:
        room, nick = target_jid(job.activity, kind="room"), nick_for(job.activity)
        up = self._up(job)
        self.runtime.call(job, join(up, room, nick, job.remaining))
        state = up.ctx.room(room)
        self.runtime.remember_room(job, f"{room}/{state.nick if state else nick}", True)

    def leave(self, job: Job) -> None:
        room = target_jid(job.activity, kind="room")
        status = str((job.activity.get("object") or {}).get("content") or "")
        up = self._up(job)
        state = up.ctx.room(room)
        if state is None:
            return  # not in it: nothing to leave
        self.runtime.remember_room(job, f"{room}/{state.nick}", False)

        async def go() -> None:
            waiter = up.expect(
                lambda r: True if _is(r, "leave", room) else _error_from(r, room, "presence")
            )
            up.send(leave_stanza(state.jid, state.nick, status))
            await up.wait(waiter, job.remaining, f"the leave of {room}")

        self.runtime.call(job, go())

    def send(self, job: Job) -> dict[str, Any]:
        obj = dict(job.activity["object"])
        mid = check_text(str(obj.get("id") or uuid.uuid4().hex), "object.id")
        stanza = message_stanza(job.activity, mid)
        to = target_jid(job.activity)
        up = self._up(job)
        groupchat = job.activity["target"].get("type") == "room"
        markable(stanza)
        in_reply_to = check_text(str(obj.get("inReplyTo") or ""), "object.inReplyTo")

        def answered(r: Result) -> Any:
            if isinstance(r, XmppError) and r.stanza_id == mid:
                return r
            if (
                groupchat
                and isinstance(r, dict)
                and r.get("type") == "send"
                and r["object"].get("id") == mid
                and _is(r, "send", to)
            ):
                return r  # our message, as the room reflected it
            return None

        async def go() -> Any:
            if in_reply_to:  # on the loop, where the messages it may quote are kept
                prepare_reply(up.ctx.recall, stanza, to, groupchat, in_reply_to)
            waiter = up.expect(answered)
            up.send(stanza)
            if groupchat:  # the reflection is remembered as ours by the translator
                return await up.wait(waiter, job.remaining, "the message")
            up.ctx.recall.add(fold(to), mid, "", up.jid, _text_of(obj), True)
            await up.ping(job.remaining)
            if waiter.future.done():
                return waiter.future.result()  # raises the bounce's error
            up.waiters.discard(waiter)
            return None

        reflected = self.runtime.call(job, go())
        obj["id"] = mid
        if isinstance(reflected, dict) and "xmpp:stanza-id" in reflected["object"]:
            obj["xmpp:stanza-id"] = reflected["object"]["xmpp:stanza-id"]
        return {**job.activity, "object": obj}

    def update(self, job: Job) -> None:
        obj = job.activity["object"]
        up = self._up(job)
        if obj["type"] == "profile":
            image, limit = str(obj["image"]), self.settings.xmpp_max_avatar_bytes
            self.runtime.call(job, publish_avatar(up, image, job.remaining, limit))
            return
        if obj["type"] == "topic":
            room = target_jid(job.activity, kind="room")
            text, mid = str(obj.get("content") or ""), uuid.uuid4().hex
            stanza = subject_stanza(room, text, mid)

            def changed(r: Result) -> Any:
                if isinstance(r, XmppError) and r.stanza_id == mid:
                    return r
                return (
                    True
                    if _is(r, "update", room)
                    and r["object"].get("type") == "topic"
                    and r["object"].get("content") == text
                    else None
                )

            async def topic() -> None:
                waiter = up.expect(changed)
                up.send(stanza)
                await up.wait(waiter, job.remaining, "the subject change")

            self.runtime.call(job, topic())
            return
        show, status = str(obj["presence"]), str(obj.get("content") or "")
        stanza = presence_stanza(show, status)

        async def presence() -> list[str]:
            up.send(stanza)
            up.presence = (show, status)
            rooms = up.ctx.joined_rooms()
            if show != "offline":  # XEP-0045 §7.7: rooms get our presence directly
                for state in rooms:
                    up.send(presence_stanza(show, status, to=f"{state.jid}/{state.nick}"))
                return []
            for state in rooms:  # RFC 6121 §4.6.3: unavailable also leaves every room
                up.ctx.forget(state.jid)
            return [f"{state.jid}/{state.nick}" for state in rooms]

        for left in self.runtime.call(job, presence()):
            self.runtime.remember_room(job, left, False)

    def typing(self, job: Job) -> None:
        """A chat state (XEP-0085): sent, and done; nobody answers one."""
        stanza = typing_stanza(job.activity)
        up = self._up(job)

        async def go() -> None:
            up.send(stanza)

        self.runtime.call(job, go())

    def mark_read(self, job: Job, conversation: str, message_id: str) -> None:
        """The worker stored a read marker (tasks/reading.py): mirror it to the server as
        XEP-0333 ``displayed``, for the sender and our other clients."""
        self.read_marker(job)

    def receipt(self, job: Job) -> None:
        """A delivery receipt (XEP-0184 §5.2) for a message the target sent us, or a read
        marker (XEP-0333, ``referring``)."""
        if job.activity["object"].get("status") == "read":
            return self.read_marker(job)
        stanza = receipt_stanza(job.activity)
        up = self._up(job)

        async def go() -> None:
            up.send(stanza)

        self.runtime.call(job, go())

    def upload(self, job: Job) -> dict[str, Any]:
        """A slot for a file the browser then PUTs to the gateway (XEP-0363, slots.py)."""
        return upload_verb(self, job)

    def _subscription(self, job: Job) -> None:
        to = target_jid(job.activity, kind="person")
        status = str((job.activity.get("object") or {}).get("content") or "")
        stanzas = subscription_stanzas(job.activity["type"], to, status)
        up = self._up(job)

        async def go() -> None:
            for stanza in stanzas:
                up.send(stanza)
            await up.ping(job.remaining)

        self.runtime.call(job, go())

    request_friend = make_friend = remove_friend = _subscription

    def query(self, job: Job) -> dict[str, Any]:
        if self.is_log_query(job):  # history, search: the runtime's own log
            return self.runtime.log_query(job)
        kind = job.activity["object"]["type"]
        up = self._up(job)
        if kind == "roster":
            return self._answer(job, self.runtime.call(job, self._roster(up, job.remaining)))
        if kind == "profile":
            who, limit = (
                target_jid(job.activity, kind="person"),
                self.settings.xmpp_max_avatar_bytes,
            )
            return self._answer(job, self.runtime.call(job, profile(up, who, job.remaining, limit)))
        room = target_jid(job.activity, kind="room") if job.activity.get("target") else None
        if room is None:
            raise InvalidEnvelope(f"a {kind} query needs a room as target", path="target")
        if kind == "attendance":
            known = attendance(up.ctx, room)
            if known is not None:
                return self._answer(job, known)
        return self._answer(job, self.runtime.call(job, self._disco(up, room, kind, job.remaining)))

    @staticmethod
    def _answer(job: Job, result: dict[str, Any]) -> dict[str, Any]:
        return {**result, "id": job.activity["id"]} if job.activity.get("id") else result

    @staticmethod
    async def _roster(up: XmppUpstream, timeout: float) -> dict[str, Any]:
        assert up.xmpp is not None
        iq = up.xmpp.Iq(stype="get")
        iq.enable("roster")  # no ``ver``: the whole roster, not changes (RFC 6121 §2.6)
        return roster(await up.iq(iq, timeout, "the roster request"), up.jid)

    @staticmethod
    async def _disco(up: XmppUpstream, room: str, kind: str, timeout: float) -> dict[str, Any]:
        assert up.xmpp is not None
        node = "info" if kind == "room-info" else "items"
        iq = up.xmpp.Iq(stype="get", sto=room)
        iq.enable(f"disco_{node}")
        answer = await up.iq(iq, timeout, f"disco#{node} of {room}")
        if kind == "room-info":
            return room_info(answer, room, up.jid)
        return attendance_from_items(answer, room, up.jid)

    def disconnect(self, job: Job) -> None:
        obj = job.activity.get("object") or {}
        check_text(str(obj.get("content") or ""), "object.content")
        self.runtime.disconnect(job)
