"""The IRC connector: Sockethub's verbs, each a short coroutine on the live connection.

The connection itself (dialling, registration, flood control, keepalive) is
``client.IrcUpstream``; the worker's runtime keeps it alive, shares it between sessions
with identical credentials, reconnects and fails it over.
"""

from __future__ import annotations

import threading
from typing import Any

from envelopes.errors import Refused, condition_detail

from ..base import Job
from ..persistent import ConnectionSpec, Emit, PersistentConnector, Runtime, Upstream
from .chathistory import Marks
from .client import IrcUpstream
from .echo import echoed
from .lines import Message
from .outbound import (
    channel_name,
    conversation,
    delete_lines,
    disconnect_lines,
    leave_lines,
    nick_name,
    query_lines,
    react_lines,
    send_lines,
    typing_lines,
    update_lines,
)
from .queries import profile_query, rooms_query
from .roomcache import MemoryRoomCache, RedisRoomCache, RoomCache
from .sts import MemoryStsStore, RedisStsStore, StsStore
from .tags import TYPING_TO_IRC
from .watch import WATCH_PREFIX, set_real_name, watch
from .webirc import passwords


def _unsupported(up: IrcUpstream, cap: str, what: str) -> Refused:
    """The server does not offer ``cap``: the request is refused, never dropped unsaid."""
    return Refused(
        f"{up.host} does not offer the IRCv3 capability {cap}, which {what} needs; "
        "nothing was sent",
        details=[condition_detail("irc", "unsupported", capability=cap)],
    )


__all__ = ["IrcConnector"]


