"""A TCP proxy on 127.0.0.1 for tests that cut a connection in the middle.

    with TcpProxy("127.0.0.1", 5222).threaded() as proxy:
        ...                 # clients dial proxy.port instead
        proxy.cut(hold=True)  # every open connection dropped; new ones wait
        proxy.release()       # new connections go through again

It forwards bytes both ways without looking at them (TLS passes through untouched), on
a loop of its own in a thread, so it serves the worker processes of a ``Stack``. ``cut``
closes both sides of every connection at once, as a network fault would look to the
client (the server sees the close too); with ``hold`` the connections made afterwards are
accepted but not forwarded until ``release``. ``accepted`` counts the connections made;
``accepted_at`` keeps when each was (``time.monotonic()``): in front of an IRC server, the
pace at which clients come to it, as the server sees it (``paced``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

__all__ = ["TcpProxy", "paced"]


def paced(times: list[float], rate: float, burst: int, slack: float = 0.05) -> list[str]:
    """What in ``times`` (sorted accept times) came faster than ``rate`` per second after a
    burst of ``burst``: an empty list when the pace was kept."""
    times = sorted(times)
    return [
        f"accept {i} at +{t - times[0]:.3f} s, before +{(i - burst + 1) / rate:.3f} s"
        for i, t in enumerate(times)
        if i >= burst and t - times[0] < (i - burst + 1) / rate - slack
    ]


class TcpProxy:
    def __init__(self, host: str, port: int):
        self.host, self.port_to = host, port
        self.accepted = 0
        self.accepted_at: list[float] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._open = asyncio.Event()
        self._open.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.accepted_at.append(time.monotonic())
        self._writers.add(writer)
        try:
            await self._open.wait()
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port_to)
        except (ConnectionError, OSError):
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    async def _cut(self, hold: bool) -> None:
        if hold:
            self._open.clear()
        for w in list(self._writers):
            transport = w.transport
            with contextlib.suppress(Exception):
                transport.abort()  # no FIN handshake, no flush: a dead link
        self._writers.clear()

    def cut(self, hold: bool = False) -> None:
        asyncio.run_coroutine_threadsafe(self._cut(hold), self._loop).result(5)

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._open.set)

    @contextlib.contextmanager
    def threaded(self) -> Iterator[TcpProxy]:
        self._loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tcp-proxy")
        thread.start()

        async def start() -> asyncio.Server:
            self._open = asyncio.Event()
            self._open.set()
            return await asyncio.start_server(self._handle, "127.0.0.1", 0)

        server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:

            async def stop() -> None:
                server.close()
                await self._cut(False)

            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
            self._loop.close()
