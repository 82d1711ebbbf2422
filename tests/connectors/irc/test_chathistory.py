"""IRCv3 chathistory against a scripted server: history pages before, after, around and
latest; after the server drops the connection, the missed lines arrive late, once; a
server without chathistory gets a ``gap`` event instead."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.irc.client import IrcUpstream
from envelopes.settings import Settings

from .test_client import run, upstream

SETTINGS = Settings(allow_private_addresses=True, irc_flood_rate=0)
LOG = [(f"m{i}", f"2026-01-01T00:00:{i:02d}.000Z", f"line {i}") for i in range(10)]


class HistoryServer:
    """Registers anyone, joins what is asked, offers ``draft/chathistory`` (when
    ``history``) with ``CHATHISTORY=4``, and answers from ``LOG``. ``drop()`` closes the
    client's socket; lines ``m8``, ``m9`` only exist once ``missed`` is set."""

    def __init__(self, history: bool = True):
        self.history = history
        self.asked: list[str] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.missed = False

    def log(self) -> list[tuple[str, str, str]]:
        return LOG if self.missed else LOG[:8]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)

        def send(line: str) -> None:
            writer.write(f"{line}\r\n".encode())

        def batch(label: str, chan: str, rows: list[tuple[str, str, str]]) -> None:
            send(f"@label={label} :srv BATCH +h chathistory {chan}")
            for mid, at, text in rows:
                send(f"@batch=h;msgid={mid};time={at} :bob!b@h PRIVMSG {chan} :{text}")
            send(":srv BATCH -h")

        nick = "?"
        caps = "batch labeled-response server-time message-tags"
        if self.history:
            caps += " draft/chathistory"
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            tags, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
            label = tags.partition("label=")[2].partition(";")[0]
            cmd, _, arg = rest.partition(" ")
            if cmd == "CAP" and arg.startswith("LS"):
                send(f":srv CAP * LS :{caps}")
            elif cmd == "CAP" and arg.startswith("REQ"):
                send(f":srv CAP * ACK :{arg[3:].strip().lstrip(':')}")
            elif cmd == "NICK":
                nick = arg
            elif cmd == "CAP" and arg == "END":
                send(f":srv 001 {nick} :Welcome")
                if self.history:
                    send(f":srv 005 {nick} CHATHISTORY=4 :are supported")
            elif cmd == "PING":
                send(f":srv PONG srv {arg}")
            elif cmd == "JOIN":
                send(f":{nick}!a@h JOIN {arg}")
            elif cmd == "CHATHISTORY":
                self.asked.append(arg)
                sub, chan, ref, limit = arg.split(" ")
                rows, n = self.log(), int(limit)
                at = next((i for i, r in enumerate(rows) if f"msgid={r[0]}" == ref), None)
                if sub == "LATEST":
                    got = rows[-n:]
                elif sub == "BEFORE" and at is not None:
                    got = rows[max(0, at - n) : at]
                elif sub == "AFTER" and ref.startswith("timestamp="):
                    got = [r for r in rows if r[1] >= ref[10:]][:n]  # m7 again: skipped
                elif sub == "AFTER" and at is not None:
                    got = rows[at + 1 : at + 1 + n]
                elif sub == "AROUND" and at is not None:
                    got = rows[max(0, at - n // 2) : max(0, at - n // 2) + n]
                else:
                    got = []
                batch(label, chan, got)
            elif cmd == "QUIT":
                break
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> HistoryServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def ids(page: list[dict[str, Any]]) -> list[str]:
    return [a["object"]["id"] for a in page]


def test_server_history_pages_before_after_around_and_latest():
    async def go() -> None:
        async with HistoryServer() as server:
            up = upstream(server.port, SETTINGS)
            await up.connect()
            conv = "#c@127.0.0.1"
            latest = await up.server_history(conv, limit=3)
            assert ids(latest) == ["m5", "m6", "m7"] and latest.more["before"]
            assert latest[0]["published"] == "2026-01-01T00:00:05.000Z"
            assert latest[0]["target"]["id"] == "#c@127.0.0.1"
            assert latest[0]["object"]["content"] == "line 5"
            before = await up.server_history(conv, before="m5", limit=10)  # capped to 4
            assert ids(before) == ["m1", "m2", "m3", "m4"]
            after = await up.server_history(conv, after="m2", limit=2)
            assert ids(after) == ["m3", "m4"]
            around = await up.server_history(conv, around="m4", limit=4)
            assert ids(around) == ["m2", "m3", "m4", "m5"]
            assert server.asked[1] == "BEFORE #c msgid=m5 4"
            await up.close("bye")

    run(go())


def test_without_chathistory_there_is_no_server_history():
    async def go() -> None:
        async with HistoryServer(history=False) as server:
            up = upstream(server.port, SETTINGS)
            await up.connect()
            assert await up.server_history("#c@127.0.0.1", limit=3) is None
            await up.close("bye")

    run(go())


async def _reconnect(
    server: HistoryServer, emitted: list[dict[str, Any]], settings: Settings = SETTINGS
) -> None:
    first = upstream(server.port, settings, emit=emitted.append)
    await first.connect()
    await first.join("#c")
    live = "@msgid=m7;time=2026-01-01T00:00:07.000Z :bob!b@h PRIVMSG #c :line 7"
    server.writers[-1].write(f"{live}\r\n".encode())
    await asyncio.wait_for(_until(lambda: len(emitted) >= 1), 5)
    server.missed = True
    server.writers[-1].close()  # the server drops us
    await asyncio.wait_for(first.closed.wait(), 5)
    second = IrcUpstream(first.spec, emitted.append, settings, marks=first.marks)
    await second.connect()
    await second.restore(["#c"])
    assert second.recovery is not None
    await asyncio.wait_for(second.recovery, 5)
    await second.close("bye")


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.01)


def test_after_a_drop_the_missed_lines_arrive_late_once():
    async def go() -> None:
        async with HistoryServer() as server:
            emitted: list[dict[str, Any]] = []
            await _reconnect(server, emitted)
            sends = [a for a in emitted if a.get("type") == "send"]
            assert [(a["object"]["id"], a.get("late")) for a in sends] == [
                ("m7", None),
                ("m8", True),
                ("m9", True),
            ]
            assert server.asked[-1] == "AFTER #c timestamp=2026-01-01T00:00:07.000Z 4"
            assert not [a for a in emitted if a.get("type") == "gap"]

    run(go())


def test_without_chathistory_a_drop_is_one_gap_event_per_channel():
    async def go() -> None:
        async with HistoryServer(history=False) as server:
            emitted: list[dict[str, Any]] = []
            await _reconnect(server, emitted)
            gaps = [a for a in emitted if a.get("type") == "gap"]
            assert len(gaps) == 1
            assert gaps[0]["target"]["id"] == "#c@127.0.0.1"
            assert gaps[0]["object"]["from"] == "2026-01-01T00:00:07.000Z"
            assert gaps[0]["object"]["type"] == "gap" and gaps[0]["object"]["to"]
            assert gaps[0]["actor"]["id"] == "ann@127.0.0.1"

    run(go())


def test_past_the_cap_the_rest_of_a_gap_is_a_gap_event():
    async def go() -> None:
        async with HistoryServer() as server:
            emitted: list[dict[str, Any]] = []
            capped = Settings(
                allow_private_addresses=True, irc_flood_rate=0, irc_gap_max_messages=2
            )
            await _reconnect(server, emitted, capped)
            late = [a["object"]["id"] for a in emitted if a.get("late")]
            assert late == ["m8"]  # m7 (already delivered) and m8 were the two fetched
            gaps = [a for a in emitted if a.get("type") == "gap"]
            assert [g["object"]["from"] for g in gaps] == ["2026-01-01T00:00:08.000Z"]

    run(go())
