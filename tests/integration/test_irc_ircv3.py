"""IRCv3 against a real InspIRCd 3, checked by independent raw-socket clients; the same
connector against InspIRCd without its CAP module and against ngircd (no IRCv3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from connectors.irc.client import IrcUpstream
from connectors.irc.echo import echoed
from connectors.persistent import ConnectionSpec
from envelopes.settings import Settings

from ..servers.inspircd import InspIrcd, run_inspircd
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..session import browsers, msg
from ..stack import Stack
from .test_irc import Browser

pytestmark = pytest.mark.integration

LOCAL = Settings(allow_private_addresses=True, irc_flood_rate=0)


def run(coro: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:  # a loop of its own (see tests/connectors/irc)
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def nocap(inspircd_nocap: InspIrcd) -> InspIrcd:
    return inspircd_nocap  # tests/conftest.py, as ``inspircd``


@pytest.fixture(scope="module")
def ngircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ngircd")) as server:
        yield server


def upstream(server: Any, nick: str, events: list[dict[str, Any]] | None = None, **creds: Any):
    c = {"nick": nick, "server": server.host, "port": server.port, "secure": False, **creds}
    emit = events.append if events is not None else (lambda _a: None)
    return IrcUpstream(ConnectionSpec(nick, {"id": f"{nick}@{server.host}"}, c), emit, LOCAL)


def connect_time(server: Any, nick: str, **creds: Any) -> tuple[float, set[str]]:
    async def go() -> tuple[float, set[str]]:
        up = upstream(server, nick, **creds)
        started = time.monotonic()
        await up.connect()
        took = time.monotonic() - started
        await up.close("bye")
        return took, set(up.caps)

    result: tuple[float, set[str]] = run(go())
    return result


# Within 1 s on a local server; 2 s leaves room for a loaded machine (it was 5 s: a fixed
# wait for a CAP LS answer that a server without CAP never sends).
CONNECT_LIMIT = 2.0


@pytest.mark.parametrize("creds", [{}, {"password": "unused"}], ids=["no-password", "password"])
def test_connect_does_not_wait_on_a_server_that_ignores_cap(nocap, creds):
    took, caps = connect_time(nocap, "plain", **creds)
    assert caps == set()
    assert took < CONNECT_LIMIT, f"connect took {took:.2f} s against a server without CAP"


def test_connect_is_as_quick_with_ircv3_and_with_ngircd(inspircd, ngircd):
    took, caps = connect_time(inspircd, "modern")
    assert "server-time" in {c.split("=")[0] for c in caps}
    assert took < CONNECT_LIMIT, f"connect took {took:.2f} s against InspIRCd with CAP"
    took, _caps = connect_time(ngircd, "classic")
    assert took < CONNECT_LIMIT, f"connect took {took:.2f} s against ngircd"


# -- through the whole stack, checked by independent clients -------------------------------
@pytest.fixture(scope="module")
def v3_stack(inspircd):
    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0"}).start()
    yield s
    s.stop()


@pytest.fixture
def browser(v3_stack, inspircd):
    yield from browsers(partial(Browser, v3_stack, inspircd))


@pytest.fixture
def raw(inspircd):
    """Independent IRC clients (plain sockets) that ask for server-time and message-tags,
    so they see the time and id the server gave each message."""
    clients: list[RawIrcClient] = []

    def make(nick: str, channel: str) -> RawIrcClient:
        c = RawIrcClient(inspircd.host, inspircd.port, nick)
        clients.append(c)
        c.send("CAP REQ :server-time message-tags")
        c.wait_for(" ACK ")
        c.send(f"JOIN {channel}")
        c.wait_for(lambda line: " 366 " in line)
        return c

    yield make
    for c in clients:
        c.close()


def tags(line: str) -> dict[str, str]:
    assert line.startswith("@"), line
    return dict(t.partition("=")[::2] for t in line[1:].split(" ", 1)[0].split(";"))


def test_events_carry_the_servers_time_and_message_id(browser, raw):
    b = browser("timely")
    b.ok("join", target=b.room("#time"))
    bob, watcher = raw("bob", "#time"), raw("watcher", "#time")
    bob.send("PRIVMSG #time :what time is it")
    seen = tags(watcher.wait_for("PRIVMSG #time :what time is it"))
    got = b.event(lambda a: a["type"] == "send" and a["object"]["content"] == "what time is it")
    assert got["published"] == seen["time"]  # the server's, not the worker's clock
    assert got["object"]["id"] == seen["msgid"]


def test_a_send_completes_at_the_servers_echo_with_its_id_and_time(browser, raw):
    b = browser("echoer")
    b.ok("join", target=b.room("#echo"))
    watcher = raw("listener", "#echo")
    reply = b.ok("send", target=b.room("#echo"), object=msg("hello, echo"))
    seen = tags(watcher.wait_for("PRIVMSG #echo :hello, echo"))
    result = reply["result"]
    assert result["object"]["id"] == seen["msgid"], result
    assert result["published"] == seen["time"], result
    assert result["object"]["content"] == "hello, echo"
    # The echo answered the send; it is not delivered again as an incoming message.
    watcher.send("PRIVMSG #echo :after")
    b.event(lambda a: a["type"] == "send" and a["object"]["content"] == "after")
    mine = [
        f
        for f in b.client.frames
        if f.get("kind") == "event"
        and f["activity"]["type"] == "send"
        and f["activity"]["object"].get("content") == "hello, echo"
    ]
    assert mine == []


def test_a_message_split_over_lines_completes_with_the_first_lines_id(browser, raw):
    b = browser("longwinded")
    b.ok("join", target=b.room("#long"))
    watcher = raw("reader", "#long")
    text = " ".join(f"word{i:03d}" for i in range(100))  # 799 bytes: two lines
    reply = b.ok("send", target=b.room("#long"), object=msg(text))
    first = watcher.wait_for("PRIVMSG #long :word000")
    second = watcher.wait_for("PRIVMSG #long :")
    assert second.endswith("word099")  # the rest, on a line of its own
    assert reply["result"]["object"]["id"] == tags(first)["msgid"]


def test_a_send_refused_by_the_server_fails_even_with_echo_message(browser, raw):
    b = browser("outsider")
    owner = raw("owner", "#closed")
    owner.send("MODE #closed +n")  # no messages from outside (InspIRCd's default anyway)
    reply = b.request("send", target=b.room("#closed"), object=msg("let me in"))
    assert reply["status"] == "failed", reply
    assert reply["error"]["details"][0]["condition"] == "cannot-send", reply


def test_cap_notify_follows_a_capability_the_server_removes_and_adds_back(tmp_path):
    """An operator unloads the echo-message module: the server says ``CAP DEL``, a send
    then completes at a PING; loaded again, ``CAP NEW``, and we ask for it again."""
    with run_inspircd(tmp_path) as server, RawIrcClient(server.host, server.port, "op") as op:
        op.send("OPER oper operpass")
        op.wait_for(" 381 ")

        async def go() -> list[bool]:
            up = upstream(server, "notified")
            await up.connect()
            seen = [up.echoes]
            try:
                for command in ("UNLOADMODULE", "LOADMODULE"):
                    op.send(f"{command} ircv3_echomessage")
                    deadline = time.monotonic() + 5
                    while up.echoes == seen[-1] and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    seen.append(up.echoes)
                    # A send completes either way: at the echo, or at a PING without it.
                    lines = [f"PRIVMSG {op.nick} :after {command}"]
                    if up.echoes:
                        await echoed(up, lines, lambda _e: False, 5)
                    else:
                        await up.roundtrip(lines, lambda _e: False, 5)
                    op.wait_for(f":after {command}")
            finally:
                await up.close("bye")
            return seen

        assert run(go()) == [True, False, True]
