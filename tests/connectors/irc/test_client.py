"""IrcUpstream against a scripted IRC server on 127.0.0.1: SASL, PASS, the address guard,
the one guard every outgoing line passes."""

from __future__ import annotations

import asyncio
import base64

import pytest

from connectors.irc.client import IrcUpstream
from connectors.persistent import ConnectionSpec
from envelopes.errors import AuthenticationFailed, BlockedAddress, InvalidEnvelope
from envelopes.settings import Settings


class ScriptedServer:
    """Speaks just enough IRCv3 registration: CAP LS/REQ/END, SASL PLAIN, NICK/USER.

    ``cap_ls`` is the CAP LS reply, one or several lines (302 continuation); SASL
    payloads are put together from their 400-byte chunks (IRCv3 SASL 3.1); ``welcome``
    is sent 0.2 s after 001 (a test's flood)."""

    def __init__(
        self,
        sasl: bool,
        password: str = "right",
        cap_ls: list[str] | None = None,
        welcome: bytes = b"",
        stop_reading_after_welcome: bool = False,
    ):
        self.sasl = sasl
        self.password = password
        self.cap_ls = cap_ls or ["CAP * LS :multi-prefix" + (" sasl=PLAIN" if sasl else "")]
        self.welcome = welcome
        self.deaf = stop_reading_after_welcome
        self.lines: list[str] = []
        self.sasl_blob: bytes | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str) -> None:
            writer.write(f":srv {line}\r\n".encode())

        def welcome() -> None:
            send(f"001 {nick} :Welcome")
            if self.welcome:  # once the client has taken in its 001
                asyncio.get_running_loop().call_later(0.2, writer.write, self.welcome)

        nick, negotiating, registered = "?", False, False
        chunks: list[str] = []
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            self.lines.append(line)
            cmd, _, rest = line.partition(" ")
            if cmd == "CAP" and rest.startswith("LS"):
                negotiating = True  # registration waits for CAP END (IRCv3 capability negotiation)
                for reply in self.cap_ls:
                    send(reply)
            elif cmd == "CAP" and rest.startswith("REQ"):
                send(f"CAP * ACK :{rest[3:].strip().lstrip(':')}")  # all it was asked for
            elif cmd == "AUTHENTICATE" and rest == "PLAIN":
                writer.write(b"AUTHENTICATE +\r\n")
            elif cmd == "AUTHENTICATE":
                if rest != "+":
                    chunks.append(rest)
                if len(rest) < 400:  # the last chunk (a "+" after an exact 400)
                    self.sasl_blob = base64.b64decode("".join(chunks))
                    blob = self.sasl_blob.decode().split("\0")
                    send("903 * :SASL ok" if blob[2] == self.password else "904 * :SASL failed")
            elif cmd == "NICK":
                nick = rest
            elif cmd == "CAP" and rest == "END":
                negotiating = False
                if registered:
                    welcome()
            elif cmd == "USER":
                registered = True
                if not negotiating:
                    welcome()
            elif cmd == "PING":
                send(f"PONG srv {rest}")
            await writer.drain()
            if self.deaf and registered and not negotiating:
                await asyncio.sleep(60)  # a server that stops reading

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def upstream(port: int, settings: Settings, actor: dict | None = None, emit=None, **creds):
    c = {"nick": "ann", "server": "127.0.0.1", "port": port, "secure": False, **creds}
    actor = actor or {"id": "ann@127.0.0.1"}
    return IrcUpstream(ConnectionSpec("k", actor, c), emit or (lambda a: None), settings)


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
            up = upstream(srv.port, PRIVATE_OK, password="pw :with spaces")
            await up.connect()
            # A trailing parameter, so spaces and a leading ':' stay in the password.
            assert "PASS :pw :with spaces" in srv.lines
            assert srv.lines.index("PASS :pw :with spaces") < srv.lines.index("NICK ann")
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


