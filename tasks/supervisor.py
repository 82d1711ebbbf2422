"""The supervisor of one upstream connection: asyncio only, it lives on the worker's loop.

Connect, announce ``connected``, rejoin the rooms after a reconnect or a takeover, and
only then let verbs through (``ready``): a verb held during a failover must not reach a
channel we have not rejoined yet. Then wait for the drop, announce ``reconnecting`` and
back off. Everything that touches Redis goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from connectors.persistent import ConnectionSpec, Upstream
from envelopes.errors import (
    NotConnected,
    PermanentError,
    SockethubError,
    UpstreamTimeout,
    UpstreamUnavailable,
    internal_error,
    os_reason,
)

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["Supervisor"]

log = logging.getLogger("sockethub.manager")


def _connect_error(exc: Exception, timeout: float, key: str) -> SockethubError:
    """What a browser may read of a failed connect: ours, the OS's words, or a reference."""
    if isinstance(exc, SockethubError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"could not connect within {timeout:g} s")
    if isinstance(exc, OSError):
        return UpstreamUnavailable(f"could not connect: {os_reason(exc)}")
    return internal_error(log, f"connecting {key} raised", exc)


class Supervisor:
    """Keeps one upstream connected. Lives on the loop."""

    def __init__(self, manager: Manager, spec: ConnectionSpec, takeover: bool):
        self.manager = manager
        self.spec = spec
        self.takeover = takeover
        self.up: Upstream | None = None
        self.ready = asyncio.Event()  # connected and its rooms rejoined
        self.first: asyncio.Future[Upstream] = asyncio.get_running_loop().create_future()
        self.closing = False
        self.task: asyncio.Task[None] | None = None
        # Why verbs are waiting, for the error of one whose deadline comes first.
        self.restoring = "worker node lost" if takeover else ""

    def emit(self, activity: dict[str, Any]) -> None:
        self.manager.fanout(self.spec.key, activity)

    def announce(self, state: str, **fields: Any) -> None:
        up = self.up or self.manager.connector.new_upstream(self.spec, self.emit)
        event = up.state_event(state, **fields)
        if event is not None:
            self.emit(event)

    async def wait_up(self) -> Upstream:
        await asyncio.shield(self.first)  # raises the first connect's error, if any
        await self.ready.wait()
        assert self.up is not None
        return self.up

    def _fail_first(self, exc: BaseException) -> None:
        if not self.first.done():
            self.first.set_exception(exc)
            self.first.exception()  # mark retrieved: a failed connect is reported, not logged

    async def run(self) -> None:
        connector = self.manager.connector
        attempt = 0
        if self.takeover:
            attempt = 1
            self.announce("reconnecting", attempt=1, delay=0, reason="worker node lost")
        while not self.closing:
            up = connector.new_upstream(self.spec, self.emit)
            self.up = up
            self.announce("connecting", attempt=attempt)
            try:
                await asyncio.wait_for(up.connect(), connector.connect_timeout)
            except asyncio.CancelledError:
                raise
            except PermanentError as exc:
                self.announce("disconnected", reason=exc.message)
                self._fail_first(exc)
                await self.manager.forget(self.spec.key, self)
                return
            except Exception as exc:
                err = _connect_error(exc, connector.connect_timeout, self.spec.key)
                if not self.takeover and not self.first.done():
                    # Someone is waiting for this connect: tell them now, retry nothing.
                    self.announce("disconnected", reason=err.message)
                    self._fail_first(err)
                    await self.manager.forget(self.spec.key, self)
                    return
                reason = err.message
            else:
                self.announce("connected")
                if attempt or self.takeover:
                    rooms = await asyncio.to_thread(self.manager.rooms, self.spec.key)
                    await up.restore(rooms)
                # Only now: what waited during the reconnect finds its rooms rejoined.
                self.restoring = ""
                self.ready.set()
                if not self.first.done():
                    self.first.set_result(up)
                attempt = 0
                try:
                    reason = await up.wait_closed()
                except PermanentError as exc:
                    # The upstream says coming back would be wrong (e.g. another client took
                    # our XMPP resource): no reconnect loop.
                    self.ready.clear()
                    self.announce("disconnected", reason=exc.message)
                    await self.manager.forget(self.spec.key, self)
                    return
                self.ready.clear()
                if self.closing:
                    break
            attempt += 1
            self.restoring = reason
            delay = connector.backoff.delay(attempt)
            self.announce("reconnecting", attempt=attempt, delay=delay, reason=reason)
            await asyncio.sleep(delay)

    async def stop(self, reason: str) -> None:
        self.closing = True
        if self.up is not None:
            try:
                await asyncio.wait_for(self.up.close(reason), 5)
            except Exception:
                log.debug("close of %s failed", self.spec.key, exc_info=True)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self._fail_first(NotConnected("connection closed"))
        self.announce("disconnected", reason=reason)