class IrcConnector(PersistentConnector):
    def bind(self, runtime: Runtime) -> None:
        passwords(self.settings.irc_webirc)  # a bad entry stops the worker, named, at start
        super().bind(runtime)

    def upstream_server(self, spec: ConnectionSpec) -> tuple[str, int] | None:
        """The server's ``host:port`` for the governor, as ``IrcUpstream`` dials it."""
        c = spec.credentials
        secure = bool(c.get("secure", True))
        return str(c["server"]).lower().rstrip("."), int(
            c.get("port") or (6697 if secure else 6667)
        )

    _rooms: RoomCache | None = None
    _rooms_lock = threading.Lock()  # task threads ask at once: build the cache once

    @property
    def room_cache(self) -> RoomCache:
        """Channel lists shared by every worker (Redis), built on first use; the in-memory
        twin without Redis or a secret (tests, tools)."""
        with self._rooms_lock:
            if self._rooms is None:
                self._rooms = self._new_room_cache()
            return self._rooms

    def _new_room_cache(self) -> RoomCache:
        s = self.settings
        if s.redis_url and s.secret:
            from envelopes.redisclient import redis_client

            client = redis_client(s.redis_url, timeout=s.redis_timeout, max_connections=8)
            return RedisRoomCache(client, s.secret)
        return MemoryRoomCache()

    def close(self) -> None:
        if isinstance(self._rooms, RedisRoomCache):
            self._rooms.redis.connection_pool.disconnect()
        super().close()

    _sts: StsStore | None = None

    @property
    def sts(self) -> StsStore:
        """Where IRCv3 STS policies are kept: Redis (every worker sees them), or this
        process without Redis. Built at the first connection, never at import."""
        if self._sts is None:
            if self.settings.redis_url:
                from envelopes.redisclient import redis_client

                client = redis_client(
                    self.settings.redis_url, timeout=self.settings.redis_timeout, max_connections=8
                )
                self._sts = RedisStsStore(client)
            else:
                self._sts = MemoryStsStore()
        return self._sts

    # What each connection delivered, across its reconnects (chathistory gap recovery);
    # emptied when one is closed for good (``IrcUpstream.close``), pruned here.
    marks: dict[str, Marks]

    def new_upstream(self, spec: ConnectionSpec, emit: Emit) -> IrcUpstream:
        if not hasattr(self, "marks"):
            self.marks = {}
        if len(self.marks) > 1000:
            self.marks = {k: m for k, m in self.marks.items() if m.last or m.ids}
        marks = self.marks.setdefault(spec.key, Marks())
        return IrcUpstream(spec, emit, self.settings, sts=self.sts, marks=marks)

    def _up(self, job: Job) -> IrcUpstream:
        up = self.runtime.upstream(job)
        assert isinstance(up, IrcUpstream)
        return up

    def connected_as(self, up: Upstream) -> dict[str, Any]:
        assert isinstance(up, IrcUpstream)
        return {"nick": up.nick}

    def join(self, job: Job) -> None:
        channel = channel_name(job.activity)
        up = self._up(job)
        self.runtime.call(job, up.join(channel, timeout=job.remaining))
        self.runtime.remember_room(job, channel, True)

    def leave(self, job: Job) -> None:
        lines = leave_lines(job.activity)
        channel = channel_name(job.activity)
        up = self._up(job)
        self.runtime.remember_room(job, channel, False)
        parted = up.own_echo("PART", channel)
        self.runtime.call(job, up.expect_after(lines, parted, job.remaining, f"PART {channel}"))

    def send(self, job: Job) -> dict[str, Any] | None:
        up = self._up(job)
        target = job.activity["target"]
        name = (
            channel_name(job.activity) if target.get("type") == "room" else nick_name(job.activity)
        )

        async def go() -> dict[str, Any] | None:
            # Without message-tags a reply goes as a plain message (docs/irc.md).
            lines = send_lines(job.activity, nick=up.nick, tags=up.tags)
            if up.echoes:  # IRCv3 echo-message: done when the server sends it back
                return await echoed(up, lines, up.fails_for(name), job.remaining)
            await up.roundtrip(lines, up.fails_for(name), job.remaining)
            return None

        echo = self.runtime.call(job, go())
        obj = dict(job.activity["object"])
        plain = "inReplyTo" in obj and not up.tags
        if plain:
            del obj["inReplyTo"]  # it went as a plain message: the reply does not claim more
        if echo is None:
            return {**job.activity, "object": obj} if plain else None
        # The server's id and time of the message (IRCv3 msgid, server-time).
        if "id" in echo.get("object", {}):
            obj["id"] = echo["object"]["id"]
        reply = {**job.activity, "object": obj}
        if "published" in echo:
            reply["published"] = echo["published"]
        return reply

    def typing(self, job: Job) -> None:
        """``+typing`` (a TAGMSG; nobody answers one). Without message-tags, or an
        ``active`` sooner than the spec allows, nothing is sent and the verb completes,
        as a chat state to an XMPP peer that ignores them does (docs/irc.md)."""
        lines = typing_lines(job.activity)
        name = conversation(job.activity)
        up = self._up(job)
        state = TYPING_TO_IRC[job.activity["object"]["state"]]

        async def go() -> None:
            if up.tags and up.typing.allow(up.ctx.fold(name), state):
                await up.send_lines(lines)

        self.runtime.call(job, go())

    def react(self, job: Job) -> None:
        """``+draft/react``/``+draft/unreact``: done at a PING after it, failed by an error
        naming the conversation first; refused without message-tags."""
        lines = react_lines(job.activity)
        name = conversation(job.activity)
        up = self._up(job)
        if not up.tags:
            raise _unsupported(up, "message-tags", "a reaction")
        self.runtime.call(job, up.roundtrip(lines, up.fails_for(name), job.remaining))

    def delete(self, job: Job) -> None:
        """``REDACT`` (draft/message-redaction); refused where the server lacks it."""
        lines = delete_lines(job.activity)
        name = conversation(job.activity)
        up = self._up(job)
        if "draft/message-redaction" not in up.enabled:
            raise _unsupported(up, "draft/message-redaction", "deleting a message")
        self.runtime.call(job, up.roundtrip(lines, up.fails_for(name), job.remaining))

    def update(self, job: Job) -> None:
        lines = update_lines(job.activity)
        up = self._up(job)
        kind = job.activity["object"]["type"]
        if kind == "presence":  # AWAY: 305/306 answer it; nothing to fail on
            self.runtime.call(job, up.roundtrip(lines, lambda _e: False, job.remaining))
            return
        if kind == "profile":
            self.runtime.call(job, set_real_name(up, lines, job.remaining))
            return
        if kind == "address":
            new = nick_name(job.activity)

            def renamed(msg: Message, results: list[Any]) -> Any:
                for r in results:
                    if not isinstance(r, dict) and r.code in ("nick-in-use", "erroneous-nick"):
                        return r
                if (
                    msg.command == "NICK"
                    and msg.params
                    and up.ctx.fold(msg.params[0]) == up.ctx.fold(new)
                ):
                    return True
                return None

            self.runtime.call(job, up.expect_after(lines, renamed, job.remaining, "NICK"))
            return
        channel = channel_name(job.activity)
        self.runtime.call(job, up.roundtrip(lines, up.fails_for(channel), job.remaining))

    def query(self, job: Job) -> dict[str, Any]:
        if self.is_log_query(job):  # history, search: the runtime's own log
            return self.runtime.log_query(job)
        kind = (job.activity.get("object") or {}).get("type")
        if kind == "presence":  # MONITOR (connectors/irc/watch.py)
            up = self._up(job)
            result: dict[str, Any] = self.runtime.call(job, watch(up, job.activity, job.remaining))
            # Remembered with the rooms: a reconnect watches them again (watch.rewatch).
            watching = result["object"].get("watch", True)
            self.runtime.remember_room(job, WATCH_PREFIX + nick_name(job.activity), watching)
            return result
        if kind == "profile":  # WHOIS (connectors/irc/whois.py)
            return profile_query(self.runtime, self._up(job), job)
        if kind == "rooms":  # LIST, shared in Redis (connectors/irc/queries.py)
            return rooms_query(self.runtime, self._up(job), self.room_cache, job)
        lines = query_lines(job.activity)
        channel = channel_name(job.activity)
        up = self._up(job)
        folded = up.ctx.fold(channel)

        def names(msg: Message, results: list[Any]) -> Any:
            for r in results:
                if not isinstance(r, dict):
                    if up.fails_for(channel)(r):
                        return r
                elif r.get("type") == "query" and up.ctx.fold(r["actor"].get("name", "")) == folded:
                    return r
            return None

        result = self.runtime.call(job, up.expect_after(lines, names, job.remaining, "NAMES"))
        return {**result, "id": job.activity.get("id")} if job.activity.get("id") else result

    def disconnect(self, job: Job) -> None:
        disconnect_lines(job.activity)  # validates the optional reason
        self.runtime.disconnect(job)
