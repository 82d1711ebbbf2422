"""IRCv3 capabilities against a scripted server: asked for only when offered, and kept up
to date by cap-notify (CAP NEW / CAP DEL); a server that ignores CAP costs no wait."""

from __future__ import annotations

import asyncio
import time

from connectors.irc.caps import PEOPLE, WANTED, cap_reply, names, wanted
from connectors.irc.echo import echoed
from connectors.irc.lines import parse_line
from envelopes.settings import Settings

from .test_client import PRIVATE_OK, ScriptedServer, run, upstream


def test_only_what_is_offered_is_asked_for_in_a_stable_order():
    offered = {"sasl=PLAIN,EXTERNAL", "echo-message", "server-time", "draft/x", "batch", "chghost"}
    assert wanted(offered) == ["server-time", "echo-message", "batch", "chghost"]
    assert wanted(set()) == [] and names(offered) >= {"sasl", "batch"}
    assert set(WANTED) == {
        "cap-notify",
        "server-time",
        "message-tags",
        "echo-message",
        "batch",
        "labeled-response",
        "draft/message-redaction",
    }
    assert set(PEOPLE) == {
        "away-notify",
        "account-notify",
        "account-tag",
        "extended-join",
        "multi-prefix",
        "userhost-in-names",
        "chghost",
        "setname",
        "invite-notify",
    }


def test_cap_replies_are_read_with_or_without_a_302_continuation():
    assert cap_reply(parse_line(":srv CAP * LS * :a b")) == ("LS", ["a", "b"])
    assert cap_reply(parse_line(":srv CAP ann ACK :server-time -batch")) == (
        "ACK",
        ["server-time", "-batch"],
    )
    assert cap_reply(parse_line(":srv PRIVMSG ann :CAP")) is None


def test_registration_asks_for_what_the_server_offers_and_records_the_ack():
    async def go():
        ls = ["CAP * LS :multi-prefix server-time echo-message sasl=PLAIN"]
        async with ScriptedServer(sasl=False, cap_ls=ls) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            try:
                reqs = [ln for ln in srv.lines if ln.startswith("CAP REQ")]
                # no sasl: no password
                assert reqs == ["CAP REQ :server-time echo-message multi-prefix"]
                assert srv.lines.index(reqs[0]) < srv.lines.index("NICK ann")
                assert up.enabled == {"server-time", "echo-message", "multi-prefix"}
                assert up.echoes
            finally:
                await up.close("bye")

    run(go())


def test_nothing_is_asked_for_when_nothing_wanted_is_offered():
    async def go():
        async with ScriptedServer(sasl=False, cap_ls=["CAP * LS :draft/unused"]) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            try:
                assert not any(ln.startswith("CAP REQ") for ln in srv.lines)
                assert srv.lines[-1] == "CAP END" and up.enabled == set()
            finally:
                await up.close("bye")

    run(go())


def test_cap_notify_adds_what_the_server_offers_later_and_drops_what_it_removes():
    async def go():
        later = b":srv CAP ann NEW :echo-message draft/unused\r\n"
        ls = ["CAP * LS :cap-notify"]
        async with ScriptedServer(sasl=False, cap_ls=ls, welcome=later) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            try:
                deadline = time.monotonic() + 5
                while not up.echoes and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                assert "CAP REQ :echo-message" in srv.lines  # not draft/unused: not used
                assert up.enabled == {"cap-notify", "echo-message"}
                up._on_line(":srv CAP ann DEL :echo-message")
                assert not up.echoes and up.enabled == {"cap-notify"}
            finally:
                await up.close("bye")

    run(go())


class SilentAboutCap(ScriptedServer):
    """A server without CAP: CAP lines get no answer at all, a PING before registration
    its 451 (as InspIRCd without its CAP module does)."""

    async def handle(self, reader, writer):
        nick = "?"
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            self.lines.append(line)
            cmd, _, rest = line.partition(" ")
            if cmd == "PING" and nick == "?":
                writer.write(b":srv 451 * PING :You have not registered\r\n")
            elif cmd == "NICK":
                nick = rest
            elif cmd == "USER":
                writer.write(f":srv 001 {nick} :Welcome\r\n".encode())
            await writer.drain()


def test_a_server_that_ignores_cap_costs_one_round_trip_not_a_fixed_wait():
    async def go():
        async with SilentAboutCap(sasl=False) as srv:
            up = upstream(srv.port, Settings(allow_private_addresses=True), password="pw")
            started = time.monotonic()
            await up.connect()
            took = time.monotonic() - started
            try:
                assert took < 2, f"connect took {took:.2f} s"  # was 5 s: a fixed wait
                assert up.caps == set() and "PASS :pw" in srv.lines  # no SASL: PASS
                assert srv.lines.index("PASS :pw") < srv.lines.index("NICK ann")
            finally:
                await up.close("bye")

    run(go())


def test_a_message_the_server_does_not_echo_still_completes_at_the_ping_after_it():
    async def go():
        ls = ["CAP * LS :echo-message"]  # offered, yet this server never echoes
        async with ScriptedServer(sasl=False, cap_ls=ls) as srv:
            up = upstream(srv.port, PRIVATE_OK)
            await up.connect()
            try:
                assert up.echoes
                started = time.monotonic()
                got = await echoed(up, ["PRIVMSG #c :hi"], lambda _e: False, 5)
                assert got is None and time.monotonic() - started < 2
            finally:
                await up.close("bye")

    run(go())


def test_our_echo_is_not_an_event_but_what_came_with_it_still_is():
    async def go():
        events: list[dict] = []
        up = upstream(1, PRIVATE_OK, emit=events.append)
        up.registered, up.enabled = True, {"echo-message"}
        up._on_line(":srv 332 ann #c :the topic")  # held for its 333...
        up._on_line(":ann!u@h PRIVMSG #c :mine")  # ...flushed by the next line, our echo
        up._on_line(":bob!u@h PRIVMSG #c :theirs")
        await asyncio.sleep(0)
        return events

    events = run_result(go())
    assert [(e["type"], e["object"].get("content")) for e in events] == [
        ("update", "the topic"),
        ("send", "theirs"),
    ]


def run_result(coro):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_a_server_cannot_grow_what_we_hold_with_cap_lines():
    up = upstream(1, PRIVATE_OK)
    up.registered = True
    sent: list[str] = []
    up.raw = lambda line, field=None: sent.append(line)  # type: ignore[method-assign]
    for i in range(200):  # acknowledgements and offers of things we never asked for
        up._on_line(f":srv CAP ann ACK :junk{i}a junk{i}b")
        up._on_line(f":srv CAP ann NEW :junk{i}c")
    assert up.enabled == set() and len(up.caps) == 0 and sent == []
    up._on_line(":srv CAP ann ACK :server-time")  # what we do ask for is recorded
    assert up.enabled == {"server-time"}
