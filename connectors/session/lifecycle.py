"""``LiveUpstream``: the part of an upstream every persistent platform has in common.

An upstream is open until it ends, once: ``end`` sets the ``closed`` flag, keeps the
reason (a server's ERROR text, a stream error, the OS's words) and fails every waiting
request with it. A server that broke one of our caps (``fatal``, a ``ProtocolError``) is
not reconnected: ``wait_closed`` raises it, and the final ``disconnected`` event carries
its code, so a program can tell a hostile server from a network drop.

Asyncio only: an upstream lives on the worker's loop.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from typing import Any

from envelopes.errors import ProtocolError, UpstreamUnavailable

from ..persistent import ConnectionSpec, Emit, Upstream
from .waiters import Waiter, Waiters

__all__ = ["FATAL_GRACE", "LiveUpstream"]

# A server that broke a cap right after its welcome: let whoever waits for the connection
# see it up first (the runtime stops announcing it ready as soon as ``wait_closed``
# raises, and would leave such a waiter waiting for ever).
FATAL_GRACE = 0.1


class LiveUpstream(Upstream):
    """An upstream to ``where`` (the server, named in errors) whose protocol errors are
    values of type ``failure`` (``IrcError``, ``XmppError``)."""

    def __init__(self, spec: ConnectionSpec, emit: Emit, where: str, failure: type[Any]):
        super().__init__(spec, emit)
        self.waiters = Waiters(where, failure)
        self.closed = asyncio.Event()
        self.close_reason = "connection closed"
        self.fatal: ProtocolError | None = None  # the cap a server broke, if it did

    @abc.abstractmethod
    def connection_event(self, state: str, **fields: Any) -> dict[str, Any]:
        """The platform's connection state event (``persistent.connection_event``)."""

    def state_event(self, state: str, **fields: Any) -> dict[str, Any]:
        event = self.connection_event(state, **fields)
        if state == "disconnected" and self.fatal is not None:
            event["object"]["code"] = self.fatal.code  # why, for programs: protocol-error
        return event

    # -- requests --------------------------------------------------------------------------
    def expect(self, check: Callable[..., Any]) -> Waiter:
        return self.waiters.expect(check)

    async def wait(self, waiter: Waiter, timeout: float, what: str) -> Any:
        return await self.waiters.wait(waiter, timeout, what)

    # -- the end ---------------------------------------------------------------------------
    def end(self, reason: str | None = None) -> bool:
        """The connection is gone (``reason``, when given, says why): fail every waiter.
        True the first time only."""
        if self.closed.is_set():
            return False
        if reason:
            self.close_reason = reason
        self.closed.set()
        self.waiters.fail_all(
            self.fatal
            or UpstreamUnavailable(f"connection to {self.waiters.where} lost: {self.close_reason}")
        )
        return True

    async def closed_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the end (e.g. after a QUIT); True if it came."""
        try:
            await asyncio.wait_for(self.closed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def wait_closed(self) -> str:
        await self.closed.wait()
        if self.fatal is not None:
            await asyncio.sleep(FATAL_GRACE)
            raise self.fatal  # a hostile server: reconnecting would only repeat it
        return self.close_reason
