"""Markers, replies, reactions and retraction (``references``) and profiles (``profile``)
from stanzas as text: the translation and the stanzas built, without a server."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

from connectors.xmpp.context import XmppContext
from connectors.xmpp.profile import _data_uri, avatar_info, read_vcard_temp
from connectors.xmpp.recall import Recall
from connectors.xmpp.references import add_reply
from connectors.xmpp.referring import wire_id
from connectors.xmpp.translate import translate

ME, BOB, ROOM = "alice@localhost", "bob@localhost", "lobby@conference.localhost"
REACT = "urn:xmpp:reactions:0"


def ctx(bound: int = 100, max_reactions: int = 50) -> XmppContext:
    c = XmppContext(jid=ME, resource="web", recall=Recall(bound, max_reactions))
    state = c.enter(ROOM, "Alice")
    state.joined = True
    return c


def run(c: XmppContext, text: str) -> list[Any]:
    return translate(ET.fromstring(text), c)


def reactions(sender: str, mid: str, *emojis: str, mtype: str = "chat") -> str:
    inner = "".join(f"<reaction>{e}</reaction>" for e in emojis)
    return (
        f"<message xmlns='jabber:client' from='{sender}' to='{ME}/web' type='{mtype}'>"
        f"<reactions xmlns='{REACT}' id='{mid}'>{inner}</reactions></message>"
    )


def changes(results: list[Any]) -> list[tuple[str, bool]]:
    return [(r["object"]["content"], bool(r["object"].get("remove"))) for r in results]


def test_a_set_of_reactions_becomes_one_event_per_change():
    c = ctx()
    assert changes(run(c, reactions(f"{BOB}/phone", "m1", "👍", "🎉"))) == [
        ("👍", False),
        ("🎉", False),
    ]
    assert changes(run(c, reactions(f"{BOB}/phone", "m1", "🎉", "😂"))) == [
        ("😂", False),
        ("👍", True),
    ]
    assert changes(run(c, reactions(f"{BOB}/phone", "m1"))) == [("🎉", True), ("😂", True)]
    # Another message, another set: first sight is all adds.
    assert changes(run(c, reactions(BOB, "m2", "🎉"))) == [("🎉", False)]


def test_reaction_sets_are_bounded():
    c = ctx(max_reactions=2)
    got = run(c, reactions(BOB, "m1", "x" * 33, "a", "b", "c", "d"))
    assert changes(got) == [("a", False), ("b", False)]  # one emoji each, at most two


def test_in_a_room_ids_are_the_rooms_stanza_ids_mapped_back():
    c = ctx()
    said = run(
        c,
        f"<message xmlns='jabber:client' from='{ROOM}/bob' type='groupchat' id='own-1'>"
        f"<body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='room-9'/></message>",
    )[0]
    assert said["object"]["id"] == "own-1" and said["object"]["xmpp:stanza-id"] == "room-9"
    # Outgoing: the room's id; incoming references to it: the id the browser knows.
    assert wire_id(c.recall, ROOM, True, "own-1") == "room-9"
    assert wire_id(c.recall, ROOM, True, "unknown") == "unknown"
    marker = run(
        c,
        f"<message xmlns='jabber:client' from='{ROOM}/carol' type='groupchat'>"
        "<displayed xmlns='urn:xmpp:chat-markers:0' id='room-9'/></message>",
    )
    assert marker[0]["type"] == "receipt" and marker[0]["object"] == {
        "type": "receipt",
        "id": "own-1",
        "status": "read",
    }
    assert marker[0]["target"]["id"] == ROOM


def test_our_own_reactions_reflected_by_a_room_update_our_set_silently():
    c = ctx()
    assert run(c, reactions(f"{ROOM}/Alice", "m1", "👍", mtype="groupchat")) == []
    assert c.recall.our_set(ROOM, "m1") == ["👍"]


def test_a_reply_loses_its_fallback_quote_counted_in_code_points():
    c = ctx()
    quote = "> 🎂 cake?\n"
    got = run(
        c,
        f"<message xmlns='jabber:client' from='{BOB}/phone' type='chat' id='r1'>"
        f"<body>{quote}yes 🍰</body><reply xmlns='urn:xmpp:reply:0' id='m1'/>"
        f"<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
        f"<body start='0' end='{len(quote)}'/></fallback></message>",
    )[0]
    assert got["object"]["inReplyTo"] == "m1" and got["object"]["content"] == "yes 🍰"
    # A range past the body is ignored, not trusted.
    got = run(
        c,
        f"<message xmlns='jabber:client' from='{BOB}' type='chat' id='r2'><body>short</body>"
        "<reply xmlns='urn:xmpp:reply:0' id='m1'/><fallback xmlns='urn:xmpp:fallback:0' "
        "for='urn:xmpp:reply:0'><body start='0' end='99'/></fallback></message>",
    )[0]
    assert got["object"]["content"] == "short"


def test_the_reply_we_send_quotes_with_a_matching_fallback_range():
    msg = ET.fromstring("<message xmlns='jabber:client'><body>sure</body></message>")
    add_reply(msg, "m1", f"{BOB}/phone", "bob", "🎂 cake?\nor pie")
    body = msg.findtext("{jabber:client}body")
    assert body == "> bob wrote:\n> 🎂 cake?\n> or pie\nsure"
    span = msg.find("{urn:xmpp:fallback:0}fallback/{urn:xmpp:fallback:0}body")
    assert body[int(span.get("end")) :] == "sure"


def test_retractions_old_and_new_are_delete_events_and_no_message():
    c = ctx()
    for text in (
        f"<message xmlns='jabber:client' from='{BOB}' type='chat'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='m1'/><body>fallback</body></message>",
        f"<message xmlns='jabber:client' from='{BOB}' type='chat'>"
        "<apply-to xmlns='urn:xmpp:fasten:0' id='m1'>"
        "<retract xmlns='urn:xmpp:message-retract:0'/></apply-to><body>fallback</body></message>",
    ):
        (got,) = run(c, text)
        assert got["type"] == "delete" and got["object"] == {"type": "message", "id": "m1"}


def test_recall_forgets_the_oldest_first():
    r = Recall(bound=2)
    for i in range(3):
        r.add(BOB, f"m{i}", "", BOB, "text", False)
    assert r.lookup(BOB, "m0") is None and r.lookup(BOB, "m2") is not None


def test_profile_readers():
    card = ET.fromstring(
        "<vCard xmlns='vcard-temp'><FN>Bob B</FN><NICKNAME>bobby</NICKNAME>"
        "<EMAIL><USERID>b@x</USERID></EMAIL><PHOTO><TYPE>image/png</TYPE>"
        "<BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard>"
    )
    fields, kind, photo = read_vcard_temp(card)
    assert fields == {"name": "bobby", "realName": "Bob B", "email": "b@x"}
    assert _data_uri(kind, photo, 100) == ("data:image/png;base64,aGVsbG8=", "")
    assert "SOCKETHUB_XMPP_MAX_AVATAR_BYTES" in _data_uri(kind, photo, 3)[1]
    svg = base64.b64encode(b"<svg onload='x'/>").decode()
    assert _data_uri("image/svg+xml", svg, 100)[0] == ""  # could carry script
    meta = "urn:xmpp:avatar:metadata"
    assert avatar_info(ET.fromstring(f"<metadata xmlns='{meta}'/>")) is None  # withdrawn
    both = ET.fromstring(
        f"<metadata xmlns='{meta}'><info id='a' url='http://x/a.png'/>"
        "<info id='b' bytes='5' type='image/png'/></metadata>"
    )
    assert avatar_info(both) == {"id": "b", "bytes": "5", "type": "image/png"}


def test_a_retraction_by_anyone_but_the_author_is_dropped():
    c = ctx()
    run(
        c,
        f"<message xmlns='jabber:client' from='{ROOM}/bob' type='groupchat' id='b1'>"
        f"<body>mine</body><stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s1'/></message>",
    )
    forged = (
        f"<message xmlns='jabber:client' from='{ROOM}/mallory' type='groupchat'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='s1'/></message>"
    )
    assert run(c, forged) == []
    (got,) = run(c, forged.replace("mallory", "bob"))
    assert got["object"] == {"type": "message", "id": "b1"}
