"""IrcUpstream against a scripted IRC server on 127.0.0.1: SASL, PASS, the address guard."""

from __future__ import annotations

import asyncio
import base64

import pytest

from connectors.irc.client import IrcUpstream
from connectors.persistent import ConnectionSpec
from envelopes.errors import AuthenticationFailed, BlockedAddress
from envelopes.settings import Settings


class ScriptedServer:
    """Speaks just enough IRCv3 registration: CAP LS/REQ/END, SASL PLAIN, NICK/USER."""

    def __init__(self, sasl: bool, password: str = "right"):
        self.sasl = sasl
        self.password = password
        self.lines: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str) -> None:
            writer.write(f":srv {line}\r\n".encode())

        nick, negotiating, registered = "?", False, False
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            self.lines.append(line)
            cmd, _, rest = line.partition(" ")
            if cmd == "CAP" and rest.startswith("LS"):
                negotiating = True  # registration waits for CAP END (IRCv3 capability negotiation)
                send("CAP * LS :multi-prefix" + (" sasl=PLAIN" if self.sasl else ""))
            elif cmd == "CAP" and rest.startswith("REQ"):
                send("CAP * ACK :sasl")
            elif cmd == "AUTHENTICATE" and rest == "PLAIN":
                writer.write(b"AUTHENTICATE +\r\n")
            elif cmd == "AUTHENTICATE":
                blob = base64.b64decode(rest).decode().split("\0")
                send("903 * :SASL ok" if blob[2] == self.password else "904 * :SASL failed")
            elif cmd == "NICK":
                nick = rest
            elif cmd == "CAP" and rest == "END":
                negotiating = False
                if registered:
                    send(f"001 {nick} :Welcome")
            elif cmd == "USER":
                registered = True
                if not negotiating:
                    send(f"001 {nick} :Welcome")
            elif cmd == "PING":
                send(f"PONG srv {rest}")
            await writer.drain()

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def upstream(port: int, settings: Settings, **creds) -> IrcUpstream:
    c = {"nick": "ann", "server": "127.0.0.1", "port": port, "secure": False, **creds}
    return IrcUpstream(ConnectionSpec("k", {"id": "ann@127.0.0.1"}, c), lambda a: None, settings)


PRIVATE_OK = Settings(allow_private_addresses=True)


def run(coro) -> None:
    """asyncio.run in a thread of its own: Playwright's sync API, used by the browser tests
    in the same pytest process, keeps an event loop running in the main thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def test_sasl_plain_when_the_server_offers_it():
    async def go():
        async with ScriptedServer(sasl=True) as srv:
            up = upstream(srv.port, PRIVATE_OK, password="right")
            await up.connect()
            auth = [
                ln
                for ln in srv.lines
                if ln.startswith("AUTHENTICATE ") and ln != "AUTHENTICATE PLAIN"
            ]
            assert base64.b64decode(auth[0].split()[1]) == b"ann\0ann\0right"
            assert not any(ln.startswith("PASS") for ln in srv.lines)
            assert srv.lines[-1] == "CAP END"  # the welcome came only after it
            await up.close("bye")

    run(go())


def test_sasl_failure_is_a_permanent_auth_error():
    async def go():
        async with ScriptedServer(sasl=True) as srv:
            up = upstream(srv.port, PRIVATE_OK, password="wrong")
            with pytest.raises(AuthenticationFailed):
                await up.connect()

    run(go())


def test_server_password_when_no_sasl():
    async def go():
        async with ScriptedServer(sasl=False) as srv:
            up = upstream(srv.port, PRIVATE_OK, password="pw")
            await up.connect()
            assert "PASS pw" in srv.lines
            assert srv.lines.index("PASS pw") < srv.lines.index("NICK ann")
            await up.close("bye")

    run(go())


def test_private_addresses_refused_by_default():
    async def go():
        up = upstream(6667, Settings())
        with pytest.raises(BlockedAddress, match="loopback"):
            await up.connect()

    run(go())


def test_operator_allowlist():
    async def go():
        up = upstream(
            6667, Settings(allow_private_addresses=True, allowed_hosts=("*.example.org",))
        )
        with pytest.raises(BlockedAddress, match="not an allowed server"):
            await up.connect()

    run(go())
