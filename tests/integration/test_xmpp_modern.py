"""What today's XMPP clients expect, through the whole stack against a real Prosody:
message carbons (XEP-0280), delivery receipts (XEP-0184), chat states (XEP-0085), stream
management (XEP-0198), bookmarks (XEP-0402).

The other sides are independent slixmpp clients (``PlainClient``): one on a second
resource of the browser's own account, one on another account.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser
from ..servers.prosody import XmppServer, run_prosody
from ..servers.tcpproxy import TcpProxy
from ..servers.xmpppeer import PlainClient
from ..session import browsers, msg
from ..stack import Stack
from .test_xmpp import xmpp_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    users = ("alice", "bob", "carol", "erin")
    with run_prosody(tmp_path_factory.mktemp("prosody"), users=users) as server:
        yield server


@pytest.fixture(scope="module")
def stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    s = xmpp_stack(xmpp_server).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack: Stack, xmpp_server: XmppServer) -> Iterator[Any]:
    yield from browsers(partial(Browser, stack, xmpp_server))


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


def test_carbons_both_ways(browser: Any, peer: Any, xmpp_server: XmppServer):
    bob = peer("bob")
    a = browser("alice")
    phone = peer("alice", "phone")  # the same account on another device
    phone.enable_carbons()
    bob_jid, alice = xmpp_server.jid("bob"), xmpp_server.jid("alice")

    # What the phone sends appears in the browser as our own send, marked as a carbon.
    phone.send_message(bob_jid, "sent from the phone", id="phone-1")
    bob.wait_body("sent from the phone")
    sent = a.event(
        lambda x: x["type"] == "send" and x["object"]["content"] == "sent from the phone"
    )
    assert sent["actor"]["id"] == alice and sent["target"]["id"] == bob_jid, sent
    assert sent["object"]["id"] == "phone-1"
    assert sent["object"]["xmpp:carbon"] == "sent"

    # What the phone receives (addressed to it alone) appears too, marked received.
    bob.send_message(f"{alice}/phone", "for the phone", id="bob-1")
    phone.wait_body("for the phone")
    got = a.event(lambda x: x["type"] == "send" and x["object"]["content"] == "for the phone")
    assert got["actor"]["id"] == bob_jid and got["target"]["id"] == alice, got
    assert got["object"]["id"] == "bob-1" and got["object"]["xmpp:carbon"] == "received"

    # The other way: what the browser sends and receives is copied to the phone.
    reply = a.ok("send", target=a.person("bob"), object=msg("sent from the web"))
    copy = phone.wait_for(lambda s: s.name == "message" and s.xml.find(SENT) is not None)
    inner = copy.xml.find(f"{SENT}/{FORWARDED}/{{jabber:client}}message")
    assert inner.findtext("{jabber:client}body") == "sent from the web"
    assert inner.get("id") == reply["result"]["object"]["id"]
    assert str(copy["from"]) == alice  # XEP-0280 §11: only our own account sends carbons
    bob.send_message(f"{alice}/web", "for the web", id="bob-2")
    a.event(lambda x: x["type"] == "send" and x["object"]["content"] == "for the web")
    copy = phone.wait_for(lambda s: s.name == "message" and s.xml.find(RECEIVED) is not None)
    inner = copy.xml.find(f"{RECEIVED}/{FORWARDED}/{{jabber:client}}message")
    assert inner.findtext("{jabber:client}body") == "for the web"


def raw(client: PlainClient, stanza: str) -> None:
    client.do(lambda: client.xmpp.send_raw(stanza))


def test_delivery_receipts_both_ways(browser: Any, peer: Any, xmpp_server: XmppServer):
    bob = peer("bob")
    a = browser("alice")
    bob_jid = xmpp_server.jid("bob")

    # Our chat messages ask for a receipt (XEP-0184 §5.1); bob's answer is an event.
    reply = a.ok("send", target=a.person("bob"), object=msg("did you get this?"))
    mid = reply["result"]["object"]["id"]
    got = bob.wait_body("did you get this?")
    assert got.xml.find(f"{{{RECEIPTS}}}request") is not None, got
    raw(
        bob,
        f"<message to='{a.jid}/web' id='r1'><received xmlns='{RECEIPTS}' id='{mid}'/></message>",
    )
    receipt = a.event(lambda x: x["type"] == "receipt")
    assert receipt["actor"] == {"type": "person", "id": bob_jid, "name": "bob"}
    assert receipt["target"]["id"] == a.jid
    assert receipt["object"] == {"type": "receipt", "id": mid, "status": "delivered"}

    # The browser acknowledges bob's message with the same shape.
    raw(
        bob,
        f"<message to='{a.jid}/web' type='chat' id='ask-1'><body>tell me you got it</body>"
        f"<request xmlns='{RECEIPTS}'/></message>",
    )
    a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "ask-1")
    ack = {"type": "receipt", "id": "ask-1", "status": "delivered"}
    a.ok("receipt", target=a.person("bob"), object=ack)
    answer = bob.wait_for(lambda s: s.xml.find(f"{{{RECEIPTS}}}received") is not None)
    assert answer.xml.find(f"{{{RECEIPTS}}}received").get("id") == "ask-1"
    assert str(answer["from"]) == f"{a.jid}/web"


def test_typing_both_ways_in_a_chat_and_a_room(browser: Any, peer: Any, xmpp_server: XmppServer):
    bob = peer("bob")
    a = browser("alice", name="Alice")
    bob_jid = xmpp_server.jid("bob")

    a.ok("typing", target=a.person("bob"), object={"type": "typing", "state": "composing"})
    seen = bob.wait_for(lambda s: s.xml.find(f"{{{CHATSTATES}}}composing") is not None)
    assert seen["type"] == "chat" and seen["body"] == ""
    raw(bob, f"<message to='{a.jid}' type='chat'><paused xmlns='{CHATSTATES}'/></message>")
    typing = a.event(lambda x: x["type"] == "typing")
    assert typing["actor"] == {"type": "person", "id": bob_jid, "name": "bob"}
    assert typing["target"]["id"] == a.jid
    assert typing["object"] == {"type": "typing", "state": "paused"}

    room = xmpp_server.room("typing")
    bob.join(room, "bob")
    a.ok("join", target=a.room("typing"))
    a.forget()
    a.ok("typing", target=a.room("typing"), object={"type": "typing", "state": "composing"})
    bob.wait_for(
        lambda s: (
            str(s["from"]) == f"{room}/Alice"
            and s.xml.find(f"{{{CHATSTATES}}}composing") is not None
        )
    )
    raw(bob, f"<message to='{room}' type='groupchat'><composing xmlns='{CHATSTATES}'/></message>")
    typing = a.event(lambda x: x["type"] == "typing")
    assert typing["actor"] == {"type": "person", "id": f"{room}/bob", "name": "bob"}, typing
    assert typing["target"]["id"] == room
    assert typing["object"]["state"] == "composing"
    # Our own typing, as the room reflected it, is no event.
    frames = [f for f in a.client.frames if f.get("kind") == "event"]
    in_room = [
        f["activity"]["actor"]["id"]
        for f in frames
        if f["activity"]["type"] == "typing" and f["activity"]["target"]["id"] == room
    ]
    assert in_room == [f"{room}/bob"], in_room


def test_a_dropped_stream_is_resumed_and_nothing_sent_meanwhile_is_lost(
    stack: Stack, browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob")
    with TcpProxy(xmpp_server.host, xmpp_server.port).threaded() as proxy:
        via_proxy = dataclasses.replace(xmpp_server, port=proxy.port)
        tabs = [Browser(stack, via_proxy, "erin"), Browser(stack, via_proxy, "erin")]
        try:
            tabs[0].ok("connect")
            tabs[1].ok("connect")  # the same credentials: the same stream
            tabs[0].ok("send", target=tabs[0].person("bob"), object=msg("before the cut"))
            bob.wait_body("before the cut")
            proxy.cut(hold=True)  # the TCP connection dies; reconnecting waits
            tabs[0].event(lambda x: x["object"].get("state") == "reconnecting")
            # Sent while there is no connection, from both tabs at once.
            rids = [
                (t, t.client.send(_activity(t, f"during the cut {i}"))) for i, t in enumerate(tabs)
            ]
            bob.send_message(xmpp_server.jid("erin"), "to erin during the cut")
            time.sleep(1.5)
            proxy.release()
            for tab, rid in rids:
                reply = tab.client.reply(rid, 25)
                assert reply["status"] == "completed", reply
            tabs[0].event(lambda x: x["object"]["state"] == "connected" and x["object"]["resumed"])
            tabs[0].event(lambda x: x["object"].get("content") == "to erin during the cut")
            tabs[0].ok("send", target=tabs[0].person("bob"), object=msg("after the cut"))
            bob.wait_body("after the cut")
        finally:
            for t in tabs:
                t.request("disconnect", timeout=5)
                t.close()
    time.sleep(0.5)
    bodies = [s["body"] for s in bob.stanzas if s.name == "message" and s["body"]]
    for text in ("before the cut", "during the cut 0", "during the cut 1", "after the cut"):
        assert bodies.count(text) == 1, bodies  # every one arrived, once
    # No new login: Prosody bound one resource for erin and resumed that session.
    log = xmpp_server.debug_log()
    assert len(re.findall(r"Resource bound: erin@localhost/", log)) == 1, "a new session"
    assert "<resume " in log or "<resume xmlns" in log


def test_bookmarked_rooms_marked_autojoin_are_joined_on_connect(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob", "bookmarks")
    room, other = xmpp_server.room("bookmarked"), xmpp_server.room("not-autojoined")
    bob.join(room, "bob")
    phone = peer("carol", "phone")  # the account's bookmarks, set from another client
    phone.publish_bookmark(room, nick="Caro", autojoin=True)
    phone.publish_bookmark(other, autojoin=False)
    c = browser("carol", connect=False)
    c.ok("connect")
    joined = c.event(lambda x: x["type"] == "join")
    assert joined["target"]["id"] == room, joined
    assert joined["actor"] == {"type": "person", "id": f"{room}/Caro", "name": "Caro"}
    bob.wait_for(lambda s: s.name == "presence" and str(s["from"]) == f"{room}/Caro")
    c.ok("send", target=c.room("bookmarked"), object=msg("here by bookmark"))
    bob.wait_body("here by bookmark")
    time.sleep(0.5)
    joins = [
        f["activity"]["target"]["id"]
        for f in c.client.frames
        if f.get("kind") == "event" and f["activity"]["type"] == "join"
    ]
    assert joins == [room], joins  # not the room without autojoin


def _activity(tab: Any, text: str) -> dict[str, Any]:
    from ..wsclient import activity

    return activity("xmpp", "send", actor=tab.actor, target=tab.person("bob"), object=msg(text))


RECEIPTS, CHATSTATES = "urn:xmpp:receipts", "http://jabber.org/protocol/chatstates"
CARBONS, FORWARD = "urn:xmpp:carbons:2", "urn:xmpp:forward:0"
SENT, RECEIVED = f"{{{CARBONS}}}sent", f"{{{CARBONS}}}received"
FORWARDED = f"{{{FORWARD}}}forwarded"
