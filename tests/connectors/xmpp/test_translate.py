"""Stanzas captured from Prosody 0.12 (``fixtures/``) → the activities a browser sees.

The fixtures are what alice@localhost/web received, as slixmpp rendered them (the stream's
default namespace left off); one test checks the namespaced form the connector gets.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from connectors.xmpp.context import XmppContext
from connectors.xmpp.errors import XmppError
from connectors.xmpp.translate import translate
from envelopes.context import context_for

FIXTURES = Path(__file__).parent / "fixtures"
ME = "alice@localhost"
ROOM = "lobby@conference.localhost"
CTX = context_for("xmpp")


def stanza(name: str) -> ET.Element:
    return ET.fromstring((FIXTURES / f"{name}.xml").read_text())


def ctx(*rooms: tuple[str, str]) -> XmppContext:
    c = XmppContext(jid=ME, resource="web")
    for room, nick in rooms:
        c.enter(room, nick)
    return c


def one(name: str, c: XmppContext | None = None) -> Any:
    results = translate(stanza(name), c or ctx())
    assert len(results) == 1, results
    return results[0]


def test_chat_message_with_stanza_id():
    assert one("chat-message") == {
        "@context": CTX,
        "type": "send",
        "actor": {"type": "person", "id": "bob@localhost", "name": "bob"},
        "target": {"type": "person", "id": ME, "name": "alice"},
        "object": {
            "type": "message",
            "content": "hi alice",
            "id": "chat-1",
            "xmpp:stanza-id": "Ou9Ky_yjfU7astJ2uK8CuDgV",
        },
    }


def test_groupchat_message_is_from_the_occupant_to_the_room():
    got = one("groupchat-message", ctx((ROOM, "alice")))
    assert got["actor"] == {"type": "person", "id": f"{ROOM}/bob", "name": "bob"}
    assert got["target"] == {"type": "room", "id": ROOM, "name": "lobby"}
    assert got["object"] == {
        "type": "message",
        "content": "hello room",
        "id": "grp-1",
        "xmpp:stanza-id": "CepVspnknTOVGsI4e58ahhVf",
    }
    assert "published" not in got


def test_room_history_carries_its_time():
    got = one("groupchat-history-delayed")
    assert got["published"] == "2026-11-28T19:12:59Z"
    assert got["object"]["content"] == "earlier message"


def test_correction_names_the_message_it_replaces():
    got = one("groupchat-correction")
    assert got["object"]["xmpp:replace"] == {"id": "grp-1"}
    assert got["object"]["content"] == "hello room, corrected"


def test_stanza_id_from_anyone_else_is_not_trusted():
    el = stanza("groupchat-message")
    for sid in el.iter("{urn:xmpp:sid:0}stanza-id"):
        sid.set("by", "mallory@localhost")  # XEP-0359 §3.3: only the room may stamp
    assert "xmpp:stanza-id" not in translate(el, ctx())[0]["object"]


def test_subjects_are_topic_updates():
    c = ctx((ROOM, "alice"))
    got = one("subject-from-occupant", c)
    assert (got["type"], got["object"]) == (
        "update",
        {"type": "topic", "content": "Welcome to the lobby"},
    )
    assert got["actor"]["id"] == f"{ROOM}/bob"
    assert got["published"] == "2026-11-28T19:12:59Z"
    assert c.room(ROOM).subject == "Welcome to the lobby"
    empty = one("subject-empty-from-room")
    assert empty["actor"] == {"type": "room", "id": ROOM, "name": "lobby"}
    assert empty["object"] == {"type": "topic", "content": ""}


def test_private_message_through_a_room_is_from_the_occupant():
    got = one("private-message-from-occupant")
    assert got["actor"] == {"type": "person", "id": f"{ROOM}/bob", "name": "bob"}
    assert got["target"]["id"] == ME


def test_a_chat_state_is_typing():
    assert one("chat-state-composing") == {
        "@context": CTX,
        "type": "typing",
        "actor": {"type": "person", "id": "bob@localhost", "name": "bob"},
        "target": {"type": "person", "id": ME, "name": "alice"},
        "object": {"type": "typing", "state": "composing"},
    }


def test_typing_in_a_room_and_our_own_reflected():
    c = ctx((ROOM, "Alice"))
    for nick in ("bob", "Alice"):
        el = ET.fromstring(
            f'<message from="{ROOM}/{nick}" type="groupchat">'
            '<paused xmlns="http://jabber.org/protocol/chatstates"/></message>'
        )
        got = translate(el, c)
        if nick == "Alice":
            assert got == []  # the room reflected our own typing
        else:
            assert got[0]["type"] == "typing" and got[0]["target"]["id"] == ROOM
            assert got[0]["actor"] == {"type": "person", "id": f"{ROOM}/bob", "name": "bob"}


def test_a_delivery_receipt():
    el = ET.fromstring(
        '<message from="bob@localhost/peer" to="alice@localhost/web" id="r1">'
        '<received xmlns="urn:xmpp:receipts" id="m-42"/></message>'
    )
    got = translate(el, ctx())
    assert len(got) == 1 and got[0]["type"] == "receipt"
    assert got[0]["actor"]["id"] == "bob@localhost" and got[0]["target"]["id"] == ME
    assert got[0]["object"] == {"type": "receipt", "id": "m-42", "status": "delivered"}
    el.find("{urn:xmpp:receipts}received").attrib.pop("id")
    assert translate(el, ctx()) == []  # a receipt for no message says nothing


def test_a_carbon_of_our_other_resources_typing_is_ours():
    el = ET.fromstring(
        '<message from="alice@localhost" to="alice@localhost/web">'
        '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        '<message xmlns="jabber:client" to="bob@localhost" type="chat">'
        '<composing xmlns="http://jabber.org/protocol/chatstates"/></message>'
        "</forwarded></sent></message>"
    )
    got = translate(el, ctx())
    assert got[0]["type"] == "typing" and got[0]["actor"]["id"] == ME
    assert got[0]["target"]["id"] == "bob@localhost"
    assert got[0]["object"] == {"type": "typing", "state": "composing", "xmpp:carbon": "sent"}


def test_a_body_less_message_without_a_signal_gives_nothing():
    el = ET.fromstring(
        '<message from="bob@localhost/p"><markable xmlns="urn:xmpp:chat-markers:0"/></message>'
    )
    assert translate(el, ctx()) == []


def test_contact_presence():
    away = one("contact-away-delayed")
    assert away["type"] == "update"
    assert away["actor"] == {"type": "person", "id": "bob@localhost", "name": "bob"}
    assert away["object"] == {"type": "presence", "presence": "away", "content": "at lunch"}
    assert one("contact-dnd")["object"]["presence"] == "dnd"
    assert one("contact-unavailable")["object"] == {"type": "presence", "presence": "offline"}
    assert translate(stanza("own-presence-reflected"), ctx()) == []


@pytest.mark.parametrize(
    "name, verb", [("subscribe", "request-friend"), ("subscribed", "make-friend")]
)
def test_subscription_requests_are_not_presences(name: str, verb: str):
    got = one(name)
    assert got["type"] == verb
    assert got["actor"]["id"] == "bob@localhost" and got["target"]["id"] == ME
    assert got["object"] == {"type": "relationship", "subscription": name}


def test_joining_a_room_occupants_then_ourselves():
    c = ctx((ROOM, "alice"))
    bob = one("occupant-presence", c)
    assert bob["type"] == "update" and bob["target"]["id"] == ROOM
    assert bob["object"] == {
        "type": "presence",
        "presence": "online",
        "role": "moderator",
        "affiliation": "owner",
    }
    me = one("self-presence-110", c)
    assert me["type"] == "join"
    assert me["actor"] == {"type": "person", "id": f"{ROOM}/alice", "name": "alice"}
    assert c.room(ROOM).joined and sorted(c.room(ROOM).occupants) == ["alice", "bob"]
    gone = one("occupant-unavailable", c)
    assert gone["object"]["presence"] == "offline" and gone["object"]["content"] == "gone for now"
    assert sorted(c.room(ROOM).occupants) == ["alice"]


def test_a_self_presence_with_201_says_our_join_created_the_room():
    c = ctx((ROOM, "alice"))
    me = one("self-presence-201", c)
    assert me["type"] == "join" and me["object"]["affiliation"] == "owner"
    assert c.room(ROOM).created  # XEP-0045 §10.1.1: locked until we configure it
    c = ctx((ROOM, "alice"))
    one("self-presence-110", c)
    assert not c.room(ROOM).created


def test_presence_from_a_room_we_are_not_in_is_still_an_occupant():
    got = one("occupant-presence")  # no RoomState: nothing remembered, still translated
    assert got["actor"]["id"] == f"{ROOM}/bob"


def test_leaving_and_being_kicked():
    room = "kicks@conference.localhost"
    c = ctx((room, "alice"))
    c.room(room).joined = True
    kicked = one("self-kicked-307", c)
    assert kicked["type"] == "leave" and kicked["object"]["reason"] == "kicked"
    assert c.room(room) is None
    c = ctx((room, "alice"))
    c.room(room).joined = True
    left = one("self-leave-110", c)
    assert left["type"] == "leave" and left["object"] == {"type": "message", "content": "see you"}


@pytest.mark.parametrize(
    "name, condition, kind, sender",
    [
        (
            "error-join-registration-required",
            "registration-required",
            "presence",
            "private@conference.localhost/alice",
        ),
        ("error-join-forbidden", "forbidden", "presence", "banned@conference.localhost/alice"),
        ("error-join-conflict", "conflict", "presence", f"{ROOM}/bob"),
        ("error-service-unavailable", "service-unavailable", "message", "nobody@localhost"),
        ("error-iq-item-not-found", "item-not-found", "iq", "nosuchroom@conference.localhost"),
    ],
)
def test_error_stanzas_become_xmpp_errors(name: str, condition: str, kind: str, sender: str):
    got = one(name)
    assert isinstance(got, XmppError)
    assert (got.condition, got.kind, got.sender) == (condition, kind, sender)


def test_a_refused_join_forgets_the_room():
    c = ctx(("private@conference.localhost", "alice"))
    one("error-join-registration-required", c)
    assert c.room("private@conference.localhost") is None


def test_roster_pushes_are_relationship_updates():
    got = one("roster-push")
    assert got["type"] == "update" and got["actor"]["id"] == ME
    assert got["target"] == {"type": "person", "id": "bob@localhost", "name": "Bobby"}
    assert got["object"] == {"type": "relationship", "subscription": "none", "groups": ["friends"]}
    assert one("roster-push-ask")["object"]["ask"] == "subscribe"
    assert one("roster-push-remove")["object"]["subscription"] == "remove"


def test_roster_push_from_a_stranger_is_ignored():
    el = stanza("roster-push")
    el.set("from", "mallory@evil.example")  # RFC 6121 §2.1.6: only our server may push
    assert translate(el, ctx()) == []


def test_namespaced_stanzas_as_the_connector_gets_them():
    text = (FIXTURES / "chat-message.xml").read_text()
    el = ET.fromstring(text.replace("<message ", '<message xmlns="jabber:client" ', 1))
    assert el.tag == "{jabber:client}message"
    assert translate(el, ctx())[0]["object"]["content"] == "hi alice"


def test_odd_stanzas_give_nothing_and_raise_nothing():
    for text in (
        '<message from="a@b"/>',
        "<presence/>",
        '<presence type="probe" from="a@b"/>',
        '<iq type="get" id="1"><ping xmlns="urn:xmpp:ping"/></iq>',
        "<stream/>",
        '<message type="error" from="a@b"/>',
        '<presence from="r@c/n"><x xmlns="http://jabber.org/protocol/muc#user">'
        "<status/></x></presence>",
    ):
        for result in translate(ET.fromstring(text), ctx()):
            assert isinstance(result, (dict, XmppError))


def test_a_sent_carbon_is_our_own_send_marked_as_such():
    # XEP-0280 §6: another resource of ours sent it; the recipient is the target.
    assert one("carbon-sent") == {
        "@context": CTX,
        "type": "send",
        "actor": {"type": "person", "id": ME, "name": "alice"},
        "target": {"type": "person", "id": "bob@localhost", "name": "bob"},
        "object": {
            "type": "message",
            "content": "sent from the phone",
            "id": "phone-1",
            "xmpp:carbon": "sent",
        },
    }


def test_a_received_carbon_is_the_message_it_copies_marked_as_such():
    event = one("carbon-received")
    assert event["actor"] == {"type": "person", "id": "bob@localhost", "name": "bob"}
    assert event["target"]["id"] == ME
    assert event["object"] == {
        "type": "message",
        "content": "for the phone",
        "id": "bob-1",
        "xmpp:stanza-id": "Zr4bTq",
        "xmpp:carbon": "received",
    }


def test_a_carbon_not_from_our_own_account_is_dropped():
    # XEP-0280 §11: anyone could otherwise put words in our mouth.
    assert translate(stanza("carbon-forged"), ctx()) == []
    own_resource = stanza("carbon-sent")
    own_resource.set("from", f"{ME}/phone")  # carbons come from the bare JID only
    assert translate(own_resource, ctx()) == []
