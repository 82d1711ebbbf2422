"""The server's message archives (MAM, XEP-0313) against a real Prosody (``mod_mam``,
``mod_muc_mam``): history pages, and the messages of a gap after a reconnect.

The connector's upstream runs on a loop of this test (no gateway: what is tested is the
upstream's ``server_history`` and its rejoin path, as the worker's supervisor drives it);
the other side is an independent slixmpp client (``PlainClient``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.persistent import ConnectionSpec
from connectors.xmpp.client import Memory
from connectors.xmpp.connector import _Upstream, join
from connectors.xmpp.stream import Stream
from envelopes.settings import Settings

from ..servers.prosody import XmppServer, run_prosody
from ..servers.tcpproxy import TcpProxy
from ..servers.xmpppeer import PlainClient

pytestmark = pytest.mark.integration

USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
SETTINGS = Settings(allow_private_addresses=True, xmpp_history_timeout=5.0)


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    # No offline storage: what reaches us after a reconnect comes from the archive alone.
    with run_prosody(
        tmp_path_factory.mktemp("prosody"), users=USERS, disabled=("offline",)
    ) as server:
        yield server


@pytest.fixture
def peer(xmpp_server: XmppServer) -> Iterator[Any]:
    made: list[PlainClient] = []

    def make(user: str, resource: str = "peer") -> PlainClient:
        c = PlainClient(xmpp_server, user, resource)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(90)


def upstream(
    server: XmppServer, user: str, events: list[dict[str, Any]], memory: Memory, port: int = 0
) -> _Upstream:
    spec = ConnectionSpec(
        f"key-{user}",
        {"id": server.jid(user), "type": "person"},
        {
            "userAddress": server.jid(user),
            "password": server.password(user),
            "resource": "web",
            "server": server.host,
            "port": port or server.port,
            "allowInvalidCert": True,
        },
    )
    return _Upstream(spec, events.append, SETTINGS, memory)


async def until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def contents(items: list[dict[str, Any]]) -> list[str]:
    return [i["object"]["content"] for i in items]


def test_a_chat_history_in_order_with_ids_and_times_paged_by_before_after_around(
    xmpp_server: XmppServer, peer: Any
):
    bob, alice = peer("bob"), xmpp_server.jid("alice")
    bob_jid = xmpp_server.jid("bob")

    async def main() -> None:
        events: list[dict[str, Any]] = []
        up = upstream(xmpp_server, "alice", events, Memory())
        await up.connect()
        try:
            sent = [await asyncio.to_thread(bob.send_message, alice, f"m{i}") for i in range(6)]
            await until(lambda: len([e for e in events if e["type"] == "send"]) == 6)
            live = [e for e in events if e["type"] == "send"]
            page = await up.server_history(bob_jid, limit=100)
            assert page is not None
            assert contents(page) == [f"m{i}" for i in range(6)]
            assert [i["object"]["id"] for i in page] == sent  # the ids our events carry
            for item, event in zip(page, live, strict=True):
                assert item["object"]["xmpp:stanza-id"] == event["object"]["xmpp:stanza-id"]
                assert item["actor"]["id"] == bob_jid and item["target"]["id"] == alice
                assert item["published"].startswith("20")  # the archive's stamp
            assert page.more == {"before": False, "after": False}

            last = await up.server_history(bob_jid, limit=2)
            assert contents(last) == ["m4", "m5"] and last.more["before"]
            older = await up.server_history(bob_jid, before=sent[4], limit=2)
            assert contents(older) == ["m2", "m3"]
            newer = await up.server_history(bob_jid, after=sent[1], limit=3)
            assert contents(newer) == ["m2", "m3", "m4"] and newer.more["after"]
            around = await up.server_history(bob_jid, around=sent[3], limit=4)
            assert contents(around) == ["m1", "m2", "m3", "m4"]
            with pytest.raises(Exception) as err:
                await up.server_history(bob_jid, limit=501)
            assert getattr(err.value, "code", "") == "invalid-envelope"
        finally:
            await up.close("done")

    run(main())


def test_a_room_history_from_the_room_archive(xmpp_server: XmppServer, peer: Any):
    bob, room = peer("bob", "room"), xmpp_server.room("mamroom")
    bob.join(room, "bob")

    async def main() -> None:
        events: list[dict[str, Any]] = []
        up = upstream(xmpp_server, "carol", events, Memory())
        await up.connect()
        try:
            for i in range(3):
                await asyncio.to_thread(bob.send_message, room, f"r{i}", "groupchat")
                await asyncio.to_thread(bob.wait_body, f"r{i}")
            page = await up.server_history(room, limit=10)  # not joined: found by disco
            assert page is not None
            assert contents(page) == ["r0", "r1", "r2"]
            assert {i["actor"]["id"] for i in page} == {f"{room}/bob"}
            assert {i["target"]["id"] for i in page} == {room}
            assert all(i["object"]["xmpp:stanza-id"] and i["published"] for i in page)
        finally:
            await up.close("done")

    run(main())


def test_messages_sent_during_a_reconnect_arrive_late_once_each(
    xmpp_server: XmppServer, peer: Any, monkeypatch: pytest.MonkeyPatch
):
    # No stream resumption: the new login is what recovery is for (a resumed stream
    # loses nothing, XEP-0198).
    monkeypatch.setattr(Stream, "resumable", property(lambda _self: False))
    bob, room = peer("frank", "gap"), xmpp_server.room("gaproom")
    bob.join(room, "frank")
    erin = xmpp_server.jid("erin")

    async def main() -> None:
        events: list[dict[str, Any]] = []
        memory = Memory()
        with TcpProxy(xmpp_server.host, xmpp_server.port).threaded() as proxy:
            up = upstream(xmpp_server, "erin", events, memory, proxy.port)
            await up.connect()
            await join(up, room, "erin", 10)
            await asyncio.to_thread(bob.send_message, erin, "chat before")
            await asyncio.to_thread(bob.send_message, room, "room before", "groupchat")
            await until(lambda: {"chat before", "room before"} <= set(contents(sends(events))))
            proxy.cut(hold=True)
            await asyncio.wait_for(up.closed.wait(), 10)
            for text in ("chat gap 1", "chat gap 2"):
                await asyncio.to_thread(bob.send_message, erin, text)
            await asyncio.to_thread(bob.send_message, room, "room gap", "groupchat")
            await asyncio.to_thread(bob.wait_body, "room gap")
            proxy.release()
            events.clear()
            again = upstream(xmpp_server, "erin", events, memory, proxy.port)
            await again.connect()  # as the supervisor does: connect, then restore
            await again.restore([f"{room}/erin"])
            assert again.recovery is not None
            await asyncio.wait_for(again.recovery, 15)
            await asyncio.to_thread(bob.send_message, erin, "chat after")
            await until(lambda: "chat after" in contents(sends(events)))
            await again.close("done")
        got = sends(events)
        late = [e for e in got if e.get("late")]
        assert sorted(contents(late)) == ["chat gap 1", "chat gap 2", "room gap"], got
        assert [e["target"]["id"] for e in late if e["object"]["content"] == "room gap"] == [room]
        texts = contents(got)
        for text in ("chat gap 1", "chat gap 2", "room gap", "chat after"):
            assert texts.count(text) == 1, texts  # once each, live or late
        assert "chat before" not in texts and "room before" not in texts  # delivered already
        assert not [e for e in events if e["type"] == "gap"], events

    run(main())


def sends(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "send"]


def test_a_page_larger_than_the_server_s_is_fetched_in_several(xmpp_server: XmppServer, peer: Any):
    dave, carol = peer("dave"), xmpp_server.jid("carol")

    async def main() -> None:
        for i in range(60):  # Prosody answers at most 50 per query
            await asyncio.to_thread(dave.send_message, carol, f"n{i}")
        up = upstream(xmpp_server, "carol", [], Memory())
        await up.connect()
        try:
            page = await up.server_history(xmpp_server.jid("dave"), limit=55)
            assert page is not None
            assert contents(page) == [f"n{i}" for i in range(5, 60)] and page.more["before"]
            after = await up.server_history(
                xmpp_server.jid("dave"), after=page[0]["object"]["id"], limit=500
            )
            assert contents(after) == [f"n{i}" for i in range(6, 60)]
        finally:
            await up.close("done")

    run(main())
