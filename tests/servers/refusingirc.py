"""A scripted IRC server on 127.0.0.1 that refuses every client the way networks do.

    with RefusingIrcServer("throttle") as srv:   # ERROR :Closing Link: ... (Throttled: ...)
    with RefusingIrcServer("kline") as srv:      # 465 then ERROR :Closing Link: ... (K-Lined)

It answers at once on accept, before registration (as charybdis' throttle does), then
closes. ``accepted`` keeps the time of every connection accepted (``time.monotonic()``),
so a test can tell whether, and when, the clients came back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

__all__ = ["RefusingIrcServer", "SAYS"]

SAYS = {
    "throttle": b"ERROR :Closing Link: 127.0.0.1 (Throttled: Reconnecting too fast) "
    b"-Email admin@example.test for more information.\r\n",
    "kline": b":srv 465 * :You are banned from this server- K-Lined for abuse\r\n"
    b"ERROR :Closing Link: 127.0.0.1 (K-Lined)\r\n",
}


class RefusingIrcServer:
    def __init__(self, mode: str):
        self.mode = mode
        self.accepted: list[float] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> RefusingIrcServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        try:
            writer.write(SAYS[self.mode])
            await writer.drain()
            await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        finally:
            writer.close()
