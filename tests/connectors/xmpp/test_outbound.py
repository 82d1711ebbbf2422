"""Request activities → stanzas, and the errors the way back turns into."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from connectors.xmpp import outbound
from connectors.xmpp.context import XmppContext
from connectors.xmpp.errors import XmppError, error_of
from connectors.xmpp.ids import split_jid
from connectors.xmpp.results import attendance, attendance_from_items, room_info, roster
from connectors.xmpp.states import connection_event
from connectors.xmpp.translate import translate
from envelopes.context import context_for
from envelopes.errors import AuthenticationFailed, InvalidEnvelope, NotFound, Refused

FIXTURES = Path(__file__).parent / "fixtures"
ROOM = "lobby@conference.localhost"


def xml(el: ET.Element) -> str:
    """As it goes on the wire: slixmpp's serializer, which ``send_xml`` uses."""
    from slixmpp.xmlstream.tostring import tostring

    return str(tostring(el))


def send(target: dict[str, str], **obj: object) -> dict[str, object]:
    return {
        "@context": context_for("xmpp"),
        "type": "send",
        "actor": {"id": "alice@localhost", "type": "person"},
        "target": target,
        "object": {"type": "message", **obj},
    }


def test_chat_and_groupchat_messages():
    chat = outbound.message_stanza(
        send({"id": "bob@localhost", "type": "person"}, content="hi <b>"), "m1"
    )
    assert xml(chat) == (
        '<message xmlns="jabber:client" to="bob@localhost" type="chat" id="m1">'
        '<body>hi &lt;b&gt;</body><origin-id xmlns="urn:xmpp:sid:0" id="m1" />'
        '<request xmlns="urn:xmpp:receipts" /></message>'
    )
    room = outbound.message_stanza(
        send({"id": ROOM, "type": "room"}, content="yo", **{"xmpp:replace": {"id": "m0"}}), "m2"
    )
    assert room.get("type") == "groupchat"
    assert room.find("{urn:xmpp:message-correct:0}replace").get("id") == "m0"
    assert room.find("{urn:xmpp:receipts}request") is None  # XEP-0184 §5.3


def test_typing_and_receipts():
    def act(verb: str, target: dict[str, str], **obj: str) -> dict[str, Any]:
        return {"type": verb, "target": target, "object": {"type": verb, **obj}}

    bob = {"id": "bob@localhost", "type": "person"}
    chat = outbound.typing_stanza(act("typing", bob, state="composing"))
    assert xml(chat) == (
        '<message xmlns="jabber:client" to="bob@localhost" type="chat">'
        '<composing xmlns="http://jabber.org/protocol/chatstates" />'
        '<no-store xmlns="urn:xmpp:hints" /></message>'
    )
    room = outbound.typing_stanza(act("typing", {"id": ROOM, "type": "room"}, state="paused"))
    assert room.get("type") == "groupchat"
    with pytest.raises(InvalidEnvelope):
        outbound.typing_stanza(act("typing", bob, state="thinking"))
    receipt = outbound.receipt_stanza(act("receipt", bob, id="m-1", status="delivered"))
    assert xml(receipt) == (
        '<message xmlns="jabber:client" to="bob@localhost" type="chat">'
        '<received xmlns="urn:xmpp:receipts" id="m-1" /></message>'
    )
    with pytest.raises(InvalidEnvelope):
        outbound.receipt_stanza(act("receipt", {"id": ROOM, "type": "room"}, id="m-1"))


def test_and_back_a_sent_message_reads_as_the_same_activity():
    el = outbound.message_stanza(
        send({"id": "alice@localhost", "type": "person"}, content="round trip"), "rt"
    )
    el.set("from", "bob@localhost/x")
    back = translate(el, XmppContext(jid="alice@localhost"))[0]
    assert back["object"] == {"type": "message", "content": "round trip", "id": "rt"}


@pytest.mark.parametrize("content", ["bell \x07", "nul \x00", "\ufffe"])
def test_characters_xml_cannot_carry_are_refused(content: str):
    with pytest.raises(InvalidEnvelope) as err:
        outbound.message_stanza(
            send({"id": "bob@localhost", "type": "person"}, content=content), "m"
        )
    assert err.value.path == "object.content"


def test_targets_must_be_bare_jids_of_the_right_kind():
    with pytest.raises(InvalidEnvelope, match="bare JID"):
        outbound.target_jid({"target": {"id": f"{ROOM}/nick", "type": "room"}})
    with pytest.raises(InvalidEnvelope, match="target.type must be room"):
        outbound.target_jid({"target": {"id": ROOM, "type": "person"}}, kind="room")
    assert outbound.target_jid({"target": {"id": ROOM, "type": "room"}}) == ROOM


def test_nickname_is_the_actor_name_or_the_localpart():
    assert outbound.nick_for({"actor": {"id": "alice@localhost", "name": "Alice A."}}) == "Alice A."
    assert outbound.nick_for({"actor": {"id": "alice@localhost"}}) == "alice"


