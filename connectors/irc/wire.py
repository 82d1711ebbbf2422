"""The socket of one IRC connection: an asyncio protocol on the worker's loop.

Every IRC connection of a worker process shares that process's one loop, and the server
at the other end was chosen by a browser, so nothing a server sends may hold the loop or
grow without bound:

- lines come out of a ``LineReader`` (only new bytes scanned; a line over its cap raises
  ``LineTooLong``, which the owner turns into a ``protocol-error`` close);
- an inbound line budget (a ``TokenBucket``): past it, reading pauses until the budget
  refills, so a flooding server is slowed down by TCP itself and nothing is dropped;
- reads are at most ``READ_SIZE`` bytes (a buffered protocol: asyncio would read 256 KiB
  at a time), so a paced connection holds little and its server feels the pause soon;
- at most ``SLICE`` lines are handled per loop callback, so one connection's burst never
  delays the others' for long;
- output a server never reads is capped (``max_unsent``).

Sending goes through ``lines.encode_line`` and nowhere else. Asyncio-only: call it from
the loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from envelopes.errors import UpstreamUnavailable, os_reason

from .lines import TokenBucket, decode_line, encode_line
from .reader import LineReader, LineTooLong

__all__ = ["IrcWire", "READ_SIZE", "SLICE"]

log = logging.getLogger("sockethub.irc")

SLICE = 10  # lines handled per loop callback before the others get their turn
READ_SIZE = 16384  # bytes per read from the socket


class IrcWire(asyncio.BufferedProtocol):
    """``on_line`` gets each decoded line; ``on_overflow`` a line over its cap (the
    connection is aborted right after); ``on_lost`` the reason, once, when it is gone."""

    def __init__(
        self,
        reader: LineReader,
        budget: TokenBucket | None,
        on_line: Callable[[str], None],
        on_overflow: Callable[[LineTooLong], None],
        on_lost: Callable[[str], None],
        max_unsent: int = 262144,
    ):
        self.reader = reader
        self.budget = budget
        self.on_line = on_line
        self.on_overflow = on_overflow
        self.on_lost = on_lost
        self.max_unsent = max_unsent
        self.transport: asyncio.Transport | None = None
        self._paused = False
        self._timer: asyncio.Handle | None = None
        self._gone = False
        self._chunk = memoryview(bytearray(READ_SIZE))

    # -- asyncio.BufferedProtocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._chunk

    def buffer_updated(self, nbytes: int) -> None:
        self.reader.feed(self._chunk[:nbytes])
        self._drain()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._lost("connection closed by the server")
        else:  # the OS's words only (envelopes.errors.os_reason), never a library's text
            why = os_reason(exc) if isinstance(exc, OSError) else "network error"
            self._lost(f"connection lost: {why}")

    # -- receiving -------------------------------------------------------------------------
    def _drain(self) -> None:
        """Hand out held lines while the budget allows; pause reading when it does not."""
        for _ in range(SLICE):
            if self._gone:
                return
            if self.budget is not None and (wait := self.budget.delay()) > 0:
                self._pause(wait)
                return
            try:
                raw = self.reader.next_line()
            except LineTooLong as exc:
                self.on_overflow(exc)
                self.close(abort=True)
                return
            if raw is None:
                return
            if self.budget is not None:
                self.budget.take()
            if raw:
                try:
                    self.on_line(decode_line(raw))
                except Exception:  # our bug must not leave the lines after it unread
                    log.exception("IRC line handler failed")
        self._pause(0)  # a full slice: let the loop serve others, then go on

    def _pause(self, wait: float) -> None:
        if self._paused or self.transport is None:
            return
        self._paused = True
        self.transport.pause_reading()
        self._timer = asyncio.get_running_loop().call_later(wait, self._resume)

    def _resume(self) -> None:
        self._timer = None
        self._paused = False
        self._drain()
        if not self._paused and not self._gone and self.transport is not None:
            self.transport.resume_reading()

    # -- sending ---------------------------------------------------------------------------
    def send(self, line: str, field: str | None = None) -> None:
        """Write one line; ``encode_line`` refuses it (naming ``field``) before anything
        is written if it could not be one line."""
        data = encode_line(line, field)
        if self._gone or self.transport is None or self.transport.is_closing():
            raise UpstreamUnavailable("not connected")
        if self.transport.get_write_buffer_size() + len(data) > self.max_unsent:
            self.close(abort=True, reason="the server does not read what we send")
            raise UpstreamUnavailable("the server does not read what we send")
        self.transport.write(data)

    # -- closing ---------------------------------------------------------------------------
    def close(self, *, abort: bool = False, reason: str = "") -> None:
        """Close now (``abort``: drop unsent output too) and report ``on_lost`` at once."""
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self._lost(reason)

    def _lost(self, reason: str) -> None:
        if self._gone:
            return
        self._gone = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.on_lost(reason)
