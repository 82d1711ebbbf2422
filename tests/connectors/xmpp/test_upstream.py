"""The upstream without a server: stanzas in, events and request outcomes out.

A stanza is fed to ``_on_stanza`` as slixmpp would hand it over (an object with ``.xml``),
and ``send`` is replaced by a list, so each test plays the server's side exactly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from connectors.persistent import ConnectionSpec
from connectors.xmpp import client as client_mod
from connectors.xmpp.client import Memory, XmppUpstream
from connectors.xmpp.connector import join, restore_rooms
from connectors.xmpp.stream import targets
from envelopes.errors import BlockedAddress, Refused, SockethubError
from envelopes.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
ROOM = "lobby@conference.localhost"


@dataclasses.dataclass
class Stanza:
    xml: ET.Element

    def __str__(self) -> str:
        return ET.tostring(self.xml, encoding="unicode")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright keeps a loop
    running in the main thread for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(30)


def fixture(name: str) -> Stanza:
    return Stanza(ET.fromstring((FIXTURES / f"{name}.xml").read_text()))


def upstream(
    settings: Settings | None = None, memory: Memory | None = None, **creds: Any
) -> tuple[XmppUpstream, list[dict[str, Any]], list[ET.Element]]:
    events: list[dict[str, Any]] = []
    sent: list[ET.Element] = []
    spec = ConnectionSpec(
        "k1",
        {"id": "alice@localhost", "type": "person"},
        {"userAddress": "alice@localhost", "password": "pw", "resource": "web", **creds},
    )
    up = XmppUpstream(spec, events.append, settings or Settings(), memory or Memory())
    up.send = sent.append  # type: ignore[method-assign]
    return up, events, sent


def test_an_unclaimed_error_stanza_becomes_an_error_event():
    up, events, _ = upstream()
    up._on_stanza(fixture("error-service-unavailable"))
    assert events[0]["type"] == "error"
    assert events[0]["object"]["code"] == "refused"
    assert events[0]["object"]["condition"] == "service-unavailable"
    assert events[0]["object"]["retryable"] is False
    assert events[0]["object"]["id"] == "err-1"
    assert events[0]["actor"] == {"type": "person", "id": "nobody@localhost", "name": "nobody"}


def test_a_translator_failure_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch):
    up, events, _ = upstream()

    def broken(*_a: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(client_mod, "translate", broken)
    up._on_stanza(fixture("chat-message"))  # must not raise into slixmpp's loop
    assert events == []


def test_join_completes_at_our_self_presence_and_fails_with_the_condition():
    async def main() -> None:
        up, events, sent = upstream()
        task = asyncio.create_task(join(up, ROOM, "alice", 5))
        await asyncio.sleep(0)
        assert sent[0].get("to") == f"{ROOM}/alice"
        up._on_stanza(fixture("occupant-presence"))
        assert not task.done()
        up._on_stanza(fixture("self-presence-110"))
        await task
        assert [e["type"] for e in events] == ["update", "join"]

        private = "private@conference.localhost"
        task = asyncio.create_task(join(up, private, "alice", 5))
        await asyncio.sleep(0)
        up._on_stanza(fixture("error-join-registration-required"))
        with pytest.raises(SockethubError) as err:
            await task
        assert err.value.code == "refused" and err.value.condition == "registration-required"
        assert [e["type"] for e in events] == ["update", "join"]  # claimed, not emitted

    run(main())


def test_a_join_that_creates_the_room_opens_it_before_completing():
    async def main() -> None:
        up, events, _ = upstream()
        opened: list[str] = []
        gate = asyncio.Event()

        async def open_instant_room(room_jid: str, timeout: float) -> None:
            opened.append(room_jid)
            await gate.wait()  # the room's answer to our form

        up.open_instant_room = open_instant_room  # type: ignore[method-assign]
        task = asyncio.create_task(join(up, ROOM, "alice", 5))
        await asyncio.sleep(0)
        up._on_stanza(fixture("self-presence-201"))
        await asyncio.sleep(0.05)
        assert opened == [ROOM] and not task.done()  # not joined while others are locked out
        gate.set()
        await task

        up2, events2, _ = upstream()  # a room that was there already: nothing to open
        up2.open_instant_room = open_instant_room  # type: ignore[method-assign]
        task = asyncio.create_task(join(up2, ROOM, "alice", 5))
        await asyncio.sleep(0)
        up2._on_stanza(fixture("self-presence-110"))
        await task
        assert opened == [ROOM]

    run(main())


def test_a_room_that_refuses_to_open_is_an_error_event_not_a_failed_join():
    async def main() -> None:
        up, events, _ = upstream()

        async def open_instant_room(room_jid: str, timeout: float) -> None:
            raise Refused("forbidden", code="forbidden")

        up.open_instant_room = open_instant_room  # type: ignore[method-assign]
        task = asyncio.create_task(join(up, ROOM, "alice", 5))
        await asyncio.sleep(0)
        up._on_stanza(fixture("self-presence-201"))
        await task
        assert events[-1]["type"] == "error"
        assert "could not open it" in events[-1]["object"]["content"]
        assert events[-1]["actor"]["id"] == ROOM

    run(main())


def test_rejoin_asks_for_history_since_the_loss_and_reports_failures():
    async def main() -> None:
        up, events, sent = upstream()
        task = asyncio.create_task(restore_rooms(up, [f"{ROOM}/alice"], 1_800_000_000.0))
        await asyncio.sleep(0)
        hist = sent[0].find(
            "{http://jabber.org/protocol/muc}x/{http://jabber.org/protocol/muc}history"
        )
        assert hist is not None and hist.get("since") == "2027-01-15T07:59:58Z"  # 2 s of slack
        up._on_stanza(fixture("error-join-conflict"))
        await task
        assert events[-1]["type"] == "error" and events[-1]["object"]["condition"] == "conflict"
        assert events[-1]["object"]["code"] == "refused"

    run(main())


def test_browser_given_hosts_pass_the_guard_before_any_socket():
    async def main() -> None:
        up, _, _ = upstream(server="127.0.0.1", port=5222)
        with pytest.raises(BlockedAddress, match="loopback"):
            await up.connect()
        strict = Settings(allow_private_addresses=True, allowed_hosts=("xmpp.example.org",))
        up, _, _ = upstream(strict, server="127.0.0.1")
        with pytest.raises(BlockedAddress, match="not an allowed server"):
            await up.connect()

    run(main())


def test_where_to_connect():
    async def main() -> None:
        assert await targets("example.org", "xmpp.example.org", None) == [
            ("xmpp.example.org", 5222, False)
        ]
        assert await targets("example.org", "h.example", 5223) == [
            ("h.example", 5223, True)
        ]  # XEP-0368: the conventional direct TLS port
        assert await targets("example.org", None, 5269) == [("example.org", 5269, False)]

    run(main())


def test_a_resource_conflict_is_not_retried():
    memory = Memory()
    up, _, _ = upstream(memory=memory)
    up._on_stream_error({"condition": "conflict", "text": "Replaced by new connection"})
    up._on_closed("End of stream")
    assert up.closed.is_set() and "conflict" in up.close_reason
    again, _, _ = upstream(memory=memory)
    with pytest.raises(Refused, match="another client"):
        run(again.connect())
    assert "k1" not in memory.fatal  # only the next attempt fails; a new connect may retry


def test_state_events_name_the_account():
    up, _, _ = upstream()
    event = up.state_event("connecting", attempt=0)
    assert event["target"]["id"] == "alice@localhost"
    assert event["object"] == {"type": "connection", "state": "connecting", "attempt": 0}


def test_what_is_sent_while_resuming_is_held_up_to_the_cap():
    async def go() -> None:
        settings = dataclasses.replace(Settings(), xmpp_max_held_stanzas=2)
        spec = ConnectionSpec(
            "k1",
            {"id": "alice@localhost", "type": "person"},
            {"userAddress": "alice@localhost", "password": "pw", "resource": "web"},
        )
        up = XmppUpstream(spec, lambda _e: None, settings, Memory())
        up.xmpp = object()  # type: ignore[assignment]  # never written to while resuming
        pending = asyncio.get_running_loop().create_future()
        up.resumption.start(asyncio.ensure_future(pending))
        assert up.connected and up.resuming
        up.send(ET.Element("{jabber:client}message"))
        up.send(ET.Element("{jabber:client}presence"))
        with pytest.raises(SockethubError, match="SOCKETHUB_XMPP_MAX_HELD_STANZAS") as info:
            up.send(ET.Element("{jabber:client}message"))
        assert info.value.code == "upstream-unavailable"
        assert [e.tag.rpartition("}")[2] for e in up.resumption.finish(True)] == [
            "message",
            "presence",
        ]
        pending.cancel()

    run(go())
