"""What an IRC server can make a connection hold, against scripted servers on 127.0.0.1:
capped lines, capped lists, an inbound line budget; each broken cap a ``protocol-error``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from envelopes.errors import ProtocolError, UpstreamUnavailable
from envelopes.settings import Settings

from .test_client import PRIVATE_OK, ScriptedServer, run, upstream


async def closed_with(up, timeout: float = 5) -> BaseException | str:
    try:
        return await asyncio.wait_for(up.wait_closed(), timeout)
    except ProtocolError as exc:
        return exc


def test_a_line_without_end_closes_with_a_protocol_error():
    async def go():
        async with ScriptedServer(sasl=False, welcome=b"x" * 1_000_000) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            err = await closed_with(up)
            assert isinstance(err, ProtocolError), err
            assert err.code == "protocol-error"
            assert "SOCKETHUB_IRC_MAX_LINE_BYTES" in err.message
            event = up.state_event("disconnected", reason=err.message)
            assert event["object"]["code"] == "protocol-error"

    run(go())


def test_tags_over_their_cap_close_with_a_protocol_error():
    async def go():
        flood = b"@" + b"t" * 9000 + b" :srv NOTICE ann :x\r\n"
        async with ScriptedServer(sasl=False, welcome=flood) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            err = await closed_with(up)
            assert isinstance(err, ProtocolError) and "SOCKETHUB_IRC_MAX_TAG_BYTES" in err.message

    run(go())


def test_names_without_their_end_are_capped():
    async def go():
        names = b"".join(
            b":srv 353 ann = #big :" + b" ".join(b"u%d" % (i * 10 + j) for j in range(10)) + b"\r\n"
            for i in range(30)
        )
        async with ScriptedServer(sasl=False, welcome=names) as srv:
            up = upstream(srv.port, replace(PRIVATE_OK, irc_max_names=100))
            await up.connect()
            err = await closed_with(up)
            assert isinstance(err, ProtocolError) and "SOCKETHUB_IRC_MAX_NAMES" in err.message

    run(go())


def test_names_that_end_do_not_count_against_the_cap():
    async def go():
        one = b":srv 353 ann = #c :" + b" ".join(b"u%d" % j for j in range(50)) + b"\r\n"
        end = b":srv 366 ann #c :End of NAMES\r\n"
        async with ScriptedServer(sasl=False, welcome=(one + end) * 10) as srv:
            events: list[dict] = []
            up = upstream(srv.port, replace(PRIVATE_OK, irc_max_names=100), emit=events.append)
            await up.connect()
            for _ in range(100):
                if len(events) == 10:
                    break
                await asyncio.sleep(0.05)
            assert [len(e["object"]["members"]) for e in events] == [50] * 10
            assert not up.closed.is_set()
            assert len(up.ctx.names) == 0

    run(go())


def test_channels_a_server_joins_us_to_are_capped():
    async def go():
        joins = b"".join(b":ann!a@h JOIN #c%d\r\n" % i for i in range(20))
        async with ScriptedServer(sasl=False, welcome=joins) as srv:
            up = upstream(srv.port, replace(PRIVATE_OK, irc_max_channels=10))
            await up.connect()
            err = await closed_with(up)
            assert isinstance(err, ProtocolError) and "SOCKETHUB_IRC_MAX_CHANNELS" in err.message

    run(go())


def test_an_endless_cap_ls_is_capped():
    async def go():
        cap_ls = [f"CAP * LS * :c{i}a c{i}b" for i in range(30)]
        async with ScriptedServer(sasl=False, cap_ls=cap_ls) as srv:
            up = upstream(srv.port, replace(PRIVATE_OK, irc_max_caps=10))
            with pytest.raises(ProtocolError, match="SOCKETHUB_IRC_MAX_CAPS"):
                await up.connect()

    run(go())


def test_a_flooding_server_is_paced_not_dropped():
    async def go():
        notices = b"".join(b":srv NOTICE ann :n%d\r\n" % i for i in range(60))
        async with ScriptedServer(sasl=False, welcome=notices) as srv:
            events: list[dict] = []
            settings = replace(PRIVATE_OK, irc_line_rate=50.0, irc_line_burst=10)
            up = upstream(srv.port, settings, emit=events.append)
            await up.connect()
            start = time.monotonic()
            while len(events) < 60 and time.monotonic() - start < 10:
                await asyncio.sleep(0.02)
            took = time.monotonic() - start
            assert [e["object"]["content"] for e in events] == [f"n{i}" for i in range(60)]
            # ~10 lines of registration and the burst go at once, the rest at 50/s
            assert took > 0.6, took
            assert not up.closed.is_set()
            await up.close("bye")

    run(go())


def test_odd_bytes_from_a_server_neither_crash_nor_close():
    async def go():
        odd = b":bob!b@h PRIVMSG ann :caf\xe9\r\nPING :a\x00b\r\n:srv NOTICE ann :after\r\n"
        async with ScriptedServer(sasl=False, welcome=odd) as srv:
            events: list[dict] = []
            up = upstream(srv.port, Settings(allow_private_addresses=True), emit=events.append)
            await up.connect()
            for _ in range(100):
                contents = [e["object"].get("content") for e in events]
                if "after" in contents:
                    break
                await asyncio.sleep(0.05)
            assert "café" in contents and "after" in contents
            assert not up.closed.is_set()
            await up.close("bye")

    run(go())


def test_a_server_that_never_reads_is_dropped_not_buffered_for():
    async def go():
        async with ScriptedServer(sasl=False, stop_reading_after_welcome=True) as srv:
            settings = replace(PRIVATE_OK, irc_flood_rate=0.0, irc_max_unsent_bytes=65536)
            up = upstream(srv.port, settings)
            await up.connect()
            line = "PRIVMSG #c :" + "x" * 450
            with pytest.raises(UpstreamUnavailable, match="does not read"):
                for _ in range(200_000):  # the kernel's buffers take some megabytes first
                    await up.send_lines([line])
            assert await closed_with(up) == "the server does not read what we send"

    run(go())
