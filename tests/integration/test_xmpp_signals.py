"""Chat markers (XEP-0333), replies (XEP-0461), reactions (XEP-0444), retraction
(XEP-0424) and profiles (XEP-0292 vCard4, XEP-0084 avatars) through the whole stack
against a real Prosody, in the shapes shared with IRC (docs/protocol.md).

The other side is an independent slixmpp client (``PlainClient``) speaking raw stanzas,
so what is checked is the wire format another XMPP client sees, not our own reading of it.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import browsers, msg
from ..stack import Stack

pytestmark = pytest.mark.integration

MARKERS, REPLY = "urn:xmpp:chat-markers:0", "urn:xmpp:reply:0"
REACTIONS, RETRACT = "urn:xmpp:reactions:0", "urn:xmpp:message-retract:1"
FALLBACK, SID = "urn:xmpp:fallback:0", "urn:xmpp:sid:0"
CARBONS = "urn:xmpp:carbons:2"
AVATAR_LIMIT = 4096
# A 1x1 PNG: what the peer publishes as its avatar.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwAEAQH/4LC0sQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody"), users=("alice", "bob", "carol")) as s:
        yield s


@pytest.fixture(scope="module")
def stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    env = {
        "SOCKETHUB_REQUEST_TIMEOUT": "20",
        "SSL_CERT_FILE": str(xmpp_server.ca_file),
        "SOCKETHUB_XMPP_MAX_AVATAR_BYTES": str(AVATAR_LIMIT),
    }
    s = Stack(platforms=("xmpp",), env_overrides=env).start()
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


def raw(client: PlainClient, stanza: str) -> None:
    client.do(lambda: client.xmpp.send_raw(stanza))


def has(ns: str, local: str) -> Any:
    return lambda s: s.name == "message" and s.xml.find(f"{{{ns}}}{local}") is not None


def room_message(a: Any, bob: PlainClient, room: str, text: str) -> dict[str, Any]:
    """bob says ``text`` in ``room``; the browser's event for it (with the room's id)."""
    bob.send_message(room, text, mtype="groupchat")
    return a.event(lambda x: x["type"] == "send" and x["object"]["content"] == text)


def test_chat_markers_both_ways_in_a_chat_and_a_room(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob")
    a = browser("alice")
    phone = peer("alice", "phone")
    bob_jid = xmpp_server.jid("bob")

    # Our messages are markable (XEP-0333 §3); bob's "displayed" is a read receipt.
    reply = a.ok("send", target=a.person("bob"), object=msg("read me"))
    mid = reply["result"]["object"]["id"]
    assert bob.wait_body("read me").xml.find(f"{{{MARKERS}}}markable") is not None
    raw(
        bob,
        f"<message to='{a.jid}' type='chat'><displayed xmlns='{MARKERS}' id='{mid}'/></message>",
    )
    read = a.event(lambda x: x["type"] == "receipt")
    assert read["actor"]["id"] == bob_jid and read["target"]["id"] == a.jid
    assert read["object"] == {"type": "receipt", "id": mid, "status": "read"}

    # The browser marks bob's message read: bob gets "displayed" for its id.
    bob.send_message(a.jid, "did you read it?", id="b-1")
    a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "b-1")
    a.ok(
        "receipt", target=a.person("bob"), object={"type": "receipt", "id": "b-1", "status": "read"}
    )
    shown = bob.wait_for(has(MARKERS, "displayed"))
    assert shown.xml.find(f"{{{MARKERS}}}displayed").get("id") == "b-1"

    # What our phone marks read reaches the browser as our own read receipt (carbons).
    phone.enable_carbons()
    bob.send_message(a.jid, "read on the phone", id="b-2")
    a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "b-2")
    raw(
        phone,
        f"<message to='{bob_jid}' type='chat'><displayed xmlns='{MARKERS}' id='b-2'/></message>",
    )
    mine = a.event(lambda x: x["type"] == "receipt" and x["object"]["id"] == "b-2")
    assert mine["actor"]["id"] == a.jid and mine["target"]["id"] == bob_jid, mine
    assert mine["object"]["status"] == "read"

    # In a room the marker names the room's stanza-id (XEP-0333 §3.1, XEP-0359).
    room = xmpp_server.room("markers")
    bob.join(room, "bob")
    a.ok("join", target=a.room("markers"))
    said = room_message(a, bob, room, "mark this in the room")
    stanza_id = said["object"]["xmpp:stanza-id"]
    bob.forget()
    target = {"type": "receipt", "id": said["object"]["id"], "status": "read"}
    a.ok("receipt", target=a.room("markers"), object=target)
    shown = bob.wait_for(has(MARKERS, "displayed"))
    assert shown["type"] == "groupchat"
    assert shown.xml.find(f"{{{MARKERS}}}displayed").get("id") == stanza_id


def _reply_of(stanza: Any) -> ET.Element:
    el = stanza.xml.find(f"{{{REPLY}}}reply")
    assert el is not None, stanza
    return el


def test_replies_both_ways_with_the_fallback_quote(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob")
    a = browser("alice")
    bob_jid = xmpp_server.jid("bob")

    bob.send_message(a.jid, "shall we meet at noon?", id="q-1")
    a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "q-1")
    a.ok("send", target=a.person("bob"), object=msg("noon is fine", inReplyTo="q-1"))
    got = bob.wait_for(lambda s: s.name == "message" and s["body"].endswith("noon is fine"))
    ref = _reply_of(got)
    assert ref.get("id") == "q-1" and ref.get("to", "").startswith(bob_jid)
    # XEP-0461 §5: the body quotes what it answers, marked as a fallback (XEP-0428).
    body = got["body"]
    assert body.startswith("> ") and "shall we meet at noon?" in body, body
    fb = got.xml.find(f"{{{FALLBACK}}}fallback[@for='{REPLY}']/{{{FALLBACK}}}body")
    assert body[int(fb.get("start")) : int(fb.get("end"))] + "noon is fine" == body

    # bob's reply to our message: the event names it and leaves the quote out.
    mine = a.ok("send", target=a.person("bob"), object=msg("bring the cake"))
    mid = mine["result"]["object"]["id"]
    bob.wait_body("bring the cake")
    quote = "> bring the cake\n"
    raw(
        bob,
        f"<message to='{a.jid}' type='chat' id='r-1'><body>{quote}sure</body>"
        f"<reply xmlns='{REPLY}' to='{a.jid}/web' id='{mid}'/>"
        f"<fallback xmlns='{FALLBACK}' for='{REPLY}'><body start='0' end='{len(quote)}'/>"
        "</fallback></message>",
    )
    answer = a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "r-1")
    assert answer["object"]["inReplyTo"] == mid and answer["object"]["content"] == "sure"

    # In a room the reply names the room's stanza-id and the author's occupant JID.
    room = xmpp_server.room("replies")
    bob.join(room, "bob")
    a.ok("join", target=a.room("replies"))
    said = room_message(a, bob, room, "who is coming?")
    a.ok("send", target=a.room("replies"), object=msg("me", inReplyTo=said["object"]["id"]))
    got = bob.wait_for(
        lambda s: (
            s.name == "message"
            and s["body"].endswith("me")
            and s.xml.find(f"{{{REPLY}}}reply") is not None
        )
    )
    ref = _reply_of(got)
    assert ref.get("id") == said["object"]["xmpp:stanza-id"] and ref.get("to") == f"{room}/bob"


def _reactions(stanza: Any) -> tuple[str, set[str]]:
    el = stanza.xml.find(f"{{{REACTIONS}}}reactions")
    return el.get("id"), {r.text for r in el.findall(f"{{{REACTIONS}}}reaction")}


def _react(content: str, to: str, remove: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "reaction", "inReplyTo": to, "content": content}
    return {**obj, "remove": True} if remove else obj


def test_reactions_both_ways_one_change_per_activity(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob")
    a = browser("alice")
    bob_jid = xmpp_server.jid("bob")

    bob.send_message(a.jid, "react to me", id="m-1")
    a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "m-1")
    # XEP-0444 sends the whole set each time: ours is kept per message.
    for change, expected in (
        (_react("👍", "m-1"), {"👍"}),
        (_react("🎉", "m-1"), {"👍", "🎉"}),
        (_react("👍", "m-1", remove=True), {"🎉"}),
    ):
        a.ok("react", target=a.person("bob"), object=change)
        assert _reactions(bob.wait_for(has(REACTIONS, "reactions"))) == ("m-1", expected)

    # bob's sets become one event per emoji added or removed.
    mine = a.ok("send", target=a.person("bob"), object=msg("a message to react to"))
    mid = mine["result"]["object"]["id"]
    a.forget()

    def bob_reacts(*emojis: str) -> None:
        inner = "".join(f"<reaction>{e}</reaction>" for e in emojis)
        raw(
            bob,
            f"<message to='{a.jid}' type='chat'>"
            f"<reactions xmlns='{REACTIONS}' id='{mid}'>{inner}</reactions></message>",
        )

    def next_reaction() -> dict[str, Any]:
        event = a.event(lambda x: x["type"] == "react")
        assert event["actor"]["id"] == bob_jid and event["target"]["id"] == a.jid, event
        assert event["object"]["inReplyTo"] == mid
        return event["object"]

    bob_reacts("❤️")
    assert next_reaction() == {"type": "reaction", "inReplyTo": mid, "content": "❤️"}
    bob_reacts("❤️", "😂")
    assert next_reaction()["content"] == "😂"
    bob_reacts()
    removed = {next_reaction()["content"], next_reaction()["content"]}
    assert removed == {"❤️", "😂"}

    # In a room the reaction names the room's stanza-id.
    room = xmpp_server.room("reactions")
    bob.join(room, "bob")
    a.ok("join", target=a.room("reactions"))
    said = room_message(a, bob, room, "react in the room")
    bob.forget()
    a.ok("react", target=a.room("reactions"), object=_react("🚀", said["object"]["id"]))
    got = bob.wait_for(has(REACTIONS, "reactions"))
    assert got["type"] == "groupchat"
    assert _reactions(got) == (said["object"]["xmpp:stanza-id"], {"🚀"})


def test_retraction_of_our_own_messages_and_theirs_seen(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob")
    a = browser("alice")
    bob_jid = xmpp_server.jid("bob")

    mine = a.ok("send", target=a.person("bob"), object=msg("oops, wrong chat"))
    mid = mine["result"]["object"]["id"]
    bob.wait_body("oops, wrong chat")
    a.ok("delete", target=a.person("bob"), object={"type": "message", "id": mid})
    got = bob.wait_for(has(RETRACT, "retract"))
    assert got.xml.find(f"{{{RETRACT}}}retract").get("id") == mid
    assert got["body"], "XEP-0424 §4: a fallback body for clients without retraction"

    # Only our own messages: bob's is refused, and nothing is sent.
    bob.send_message(a.jid, "not yours to retract", id="theirs-1")
    a.event(lambda x: x["type"] == "send" and x["object"]["id"] == "theirs-1")
    refused = a.request(
        "delete", target=a.person("bob"), object={"type": "message", "id": "theirs-1"}
    )
    assert refused["status"] == "failed" and refused["error"]["code"] == "refused", refused

    # bob retracts his: a delete event.
    raw(
        bob,
        f"<message to='{a.jid}' type='chat'><retract xmlns='{RETRACT}' id='theirs-1'/>"
        f"<fallback xmlns='{FALLBACK}' for='{RETRACT}'/><body>retracted</body></message>",
    )
    gone = a.event(lambda x: x["type"] == "delete")
    assert gone["actor"]["id"] == bob_jid and gone["target"]["id"] == a.jid
    assert gone["object"] == {"type": "message", "id": "theirs-1"}
    sends = [
        f["activity"]
        for f in a.client.frames
        if f.get("kind") == "event" and f["activity"]["type"] == "send"
    ]
    assert all(s["object"]["content"] != "retracted" for s in sends)  # not a message

    # In a room: our own message, named by the room's stanza-id.
    room = xmpp_server.room("retractions")
    bob.join(room, "bob")
    a.ok("join", target=a.room("retractions"))
    said = a.ok("send", target=a.room("retractions"), object=msg("take this back"))
    bob.wait_body("take this back")
    bob.forget()
    a.ok(
        "delete",
        target=a.room("retractions"),
        object={"type": "message", "id": said["result"]["object"]["id"]},
    )
    got = bob.wait_for(has(RETRACT, "retract"))
    assert got["type"] == "groupchat"
    assert (
        got.xml.find(f"{{{RETRACT}}}retract").get("id")
        == said["result"]["object"]["xmpp:stanza-id"]
    )


def test_a_profile_with_vcard4_fields_and_the_avatar(
    browser: Any, peer: Any, xmpp_server: XmppServer
):
    bob = peer("bob")
    bob.publish_vcard(
        fn="Bob Builder",
        nickname="bobby",
        note="can we fix it",
        url="https://bob.example",
        email="bob@example.org",
    )
    bob.publish_avatar(PNG)
    a = browser("alice")
    reply = a.ok("query", target=a.person("bob"), object={"type": "profile"})
    profile = reply["result"]["object"]
    assert reply["result"]["actor"]["id"] == xmpp_server.jid("bob")
    assert profile["type"] == "profile" and profile["name"] == "bobby", profile
    assert profile["realName"] == "Bob Builder" and profile["note"] == "can we fix it"
    assert profile["url"] == "https://bob.example" and profile["email"] == "bob@example.org"
    assert profile["image"] == "data:image/png;base64," + base64.b64encode(PNG).decode()

    # An avatar past the setting is left out, and the result says why.
    carol = peer("carol")
    carol.publish_avatar(PNG + b"\0" * AVATAR_LIMIT)
    profile = a.ok("query", target=a.person("carol"), object={"type": "profile"})["result"]
    assert "image" not in profile["object"], profile
    assert "SOCKETHUB_XMPP_MAX_AVATAR_BYTES" in profile["object"]["xmpp:image-omitted"]
    assert profile["object"]["name"] == "carol"  # no vCard: the JID's localpart


def test_setting_our_own_avatar_as_others_read_it(browser: Any, peer: Any, xmpp_server: XmppServer):
    bob = peer("bob")
    a = browser("alice")
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    a.ok("update", object={"type": "profile", "image": uri})
    # An independent client reads it as XEP-0084 says: metadata, then the data it names.
    pubsub = "http://jabber.org/protocol/pubsub"

    def items(node: str) -> ET.Element:
        async def go() -> Any:
            iq = bob.xmpp.make_iq_get(ito=a.jid)
            ET.SubElement(
                ET.SubElement(iq.xml, f"{{{pubsub}}}pubsub"), f"{{{pubsub}}}items", node=node
            )
            return (await iq.send(timeout=10)).xml

        return bob.call(go()).find(f"{{{pubsub}}}pubsub/{{{pubsub}}}items/{{{pubsub}}}item")

    info = items("urn:xmpp:avatar:metadata").find(
        "{urn:xmpp:avatar:metadata}metadata/{urn:xmpp:avatar:metadata}info"
    )
    assert info.get("type") == "image/png" and info.get("bytes") == str(len(PNG))
    data = items("urn:xmpp:avatar:data")
    assert data.get("id") == info.get("id")
    assert base64.b64decode(data.findtext("{urn:xmpp:avatar:data}data")) == PNG

    too_big = "data:image/png;base64," + base64.b64encode(b"\0" * (AVATAR_LIMIT + 1)).decode()
    refused = a.request("update", object={"type": "profile", "image": too_big})
    assert refused["status"] == "failed" and refused["error"]["code"] == "too-large", refused
    assert "SOCKETHUB_XMPP_MAX_AVATAR_BYTES" in refused["error"]["message"]
