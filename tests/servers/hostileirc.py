"""A scripted IRC server on 127.0.0.1 that turns hostile once a client has registered.

It runs its own asyncio loop in a thread, so sync tests (and the worker processes of a
``Stack``) can use it. Registration is ordinary (CAP LS, NICK/USER, CAP END → 001); then
what the server does depends on the nick the client registered with:

    good…   a PRIVMSG to the client every ``interval`` s, its text ``t=<time.time()>``
            (the send time, for send-to-arrival measurements)
    flood…  ``flood_bytes`` without a newline, as fast as the client reads
    names…  353 (RPL_NAMREPLY) lines for #big, new names each, never a 366
    spam…   short NOTICE lines without end

Writes wait for ``drain``, so a client that stops reading slows the server down, as TCP
would any real server. ``sent`` counts the bytes written to each nick; ``received`` keeps
every line received (split at LF only, so a stray CR shows).

    with HostileIrcServer() as srv:
        ... credentials {"server": "127.0.0.1", "port": srv.port, "secure": False}
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from typing import Any

__all__ = ["HostileIrcServer"]


class HostileIrcServer:
    def __init__(self, interval: float = 1.0, flood_bytes: int = 16 * 1024 * 1024):
        self.interval = interval
        self.flood_bytes = flood_bytes
        self.sent: dict[str, int] = defaultdict(int)
        self.received: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> HostileIrcServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            nick = await self._register(reader, writer)
            if nick:
                behave = asyncio.create_task(self._behave(nick, writer))
                try:
                    while await reader.readline():  # keep reading (PONG, QUIT), ignore it
                        pass
                finally:
                    behave.cancel()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _register(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        nick, user, ended = "", False, False
        while not (nick and user and ended):
            raw = await reader.readline()
            if not raw:
                return ""
            line = raw.decode("latin-1").removesuffix("\n").removesuffix("\r")
            self.received.append(line)
            cmd, _, rest = line.partition(" ")
            if cmd == "CAP" and rest.startswith("LS"):
                writer.write(b":srv CAP * LS :multi-prefix\r\n")
            elif cmd == "CAP" and rest.startswith("REQ"):  # offered, then refused: all or none
                writer.write(b":srv CAP * NAK " + rest[4:].encode("latin-1") + b"\r\n")
            elif cmd == "CAP" and rest == "END":
                ended = True
            elif cmd == "NICK":
                nick = rest
            elif cmd == "USER":
                user = True
            elif cmd == "PING":
                writer.write(f":srv PONG srv {rest}\r\n".encode())
            await writer.drain()
        writer.write(f":srv 001 {nick} :Welcome\r\n".encode())
        await writer.drain()
        return nick

    async def _write(self, nick: str, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.sent[nick] += len(data)
        await writer.drain()

    async def _behave(self, nick: str, writer: asyncio.StreamWriter) -> None:
        try:
            if nick.startswith("good"):
                while True:
                    await asyncio.sleep(self.interval)
                    line = f":bob!b@h PRIVMSG {nick} :t={time.time():.6f}\r\n"
                    await self._write(nick, writer, line.encode())
            elif nick.startswith("flood"):
                chunk = b"x" * 65536
                while self.sent[nick] < self.flood_bytes:
                    await self._write(nick, writer, chunk)
            elif nick.startswith("names"):
                n = 0
                while True:  # new names every line, so a client that keeps them grows
                    names = " ".join(f"u{n + i}" for i in range(40))
                    n += 40
                    await self._write(nick, writer, f":srv 353 {nick} = #big :{names}\r\n".encode())
            elif nick.startswith("spam"):
                line = f":srv NOTICE {nick} :spam\r\n".encode()
                while True:
                    await self._write(nick, writer, line * 100)
        except (ConnectionError, asyncio.CancelledError):
            pass
