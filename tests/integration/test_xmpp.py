"""XMPP through the whole stack against a real Prosody, checked by an independent client.

The browser side speaks through the gateway (``Browser``); the other side is a plain
slixmpp client on its own loop (``PlainClient``), not our connector. Prosody runs with TLS
and a self-signed certificate the workers trust through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from envelopes import keys

from ..connectors.xmpp.session import Browser
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import browsers, msg
from ..stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(
        tmp_path_factory.mktemp("prosody"), users=("alice", "bob", "carol", "dave", "erin")
    ) as server:
        yield server


def xmpp_stack(server: XmppServer) -> Stack:
    return Stack(
        platforms=("xmpp",),
        env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "20", "SSL_CERT_FILE": str(server.ca_file)},
    )


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
    """Independent XMPP clients (plain slixmpp, each on its own loop)."""
    made: list[PlainClient] = []

    def make(user: str, resource: str = "peer") -> PlainClient:
        c = PlainClient(xmpp_server, user, resource)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_connect_and_chat_both_ways(browser: Any, peer: Any, xmpp_server: XmppServer):
    bob = peer("bob")
    a = browser("alice", connect=False)
    reply = a.ok("connect")
    assert reply["result"]["object"] == {
        "type": "connection",
        "state": "connected",
        "jid": f"{a.jid}/web",
        "conversations": {},  # unread counts (docs/protocol.md, "Read markers"): none yet
    }
    state = a.state("connected")
    assert state["actor"] == {"type": "service", "id": "localhost", "name": "localhost"}

    sent = a.ok("send", target=a.person("bob"), object=msg("hello from the web"))
    got = bob.wait_body("hello from the web")
    assert got["type"] == "chat" and str(got["from"]) == f"{a.jid}/web"
    assert got["id"] == sent["result"]["object"]["id"]  # the reply names the stanza id

    bob.send_message(a.jid, "hello browser ☕", id="from-bob-1")
    event = a.event(lambda x: x["type"] == "send")
    assert event["actor"] == {"type": "person", "id": xmpp_server.jid("bob"), "name": "bob"}
    assert event["target"]["id"] == a.jid
    assert event["object"]["content"] == "hello browser ☕"
    assert event["object"]["id"] == "from-bob-1"
    assert event["object"]["xmpp:stanza-id"]  # stamped by our server's archive


def test_room_join_messages_correction_and_queries(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob", "roomy")
    room = xmpp_server.room("lobby")
    bob.join(room, "bob")
    bob.do(lambda: bob.xmpp.plugin["xep_0045"].set_subject(room, "Welcome"))
    a = browser("alice", name="Alice")
    a.ok("join", target=a.room("lobby"))
    joined = a.event(lambda x: x["type"] == "join")
    assert joined["actor"] == {"type": "person", "id": f"{room}/Alice", "name": "Alice"}
    topic = a.event(lambda x: x["type"] == "update" and x["object"]["type"] == "topic")
    assert topic["object"]["content"] == "Welcome"
    seen = bob.wait_for(lambda s: s.name == "presence" and str(s["from"]) == f"{room}/Alice")
    assert seen["type"] == "available"

    att = a.ok("query", target=a.room("lobby"), object={"type": "attendance"})["result"]
    assert att["object"]["members"] == ["Alice", "bob"]
    assert att["object"]["roles"]["bob"] == "moderator"
    info = a.ok("query", target=a.room("lobby"), object={"type": "room-info"})["result"]
    assert "http://jabber.org/protocol/muc" in info["object"]["features"]
    assert info["object"]["fields"]["muc#roominfo_occupants"] == "2"

    sent = a.ok("send", target=a.room("lobby"), object=msg("hi room"))["result"]["object"]
    got = bob.wait_body("hi room")
    assert str(got["from"]) == f"{room}/Alice" and got["type"] == "groupchat"
    assert sent["xmpp:stanza-id"]  # the room's archive id, from the reflection
    a.ok(
        "send",
        target=a.room("lobby"),
        object=msg("hi room!", **{"xmpp:replace": {"id": sent["id"]}}),
    )
    fixed = bob.wait_body("hi room!")
    assert fixed.xml.find("{urn:xmpp:message-correct:0}replace").get("id") == sent["id"]

    first = bob.send_message(room, "hello Alice", mtype="groupchat")
    event = a.event(lambda x: x["type"] == "send" and x["actor"]["name"] == "bob")
    assert event["target"] == {"type": "room", "id": room, "name": "lobby"}
    assert event["object"]["content"] == "hello Alice" and event["object"]["id"] == first
    bob.send_message(room, "hello, Alice", mtype="groupchat", replace={"id": first})
    corrected = a.event(
        lambda x: (
            x["type"] == "send" and "xmpp:replace" in x["object"] and x["actor"]["name"] == "bob"
        )
    )
    assert corrected["object"]["xmpp:replace"] == {"id": first}

    topic = {"type": "topic", "content": "Our topic"}
    refused = a.request("update", target=a.room("lobby"), object=topic)
    # only moderators, by default
    assert refused["error"]["code"] == "refused", refused
    assert refused["error"]["details"][0]["condition"] == "forbidden", refused
    bob.call(bob.xmpp.plugin["xep_0045"].set_role(room, "Alice", "moderator"))
    a.event(lambda x: x["object"].get("role") == "moderator" and x["actor"]["name"] == "Alice")
    a.ok("update", target=a.room("lobby"), object=topic)
    assert bob.wait_for(lambda s: s.name == "message" and s["subject"] == "Our topic")
    a.ok("leave", target=a.room("lobby"), object=msg("bye"))
    gone = bob.wait_for(lambda s: s.name == "presence" and s["type"] == "unavailable")
    assert str(gone["from"]) == f"{room}/Alice" and gone["status"] == "bye"


def test_subscriptions_presence_and_roster(browser: Any, peer: Any, xmpp_server: XmppServer):
    carol = peer("carol")
    a = browser("dave")
    a.ok("request-friend", target=a.person("carol"), object=msg("it's dave"))
    asked = carol.wait_for(lambda s: s.name == "presence" and s["type"] == "subscribe")
    assert asked["from"].bare == a.jid and asked["status"] == "it's dave"
    carol.send_presence(pto=a.jid, ptype="subscribed")
    approved = a.event(lambda x: x["type"] == "make-friend")
    assert approved["actor"]["id"] == xmpp_server.jid("carol")
    push = a.event(
        lambda x: (
            x["type"] == "update"
            and x["object"]["type"] == "relationship"
            and x["object"]["subscription"] == "to"
        )
    )
    assert push["target"]["id"] == xmpp_server.jid("carol")

    carol.send_presence(pto=a.jid, ptype="subscribe")  # a request, not a presence
    request = a.event(lambda x: x["type"] == "request-friend")
    assert request["actor"]["id"] == xmpp_server.jid("carol")
    a.ok("make-friend", target=a.person("carol"))
    assert carol.wait_for(lambda s: s.name == "presence" and s["type"] == "subscribed")

    carol.send_presence(pshow="away", pstatus="at lunch")
    away = a.event(lambda x: x["type"] == "update" and x["object"].get("presence") == "away")
    assert away["object"]["content"] == "at lunch"
    a.ok("update", object={"type": "presence", "presence": "dnd", "content": "busy"})
    dnd = carol.wait_for(lambda s: s.name == "presence" and s["show"] == "dnd")
    assert dnd["from"].bare == a.jid and dnd["status"] == "busy"

    roster = a.ok("query", object={"type": "roster"})["result"]["object"]
    assert [(i["id"], i["subscription"]) for i in roster["items"]] == [
        (xmpp_server.jid("carol"), "both")
    ]
    a.ok("remove-friend", target=a.person("carol"))
    assert carol.wait_for(lambda s: s.name == "presence" and s["type"] == "unsubscribe")
    assert carol.wait_for(lambda s: s.name == "presence" and s["type"] == "unsubscribed")


def test_errors_are_failed_replies_with_the_xmpp_condition(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    owner = peer("bob", "owner")
    members_only, banned = xmpp_server.room("members"), xmpp_server.room("banned")
    owner.join(members_only, "owner")
    owner.join(banned, "owner")

    owner.configure(members_only, {"muc#roomconfig_membersonly": True})
    owner.call(
        owner.xmpp.plugin["xep_0045"].set_affiliation(
            banned, "outcast", jid=xmpp_server.jid("erin")
        )
    )
    e = browser("erin")
    for name, condition in (("members", "registration-required"), ("banned", "forbidden")):
        reply = e.request("join", target=e.room(name))
        assert reply["status"] == "failed", reply
        assert reply["error"]["code"] == "refused" and reply["error"]["retryable"] is False
        assert reply["error"]["details"][0]["condition"] == condition, reply
        assert xmpp_server.room(name) in reply["error"]["message"]
    reply = e.request(
        "send", target={"id": "nobody@localhost", "type": "person"}, object=msg("anyone?")
    )
    assert reply["error"]["code"] == "refused", reply
    assert reply["error"]["details"][0]["condition"] == "service-unavailable", reply
    reply = e.request("send", target=e.room("members"), object=msg("not in it"))
    assert reply["error"]["code"] == "refused", reply
    assert reply["error"]["details"][0]["condition"] == "not-acceptable", reply
    reply = e.request("send", target=e.person("bob"), object=msg("bell \x07"))
    assert reply["error"]["code"] == "invalid-envelope" and "control" in reply["error"]["message"]
    e.ok("join", target=e.room("open-after-errors"))  # the stream survived all of that


def test_wrong_password_fails_once_without_retrying(browser: Any, xmpp_server: XmppServer):
    b = browser("alice", connect=False, password="not-the-password", resource="wrong")
    reply = b.request("connect")
    assert reply["status"] == "failed" and reply["error"]["code"] == "auth-failed", reply
    assert "not-authorized" in reply["error"]["message"]
    # Prosody offers PLAIN and SCRAM-SHA-1; after the refused SCRAM, no PLAIN attempt
    # (it would send the password itself): its debug log shows every <auth> received.
    tried = re.findall(r"<auth [^>]*mechanism='([^']+)'", xmpp_server.debug_log())
    assert "SCRAM-SHA-1" in tried and "PLAIN" not in tried, tried
    b.state("disconnected")
    time.sleep(2)
    states = [
        f["activity"]["object"].get("state") for f in b.client.frames if f.get("kind") == "event"
    ]
    assert "reconnecting" not in states and states.count("connecting") == 1
    assert states.count("disconnected") == 1


def test_two_tabs_with_the_same_credentials_share_one_stream(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob", "sharing")
    one, two = browser("carol", resource="shared"), browser("carol", resource="shared")
    bob.send_message(xmpp_server.jid("carol"), "to both tabs")
    for tab in (one, two):
        assert tab.event(lambda x: x["object"].get("content") == "to both tabs")
    online = [
        s
        for s in bob.stanzas
        if s.name == "presence" and str(s["from"]) == f"{xmpp_server.jid('carol')}/shared"
    ]
    assert len(online) <= 1  # one stream, so at most one presence of that resource
    one.ok("disconnect")
    two.ok("send", target=two.person("bob"), object=msg("still here"))
    assert bob.wait_body("still here")


def test_server_restart_reconnects_and_rejoins(browser: Any, xmpp_server: XmppServer):
    a = browser("alice", resource="restart", name="Restarter")
    a.ok("join", target=a.room("phoenix"))
    a.event(lambda x: x["type"] == "join")
    a.forget()
    xmpp_server.restart()
    # Prosody with mod_smacks closes a resumable stream without a stream error, so that
    # the client may try to resume it: we do, and the restarted server no longer has it.
    rec = a.state("reconnecting", timeout=15)
    assert rec["object"].get("resuming") is True, rec
    rec = a.state("reconnecting", timeout=30)  # so: a new login
    assert rec["object"]["attempt"] == 1, rec
    a.state("connected", timeout=30)
    rejoined = a.event(lambda x: x["type"] == "join", timeout=20)
    assert rejoined["target"]["id"] == xmpp_server.room("phoenix")
    bob = PlainClient(xmpp_server, "bob", "after-restart")
    try:
        room = xmpp_server.room("phoenix")
        bob.join(room, "bob")
        bob.send_message(room, "welcome back", mtype="groupchat")
        assert a.event(lambda x: x["object"].get("content") == "welcome back")
        a.ok("send", target=a.room("phoenix"), object=msg("glad to be back"))
        assert bob.wait_body("glad to be back")
    finally:
        bob.close()


def test_failover_to_another_worker_node(xmpp_server: XmppServer):
    s = xmpp_stack(xmpp_server)
    s.env_overrides["SOCKETHUB_LEASE_SECONDS"] = "6"  # a killed node's leases lapse sooner
    s.start()
    s.start_worker("xmpp", name="worker-xmpp-2")
    bob = PlainClient(xmpp_server, "bob", "failover")
    a = Browser(s, xmpp_server, "alice", resource="failover", name="Survivor")
    stopped = False
    try:
        a.ok("connect")
        a.ok("join", target=a.room("sturdy"))
        bob.join(xmpp_server.room("sturdy"), "bob")
        field = keys.connection_key_field("xmpp", a.jid)
        session = keys.session_creds(a.client.welcome["session"])
        ckey = s.redis().hget(session, field).decode()
        owner = s.redis().get(keys.lease("xmpp", ckey)).decode()
        victim = owner.split("@")[0]
        assert victim in ("worker-xmpp", "worker-xmpp-2")
        a.forget()
        s.kill(victim)
        started = time.monotonic()
        a.state("reconnecting", timeout=30)
        a.state("connected", timeout=30 - (time.monotonic() - started))
        assert time.monotonic() - started < 30
        new_owner = s.redis().get(keys.lease("xmpp", ckey)).decode()
        assert new_owner != owner
        a.event(lambda x: x["type"] == "join", timeout=15)  # the room was rejoined
        a.ok("send", target=a.person("bob"), object=msg("after failover"))
        assert bob.wait_body("after failover")
        bob.wait_for(
            lambda st: (
                st.name == "presence"
                and st["from"].resource == "Survivor"
                and st["type"] == "available"
            )
        )  # back in the room
        bob.forget()
        s.stop()  # a clean shutdown leaves politely: unavailable presence, then stream close
        stopped = True
        bye = bob.wait_for(
            lambda st: (
                st.name == "presence"
                and st["type"] == "unavailable"
                and st["from"].resource == "Survivor"
            )
        )
        assert bye["status"] == "worker shutting down"
    finally:
        a.close()
        bob.close()
        if not stopped:
            s.stop()


def test_verbs_before_connect_are_refused(browser: Any):
    b = browser("carol", connect=False, resource="early")
    reply = b.request("join", target=b.room("early"))
    assert reply["error"]["code"] == "not-connected", reply
    assert "send connect first" in reply["error"]["message"]


def test_same_account_without_the_secret_is_refused_not_shared(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob", "refusal")
    owner = browser("dave", resource="mine")
    other = browser("dave", connect=False, resource="mine", password="guessing")
    reply = other.request("connect")
    assert reply["status"] == "failed" and reply["error"]["code"] == "auth-failed", reply
    bob.send_message(xmpp_server.jid("dave"), "only for the owner")
    assert owner.event(lambda x: x["object"].get("content") == "only for the owner")
    time.sleep(0.3)
    assert not any(
        f.get("kind") == "event" and "only for the owner" in str(f) for f in other.client.frames
    )


def test_pipelined_messages_reach_the_contact_in_order(browser: Any, peer: Any):
    from ..wsclient import activity

    bob = peer("bob", "ordered")
    a = browser("erin", resource="ordered")
    for round_ in range(4):
        bodies = [f"round{round_} {i:02d}" for i in range(20)]
        rids = [
            a.client.send(
                activity("xmpp", "send", actor=a.actor, target=a.person("bob"), object=msg(body))
            )
            for body in bodies
        ]
        got = [
            bob.wait_for(
                lambda s, r=round_: s.name == "message" and s["body"].startswith(f"round{r} ")
            )["body"]
            for _ in bodies
        ]
        assert got == bodies, got
        for rid in rids:
            assert a.client.reply(rid)["status"] == "completed"


def _send_room(a: Any, room: str, body: str) -> str:
    from ..wsclient import activity

    return a.client.send(
        activity("xmpp", "send", actor=a.actor, target=a.room(room), object=msg(body))
    )


def test_room_message_during_a_server_restart_is_delivered(browser: Any, xmpp_server: XmppServer):
    a = browser("alice", resource="held", name="Holder")
    for i in range(8):  # rejoined before "zz-held", so that takes a moment
        a.ok("join", target=a.room(f"held-{i}"))
    a.ok("join", target=a.room("zz-held"))
    xmpp_server.restart()  # the room is gone with the server until our rejoin makes it again
    rid = _send_room(a, "zz-held", "sent while the server restarted")
    bob = PlainClient(xmpp_server, "bob", "held")
    try:
        reply = a.client.reply(rid, timeout=25)
        assert reply["status"] == "completed", reply
        room = xmpp_server.room("zz-held")
        bob.join(room, "bob")
        bob.send_message(room, "are you there", mtype="groupchat")
        assert a.event(lambda x: x["object"].get("content") == "are you there", timeout=15)
    finally:
        bob.close()


def test_room_message_during_failover_is_delivered(xmpp_server: XmppServer):
    s = xmpp_stack(xmpp_server)
    s.env_overrides["SOCKETHUB_REQUEST_TIMEOUT"] = "45"
    s.env_overrides["SOCKETHUB_LEASE_SECONDS"] = "6"  # a killed node's leases lapse sooner
    s.start()
    bob = PlainClient(xmpp_server, "bob", "held-failover")
    a = None
    try:
        s.start_worker("xmpp", name="worker-xmpp-2")
        a = Browser(s, xmpp_server, "alice", resource="held-failover", name="Keeper")
        a.ok("connect")
        a.ok("join", target=a.room("kept"))
        bob.join(xmpp_server.room("kept"), "bob")
        field = keys.connection_key_field("xmpp", a.jid)
        ckey = s.redis().hget(keys.session_creds(a.client.welcome["session"]), field).decode()
        s.kill(s.redis().get(keys.lease("xmpp", ckey)).decode().split("@")[0])
        rid = _send_room(a, "kept", "held during failover")
        reply = a.client.reply(rid, timeout=45)
        assert reply["status"] == "completed", reply
        assert bob.wait_body("held during failover")
    finally:
        if a is not None:
            a.close()
        bob.close()
        s.stop()
