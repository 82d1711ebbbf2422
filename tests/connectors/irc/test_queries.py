"""WHOIS and LIST against a scripted server that offers labeled-response: answers cut
short by a batch that never ends (too long, or gone silent) fail with a clear error and
leave the connection up; a slow LIST answers with its progress and goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectors.irc import listing
from connectors.irc.listing import Claim, list_rooms
from connectors.irc.rooms import Snapshot
from connectors.irc.whois import whois
from envelopes.errors import ProtocolError, UpstreamError, UpstreamTimeout
from envelopes.settings import Settings

from .test_client import run, upstream


class LabelServer:
    """Registers anyone, offers ``batch`` and ``labeled-response``, and answers:

    ``WHOIS ok``: a whole labelled batch; ``WHOIS endless``: a batch of 319 lines that
    never ends; ``WHOIS silent``: a batch that opens, then a notice much later;
    ``LIST``: ``channels`` 322 lines, ``pace`` seconds apart, then 323 (``busy``: a 263
    "try again" instead)."""

    def __init__(self, channels: int = 20, pace: float = 0.0, busy: bool = False):
        self.busy = busy
        self.channels = channels
        self.pace = pace
        self.lists = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str) -> None:
            writer.write(f"{line}\r\n".encode())

        nick = "?"
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            tags, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
            label = tags.partition("label=")[2].partition(";")[0]
            cmd, _, arg = rest.partition(" ")
            if cmd == "CAP" and arg.startswith("LS"):
                send(":srv CAP * LS :batch labeled-response")
            elif cmd == "CAP" and arg.startswith("REQ"):
                send(f":srv CAP * ACK :{arg[3:].strip().lstrip(':')}")
            elif cmd == "NICK":
                nick = arg
            elif cmd == "CAP" and arg == "END":
                send(f":srv 001 {nick} :Welcome")
            elif cmd == "PING":
                send(f":srv PONG srv {arg}")
            elif cmd == "QUIT":
                break
            elif cmd == "WHOIS":
                send(f"@label={label} :srv BATCH +b{label} labeled-response")
                if arg == "ok":
                    send(f"@batch=b{label} :srv 311 {nick} ok ~o host * :Okay")
                    send(f"@batch=b{label} :srv 318 {nick} ok :End")
                    send(f":srv BATCH -b{label}")
                elif arg == "endless":
                    for i in range(200):
                        send(f"@batch=b{label} :srv 319 {nick} endless :#c{i}")
                elif arg == "silent":
                    send(f"@batch=b{label} :srv 311 {nick} silent ~s host * :Shh")
                    await writer.drain()
                    await asyncio.sleep(0.6)
                    send(f":srv NOTICE {nick} :much later")
            elif cmd == "LIST" and self.busy:
                send(f"@label={label} :srv 263 {nick} LIST :Server load is temporarily too heavy")
            elif cmd == "LIST":
                self.lists += 1
                send(f"@label={label} :srv BATCH +L labeled-response")
                for i in range(self.channels):
                    send(f"@batch=L :srv 322 {nick} #r{i} {i} :topic {i}")
                    if self.pace:
                        await writer.drain()
                        await asyncio.sleep(self.pace)
                send(f"@batch=L :srv 323 {nick} :End of LIST")
                send(":srv BATCH -L")
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> LabelServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


SETTINGS = Settings(
    allow_private_addresses=True,
    irc_flood_rate=0,
    irc_max_reply_lines=50,
    irc_batch_silence=0.3,
)


@pytest.mark.parametrize(
    "nick, setting",
    [("endless", "SOCKETHUB_IRC_MAX_REPLY_LINES"), ("silent", "SOCKETHUB_IRC_BATCH_SILENCE")],
)
def test_an_answer_whose_batch_never_ends_fails_clearly_and_the_connection_stays(nick, setting):
    async def go() -> tuple[Exception, dict[str, Any]]:
        async with LabelServer() as server:
            up = upstream(server.port, SETTINGS)
            await up.connect()
            assert up.labels
            try:
                await whois(up, nick, 5)
            except ProtocolError as exc:
                failed: Exception = exc
            assert not up.closed.is_set()
            ok = await whois(up, "ok", 5)  # the same connection answers the next one
            await up.close("bye")
            return failed, ok

    failed, ok = asyncio_run(go())
    assert setting in str(failed) and "WHOIS" in str(failed), failed
    assert ok["realName"] == "Okay"


def test_a_batch_left_open_by_a_silent_server_ends_at_the_request_deadline():
    async def go() -> None:
        async with LabelServer() as server:
            up = upstream(server.port, Settings(allow_private_addresses=True, irc_flood_rate=0))
            await up.connect()
            with pytest.raises(UpstreamTimeout, match="WHOIS silent"):
                await whois(up, "silent", 0.3)
            await up.close("bye")

    asyncio_run(go())


def test_a_slow_list_answers_with_its_progress_then_the_whole_list(monkeypatch):
    monkeypatch.setattr(listing, "RENEW_EVERY", 0.1)
    stored: list[Snapshot] = []
    released: list[bool] = []
    renewed: list[int] = []

    async def go() -> tuple[Any, Any, Any, int]:
        async with LabelServer(channels=30, pace=0.02) as server:
            up = upstream(server.port, SETTINGS)
            await up.connect()
            start = Claim(stored.append, lambda: released.append(True), renewed.append)
            early = await list_rooms(up, 0.15, start)
            joined = await list_rooms(up, 0.05, None)  # another asker joins the same LIST
            done = await list_rooms(up, 5, None)
            await up.close("bye")
            return early, joined, done, server.lists

    early, joined, done, lists = asyncio_run(go())
    assert isinstance(early, int) and 0 < early < 30, early
    assert isinstance(joined, int) and joined >= early
    assert isinstance(done, Snapshot) and len(done.rooms) == 30
    assert done.rooms[0] == ("#r29", 29, "topic 29")  # most members first
    assert stored == [done] and released == [True] and lists == 1
    assert renewed and renewed == sorted(renewed) and 0 < renewed[-1] <= 30  # the count so far


def test_a_server_too_busy_to_list_is_a_retryable_error_and_nothing_is_kept():
    stored: list[Snapshot] = []
    released: list[bool] = []

    async def go() -> None:
        async with LabelServer(busy=True) as server:
            up = upstream(server.port, SETTINGS)
            await up.connect()
            with pytest.raises(UpstreamError, match="too busy") as exc:
                await list_rooms(up, 5, Claim(stored.append, lambda: released.append(True)))
            assert exc.value.retryable
            await up.close("bye")

    asyncio_run(go())
    assert stored == [] and released == [True]


def asyncio_run(coro: Any) -> Any:
    out: list[Any] = []

    async def keep() -> None:
        out.append(await coro)

    run(keep())
    return out[0]
