"""The IRC connector: Sockethub's verbs, each a short coroutine on the live connection.

The connection itself (dialling, registration, flood control, keepalive) is
``client.IrcUpstream``; the worker's runtime keeps it alive, shares it between sessions
with identical credentials, reconnects and fails it over.
"""

from __future__ import annotations

from typing import Any

from ..base import Job
from ..persistent import ConnectionSpec, Emit, PersistentConnector, Upstream
from .client import IrcUpstream
from .echo import echoed
from .lines import Message
from .outbound import (
    channel_name,
    disconnect_lines,
    leave_lines,
    nick_name,
    query_lines,
    send_lines,
    update_lines,
)

__all__ = ["IrcConnector"]


class IrcConnector(PersistentConnector):
    def new_upstream(self, spec: ConnectionSpec, emit: Emit) -> IrcUpstream:
        return IrcUpstream(spec, emit, self.settings)

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
            lines = send_lines(job.activity, nick=up.nick)
            if up.echoes:  # IRCv3 echo-message: done when the server sends it back
                return await echoed(up, lines, up.fails_for(name), job.remaining)
            await up.roundtrip(lines, up.fails_for(name), job.remaining)
            return None

        echo = self.runtime.call(job, go())
        if echo is None:
            return None
        # The server's id and time of the message (IRCv3 msgid, server-time).
        obj = dict(job.activity["object"])
        if "id" in echo.get("object", {}):
            obj["id"] = echo["object"]["id"]
        reply = {**job.activity, "object": obj}
        if "published" in echo:
            reply["published"] = echo["published"]
        return reply

    def update(self, job: Job) -> None:
        lines = update_lines(job.activity)
        up = self._up(job)
        if job.activity["object"]["type"] == "address":
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
