"""A scripted XMPP server on 127.0.0.1 that floods the stream instead of logging anyone in.

It answers the client's stream header with its own, then sends ``opening`` and ``filler``
(64 KiB at a time) until ``total`` bytes, as fast as the client reads: one stanza without
end (``<message><body>`` + ``x``...), whitespace for ever, a start tag that never closes.
``sent`` counts what it wrote. Use it on the test's loop (``async with``) or, for the
worker processes of a ``Stack``, on a loop of its own (``with server.threaded():``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

__all__ = ["HostileXmppServer"]

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0'>"
)


class HostileXmppServer:
    """Answers the stream header with its own, then sends ``opening`` and ``filler``
    (64 KiB at a time) until ``total`` bytes, as fast as the client reads."""

    def __init__(self, opening: bytes, filler: bytes, total: int = 32 * 1024 * 1024):
        self.opening, self.filler, self.total = opening, filler, total
        self.sent = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b">")  # the client's stream header (or its XML decl)
            writer.write(HEADER + self.opening)
            chunk = self.filler * (65536 // len(self.filler))
            while self.sent < self.total:
                writer.write(chunk)
                self.sent += len(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> HostileXmppServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    @contextlib.contextmanager
    def threaded(self) -> Iterator[HostileXmppServer]:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.__aenter__(), loop).result(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.__aexit__(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
