"""The Prosody fixture and the plain client work, and our translator reads what Prosody says."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from connectors.xmpp.translate import XmppContext, translate
from tests.servers.prosody import XmppServer, run_prosody
from tests.servers.xmpppeer import PlainClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody")) as running:
        yield running


def test_listens_on_loopback_with_the_certificate_we_trust(server: XmppServer):
    assert server.host == "127.0.0.1"
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    with socket.create_connection((server.host, server.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server.muc) as tls:
            names = [v for k, v in tls.getpeercert()["subjectAltName"] if k == "DNS"]
    assert set(names) == {server.domain, server.muc}
    assert sorted(server.accounts) == ["alice", "bob", "carol"]


def test_two_clients_chat_and_share_a_room(server: XmppServer):
    alice, bob = PlainClient(server, "alice"), PlainClient(server, "bob")
    try:
        bob.send_message(server.jid("alice"), "hello alice ☕")
        got = alice.wait_body("hello alice ☕")
        assert got["from"].bare == server.jid("bob") and got["type"] == "chat"

        room = server.room("fixture-room")
        alice.join(room, "Alice")  # creates it and accepts the instant room (§10.1.2)
        bob.join(room, "Bob")
        bob.send_message(room, "hi room", mtype="groupchat")
        echoed = alice.wait_body("hi room")
        assert str(echoed["from"]) == f"{room}/Bob"
        # the archive stamps groupchat messages with a XEP-0359 stanza id
        assert echoed.xml.find("{urn:xmpp:sid:0}stanza-id") is not None
    finally:
        alice.close()
        bob.close()


def test_a_new_room_is_locked_until_its_owner_configures_it(server: XmppServer):
    """Prosody's default, as on real servers: the fixture does not turn locking off."""
    from slixmpp.exceptions import PresenceError

    alice, bob = PlainClient(server, "alice", "locker"), PlainClient(server, "bob", "knocker")
    try:
        room = server.room("locked-room")
        alice.join(room, "Alice", accept_instant=False)
        with pytest.raises(PresenceError) as refused:
            bob.join(room, "Bob")
        assert refused.value.condition == "item-not-found"
        alice.configure(room, {})  # the empty submit form: an instant room
        bob.join(room, "Bob")
    finally:
        alice.close()
        bob.close()


def test_real_server_output_translates(server: XmppServer):
    """Every stanza carol receives translates without a failure into the expected kinds."""
    carol, bob = PlainClient(server, "carol"), PlainClient(server, "bob", "other")
    try:
        room = server.room("translate-room")
        carol.join(room, "carol")
        bob.join(room, "bobby")
        bob.send_message(room, "in the room", mtype="groupchat")
        bob.send_message(server.jid("carol"), "just you")
        carol.wait_body("just you")
        bob.send_message(room, "bye now", mtype="groupchat")
        carol.wait_body("bye now")
        ctx = XmppContext(jid=server.jid("carol"), resource="peer")
        ctx.enter(room, "carol")
        seen = []
        for stanza in list(carol.stanzas):  # as slixmpp hands them over: namespaced
            for result in translate(stanza.xml, ctx):
                assert isinstance(result, dict), result  # no error stanzas here
                seen.append((result["type"], result.get("object", {}).get("type")))
        assert ("join", "presence") in seen  # our own presence in the room, status 110
        assert ("update", "topic") in seen  # the (empty) subject every join ends with
        assert ("update", "presence") in seen  # bobby coming in
        assert seen.count(("send", "message")) == 3  # two in the room, one chat
        assert ctx.room(room).joined and sorted(ctx.room(room).occupants) == ["bobby", "carol"]
    finally:
        carol.close()
        bob.close()


def test_restart_keeps_accounts_and_ports(server: XmppServer):
    port = server.port
    server.restart()
    assert server.running and server.port == port
    client = PlainClient(server, "alice", "after-restart")  # the account is still there
    client.close()
