"""The supervisor of one upstream connection: asyncio only, it lives on the worker's loop.

Connect, announce ``connected``, rejoin the rooms after a reconnect or a takeover, and
only then let verbs through (``ready``, and the lanes held meanwhile are woken:
``tasks/holding.py``): a verb held during a failover must not reach a channel we have not
rejoined yet. Then wait for the drop, announce ``reconnecting`` and
back off. Everything that touches Redis goes through ``asyncio.to_thread``, and events
only enter the publisher's queue (``tasks/publisher.py``): nothing here waits on Redis.

A supervisor cannot die quietly: whatever its own steps raise (an ``announce`` that
fails, a connector bug) is logged under a reference, the upstream is closed and the
connection retried with backoff, like a drop. After ``MAX_CRASHES`` such failures in a row
with no connection established in between, the connection is released instead: sessions
get ``disconnected`` naming the reference, the lease and the record are dropped. (The
manager's heartbeat is the backstop: it never renews the lease of a finished supervisor.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from connectors.persistent import ConnectionSpec, Upstream, connection_event
from envelopes.errors import NotConnected, PermanentError, SockethubError, internal_error

from .admission import Admission
from .admission import connect_error as _connect_error  # noqa: F401 (tests, tools)

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["Supervisor", "connection_state", "MAX_CRASHES"]

log = logging.getLogger("sockethub.manager")

MAX_CRASHES = 5  # supervisor failures in a row, with no connection in between, then release


def connection_state(sup: Supervisor, state: str, **fields: Any) -> dict[str, Any]:
    """The connector's state event; if building it fails, the plain shape every platform
    shares (``connection_event``), so the sessions are told either way."""
    try:
        up = sup.up or sup.manager.connector.new_upstream(sup.spec, sup.emit)
        event = up.state_event(state, **fields)
        if event is not None:
            return event
    except Exception:
        log.exception("building the %s event of %s failed", state, sup.spec.key[:8])
    name = sup.manager.platform.name
    service = {"type": "service", "id": name, "name": name}
    return connection_event(name, state, service, sup.spec.actor or None, **fields)


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
        self.ups = 0  # times it came up (connected, rooms rejoined)
        # Why verbs are waiting, for the error of one whose deadline comes first.
        self.restoring = "worker node lost" if takeover else ""
        self.admission = Admission(self)  # its turn at the server (tasks/admission.py)

    def emit(self, activity: dict[str, Any]) -> None:
        self.manager.fanout(self.spec.key, activity)

    def announce(self, state: str, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None}
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
        """Keep the connection; on a failure of our own, retry, and in the end release."""
        try:
            await self._keep()
        finally:
            self.admission.release()

    async def _keep(self) -> None:
        crashes, ups = 0, 0
        while True:
            try:
                await self._run(attempt=crashes)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.ups != ups:  # it was up since the last failure: count afresh
                    crashes, ups = 0, self.ups
                crashes += 1
                err = internal_error(log, f"supervisor of {self.spec.key[:8]} raised", exc)
                await self._drop_upstream(err.message)
                if self.closing:
                    return
                if crashes >= MAX_CRASHES:
                    await self._release(err)
                    return
                delay = self.manager.connector.backoff.delay(crashes)
                self.restoring = err.message
                self.manager.stats.inc(
                    "sockethub_worker_reconnects_total", self.manager.platform.name
                )
                self._tell("reconnecting", attempt=crashes, delay=delay, reason=err.message)
                await asyncio.sleep(delay)

    def _tell(self, state: str, **fields: Any) -> None:
        """Announce, even when the connector's own announcement is what fails."""
        self.emit(connection_state(self, state, **fields))

    async def _drop_upstream(self, reason: str) -> None:
        self.ready.clear()
        up, self.up = self.up, None
        if up is not None:
            try:
                await asyncio.wait_for(up.close(reason), 5)
            except Exception:
                log.debug("close of %s failed", self.spec.key, exc_info=True)

    async def _release(self, err: SockethubError) -> None:
        log.error("giving up %s connection %s", self.manager.platform.name, self.spec.key[:8])
        self._fail_first(err)
        self._tell("disconnected", reason=err.message)
        await self.manager.forget(self.spec.key, self)

    async def _run(self, attempt: int) -> None:
        connector = self.manager.connector
        if self.takeover and not attempt:
            attempt = 1
            self.announce("reconnecting", attempt=1, delay=0, reason="worker node lost")
        while not self.closing:
            first = not self.takeover and not self.first.done()  # a browser waits for it
            try:
                await self.admission.turn(first)
            except SockethubError as exc:  # refused by the governor: tell them, no retry
                await self._give_up(exc, exc.message, exc.condition)
                return
            up = connector.new_upstream(self.spec, self.emit)
            self.up = up
            self.announce("connecting", attempt=attempt)
            try:
                await asyncio.wait_for(up.connect(), connector.connect_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fail = await self.admission.failed(up, exc)
                if fail.permanent or first:
                    # No retry; someone may be waiting for this connect: tell them now.
                    assert fail.err is not None
                    await self._give_up(fail.err, fail.reason, fail.condition)
                    return
            else:
                self.announce("connected")
                if attempt or self.takeover:
                    rooms = await asyncio.to_thread(self.manager.rooms, self.spec.key)
                    await up.restore(rooms)
                # Only now: what waited during the reconnect finds its rooms rejoined.
                self.restoring = ""
                self.ready.set()
                self.manager.holding.notify(self.spec.key)  # the verbs held meanwhile run
                self.ups += 1
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
                fail = await self.admission.failed(up, None, reason)
                if fail.permanent:  # e.g. K-lined while connected: never back
                    self.announce("disconnected", reason=fail.reason, condition=fail.condition)
                    await self.manager.forget(self.spec.key, self)
                    return
            attempt += 1
            self.restoring = fail.reason
            delay = max(connector.backoff.delay(attempt), fail.pause)
            self.manager.stats.inc("sockethub_worker_reconnects_total", self.manager.platform.name)
            self.announce(
                "reconnecting",
                attempt=attempt,
                delay=delay,
                reason=fail.reason,
                condition=fail.condition,
            )
            await asyncio.sleep(delay)

    async def _give_up(self, err: SockethubError, reason: str, condition: str | None) -> None:
        self.announce("disconnected", reason=reason, condition=condition)
        self._fail_first(err)
        await self.manager.forget(self.spec.key, self)

    async def stop(self, reason: str, announce: str | None = "disconnected") -> None:
        """Close here. ``announce`` is the state the sessions hear: ``reconnecting`` when
        another node is to take the connection over, ``None`` when that node says so itself
        (a late word from here could arrive after its news)."""
        self.closing = True
        if self.up is not None:
            try:
                await asyncio.wait_for(self.up.close(reason), 5)
            except Exception:
                log.debug("close of %s failed", self.spec.key, exc_info=True)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self._fail_first(NotConnected("connection closed"))
        if announce is not None:
            self._tell(announce, reason=reason)
        self.manager.holding.notify(self.spec.key)  # held verbs: they fail, or move on