def test_a_long_password_goes_in_400_byte_sasl_chunks():
    async def go():
        password = "p" * 600
        async with ScriptedServer(sasl=True, password=password) as srv:
            up = upstream(srv.port, PRIVATE_OK, password=password)
            await up.connect()
            sent = [ln.split(" ", 1)[1] for ln in srv.lines if ln.startswith("AUTHENTICATE ")]
            assert sent[0] == "PLAIN"
            assert [len(c) for c in sent[1:]] == [400, 400, 12]  # 608 bytes → 812 in base64
            assert srv.sasl_blob == f"ann\0ann\0{password}".encode()
            await up.close("bye")

    run(go())


def test_a_sasl_payload_of_exactly_400_bytes_ends_with_a_plus():
    async def go():
        password = "q" * (300 - 8)  # "ann\0ann\0" + 292 bytes: 300 → 400 in base64
        async with ScriptedServer(sasl=True, password=password) as srv:
            up = upstream(srv.port, PRIVATE_OK, password=password)
            await up.connect()
            sent = [ln.split(" ", 1)[1] for ln in srv.lines if ln.startswith("AUTHENTICATE ")]
            assert [len(c) for c in sent[1:]] == [400, 1] and sent[-1] == "+"
            await up.close("bye")

    run(go())


def test_a_cap_ls_reply_over_several_lines_is_read_whole():
    async def go():
        cap_ls = ["CAP * LS * :multi-prefix away-notify", "CAP * LS :server-time sasl=PLAIN"]
        async with ScriptedServer(sasl=True, cap_ls=cap_ls) as srv:
            up = upstream(srv.port, PRIVATE_OK, password="right")
            await up.connect()
            assert "sasl=PLAIN" in up.caps and "multi-prefix" in up.caps
            assert "CAP REQ :sasl" in srv.lines  # the last line's sasl was seen
            assert not any(ln.startswith("PASS") for ln in srv.lines)
            await up.close("bye")

    run(go())


def test_a_cr_in_the_actor_name_never_reaches_the_server():
    async def go():
        async with ScriptedServer(sasl=False) as srv:
            actor = {"id": "ann@127.0.0.1", "name": "Ann\rQUIT :injected"}
            up = upstream(srv.port, PRIVATE_OK, actor=actor)
            with pytest.raises(InvalidEnvelope, match="actor.name") as info:
                await up.connect()
            assert info.value.path == "actor.name"
            await asyncio.sleep(0.1)
            assert not any("QUIT" in ln or "\r" in ln for ln in srv.lines), srv.lines

    run(go())


@pytest.mark.parametrize(
    ("creds", "path"),
    [
        ({"nick": "ann x"}, "credentials.nick"),
        ({"username": "ann 0 * :fake"}, "credentials.username"),
        ({"realname": "Ann\0"}, "credentials.realname"),
        ({"password": "pw\nQUIT"}, "credentials.password"),
    ],
)
def test_fields_that_would_break_a_registration_line_are_refused(creds, path):
    async def go():
        async with ScriptedServer(sasl=False) as srv:
            up = upstream(srv.port, PRIVATE_OK, **creds)
            with pytest.raises(InvalidEnvelope) as info:
                await up.connect()
            assert info.value.path == path, info.value
            assert not any(ln.startswith(("NICK", "USER", "PASS")) for ln in srv.lines)

    run(go())


def test_every_written_line_passes_the_guard():
    async def go():
        async with ScriptedServer(sasl=False) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            for bad in ("PRIVMSG #c :a\rQUIT", "PRIVMSG #c :a\nQUIT", "PRIVMSG #c :a\0b"):
                with pytest.raises(InvalidEnvelope, match="CR, LF or NUL"):
                    await up.send_lines([bad])
            with pytest.raises(InvalidEnvelope, match="too long"):
                await up.send_lines(["PRIVMSG #c :" + "x" * 600])
            await up.roundtrip([], lambda e: False, 5)  # still connected, nothing leaked
            assert not any("QUIT" in ln or "xxxx" in ln for ln in srv.lines)
            await up.close("bye")

    run(go())