def test_join_leave_presence_and_subscription_stanzas():
    join = outbound.join_stanza(
        ROOM, "Alice", history={"since": "2026-01-01T00:00:00Z"}, show="away", status="brb"
    )
    assert join.get("to") == f"{ROOM}/Alice" and join.findtext("{jabber:client}show") == "away"
    hist = join.find(f"{{{outbound.MUC_NS}}}x/{{{outbound.MUC_NS}}}history")
    assert hist.get("since") == "2026-01-01T00:00:00Z"
    leave = outbound.leave_stanza(ROOM, "Alice", "bye")
    assert (leave.get("type"), leave.findtext("{jabber:client}status")) == ("unavailable", "bye")
    assert outbound.presence_stanza("online").find("{jabber:client}show") is None
    assert outbound.presence_stanza("offline", "gone").get("type") == "unavailable"
    with pytest.raises(InvalidEnvelope):
        outbound.presence_stanza("invisible")
    types = [p.get("type") for p in outbound.subscription_stanzas("remove-friend", "b@l")]
    assert types == ["unsubscribe", "unsubscribed"]
    ask = outbound.subscription_stanzas("request-friend", "b@l", "it's me")[0]
    assert ask.findtext("{jabber:client}status") == "it's me"
    subject = outbound.subject_stanza(ROOM, "new topic", "s1")
    assert subject.findtext("{jabber:client}subject") == "new topic"
    instant = ET.tostring(outbound.instant_room_query(), encoding="unicode")
    assert instant == (  # XEP-0045 §10.1.2, Example 156
        '<ns0:query xmlns:ns0="http://jabber.org/protocol/muc#owner" '
        'xmlns:ns1="jabber:x:data"><ns1:x type="submit" /></ns0:query>'
    )


def test_error_conditions_map_to_the_error_tree():
    def err(condition: str, etype: str = "cancel") -> XmppError:
        return XmppError(condition, "presence", etype, ROOM)

    assert isinstance(err("forbidden").exception(), Refused)
    members_only = err("registration-required").exception()
    assert members_only.code == "refused" and members_only.condition == "registration-required"
    assert members_only.to_dict()["details"] == [
        {
            "condition": "registration-required",
            "platform": "xmpp",
            "kind": "stanza",
            "type": "cancel",
            "stanza": "presence",
            "from": ROOM,
        }
    ]
    assert isinstance(err("item-not-found").exception(), NotFound)
    busy = err("resource-constraint", "wait").exception()
    assert busy.code == "upstream-error" and busy.condition == "resource-constraint"
    assert busy.to_dict()["retryable"] is True
    assert err("resource-constraint", "wait").exception().__class__.__name__ == "UpstreamError"
    assert isinstance(err("not-authorized").exception(login=True), AuthenticationFailed)
    text = ET.fromstring(
        '<message type="error" from="r@c" id="x"><error type="modify">'
        '<not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">join first</text></error></message>'
    )
    found = error_of(text)
    assert found is not None and found.text == "join first" and found.stanza_id == "x"
    assert "join first" in found.message and "r@c" in found.message


def test_query_results():
    info = room_info(
        ET.fromstring((FIXTURES / "disco-info-room.xml").read_text()), ROOM, "alice@localhost"
    )
    assert info["type"] == "query" and info["object"]["type"] == "room-info"
    assert "http://jabber.org/protocol/muc" in info["object"]["features"]
    assert info["object"]["identities"] == [{"category": "conference", "type": "text"}]
    assert info["object"]["fields"]["muc#roominfo_occupants"] == "2"
    assert "FORM_TYPE" not in info["object"]["fields"]
    empty = attendance_from_items(
        ET.fromstring((FIXTURES / "disco-items-room-empty.xml").read_text()), ROOM, "a@l"
    )
    assert empty["object"] == {"type": "attendance", "members": []}
    items = roster(ET.fromstring((FIXTURES / "roster-result.xml").read_text()), "alice@localhost")
    assert items["object"]["items"] == [
        {
            "type": "person",
            "id": "bob@localhost",
            "name": "bob",
            "subscription": "both",
            "groups": [],
        }
    ]
    ctx = XmppContext(jid="alice@localhost", resource="web")
    assert attendance(ctx, ROOM) is None  # not in the room: the connector asks disco
    ctx.enter(ROOM, "alice")
    for name in ("occupant-presence", "self-presence-110"):
        translate(ET.fromstring((FIXTURES / f"{name}.xml").read_text()), ctx)
    att = attendance(ctx, ROOM)
    assert att is not None and att["object"]["members"] == ["alice", "bob"]
    assert att["object"]["roles"] == {"alice": "participant", "bob": "moderator"}


def test_connection_state_event_shape():
    event = connection_event(
        "reconnecting",
        "alice@localhost",
        attempt=2,
        delay=1.5,
        reason="stream error: system-shutdown",
    )
    assert event["type"] == "connect" and event["actor"]["id"] == "localhost"
    assert event["target"] == {"type": "person", "id": "alice@localhost", "name": "alice"}
    assert event["object"]["state"] == "reconnecting" and event["object"]["attempt"] == 2
    assert connection_event("disconnected", "alice@localhost")["type"] == "disconnect"
    with pytest.raises(ValueError):
        connection_event("sleeping", "alice@localhost")


def test_jid_parts():
    assert split_jid("room@conf.example/nick/with/slashes").resource == "nick/with/slashes"
    assert split_jid("example.org").bare == "example.org"
    assert split_jid("a@b@c/r")[:2] == ("a", "b@c")  # RFC 7622 §3.2: the first "@"
