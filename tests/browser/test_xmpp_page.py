"""The XMPP example page in headless Chromium, against the whole stack and a real Prosody.

The page logs in through the gateway and the XMPP worker; an independent plain slixmpp
client (``PlainClient``, not our connector) is the contact and the other person in the
room, so what the page shows is checked against what really happened on XMPP.
"""

from __future__ import annotations

import os
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody-browser")) as server:
        yield server


@pytest.fixture(scope="module")
def xmpp_stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    s = Stack(platforms=("xmpp",), env_overrides={"SSL_CERT_FILE": str(xmpp_server.ca_file)})
    yield s.start()
    s.stop()


@pytest.fixture
def bob(xmpp_server: XmppServer) -> Iterator[PlainClient]:
    client = PlainClient(xmpp_server, "bob", "phone")
    yield client
    client.close()


def log_line(page: Any, text: str) -> Any:
    return page.locator("#log li[data-kind='message']", has_text=text)


def log_in(page: Any, stack: Stack, server: XmppServer) -> None:
    page.goto(stack.url + "/xmpp.html")
    expect(page.locator("#socket")).to_have_attribute("data-state", "open")
    page.fill("#jid", server.jid("alice"))
    page.fill("#password", server.password("alice"))
    page.fill("#resource", "browser")
    page.fill("#server", server.host)
    page.fill("#port", str(server.port))
    page.fill("#nick", "Alice")
    page.click("#connect")
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#me")).to_have_text(f"as {server.jid('alice')}/browser")


def test_chat_with_a_contact_both_ways(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", xmpp_server.jid("bob"))
    page.click("#chat")
    page.fill("#message", "hello bob, from chromium")
    page.click("#send")
    got = bob.wait_body("hello bob, from chromium")
    assert got["from"].bare == xmpp_server.jid("alice") and got["type"] == "chat"
    mine = log_line(page, "hello bob, from chromium")
    expect(mine).to_have_attribute("data-status", "completed")

    markup = '<img src="x" onerror="window.__injected = 1">'
    bob.send_message(xmpp_server.jid("alice"), "hi alice, from a phone ☕")
    bob.send_message(xmpp_server.jid("alice"), markup)
    line = log_line(page, "hi alice, from a phone ☕")
    expect(line).to_have_attribute("data-from", "bob")
    expect(log_line(page, markup).locator(".text")).to_have_text(markup)
    assert page.evaluate("window.__injected") is None  # network text is never HTML


def test_join_a_room_and_talk_there(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    room = xmpp_server.room("browsers")
    bob.join(room, "bob")
    bob.do(lambda: bob.xmpp.plugin["xep_0045"].set_subject(room, "Browsers welcome"))
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", room)
    page.click("#join")
    expect(page.locator("#topic")).to_have_text("Browsers welcome")
    expect(page.locator("#members li[data-nick='bob']")).to_have_count(1)
    expect(page.locator("#members li.me[data-nick='Alice']")).to_have_count(1)
    bob.wait_for(lambda s: s.name == "presence" and str(s["from"]) == f"{room}/Alice")

    page.fill("#message", "hello room")
    page.click("#send")
    got = bob.wait_body("hello room")
    assert str(got["from"]) == f"{room}/Alice"
    expect(log_line(page, "hello room")).to_have_attribute("data-own", "true")  # reflected

    bob.send_message(room, "welcome, Alice", mtype="groupchat")
    expect(log_line(page, "welcome, Alice")).to_have_attribute("data-from", "bob")
    page.click("#leave")
    gone = bob.wait_for(lambda s: s.name == "presence" and s["type"] == "unavailable")
    assert str(gone["from"]) == f"{room}/Alice"


def test_a_reload_keeps_the_xmpp_session(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    room = xmpp_server.room("reloaders")
    bob.join(room, "bob")
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", room)
    page.click("#join")
    expect(page.locator("#members li[data-nick='bob']")).to_have_count(1)
    bob.wait_for(lambda s: s.name == "presence" and str(s["from"]) == f"{room}/Alice")
    page.fill("#message", "said in the room before the reload")
    page.click("#send")
    bob.wait_body("said in the room before the reload")
    bob.send_message(room, "heard in the room before the reload", mtype="groupchat")
    expect(log_line(page, "heard in the room before the reload")).to_have_count(1)
    # A private chat too: our own lines there are not echoed by the server.
    page.fill("#address", xmpp_server.jid("bob"))
    page.click("#chat")
    page.fill("#message", "a private line before the reload")
    page.click("#send")
    bob.wait_body("a private line before the reload")
    seen_before = len(bob.stanzas)

    page.reload()
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#me")).to_have_text(f"as {xmpp_server.jid('alice')}/browser")
    expect(page.locator("#jid")).to_have_value(xmpp_server.jid("alice"))
    expect(page.locator("#password")).to_have_value("")  # never kept in the page
    page.click(f'#rooms button[data-room="{room}"]')
    expect(page.locator("#members li[data-nick='bob']")).to_have_count(1)
    expect(page.locator("#members li.me[data-nick='Alice']")).to_have_count(1)
    expect(log_line(page, "heard in the room before the reload")).to_have_attribute(
        "data-from", "bob"
    )
    expect(log_line(page, "said in the room before the reload")).to_have_count(1)
    page.fill("#message", "said in the room after the reload")
    page.click("#send")
    bob.wait_body("said in the room after the reload")
    page.click(f'#rooms button[data-room="{xmpp_server.jid("bob")}"]')
    expect(log_line(page, "a private line before the reload")).to_have_attribute("data-own", "true")
    # No new login: the room saw Alice neither leave nor come back.
    presences = [
        s
        for s in bob.stanzas[seen_before:]
        if s.name == "presence" and str(s["from"]) == f"{room}/Alice"
    ]
    assert presences == [], presences


def test_the_account_window_is_shown_and_an_unreachable_gateway_turns_send_off(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    page.goto(xmpp_stack.url + "/xmpp.html")
    page.fill("#jid", xmpp_server.jid("alice"))
    page.fill("#password", "not the password")
    page.fill("#server", xmpp_server.host)
    page.fill("#port", str(xmpp_server.port))
    page.click("#connect")
    # Progress and the failure are where the user is looking: the account window, shown.
    failed = page.locator('#log ul[data-kind="status"] li.error')
    expect(failed).to_contain_text("Connect failed")
    expect(failed).to_be_visible()
    expect(failed).to_have_attribute("data-code", "auth-failed")

    page.evaluate("() => sessionStorage.clear()")  # a fresh session for log_in
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", xmpp_server.jid("bob"))
    page.click("#chat")
    expect(page.locator("#send")).to_be_enabled()
    page.evaluate(
        "() => { window.realUrl = sc.url; sc.url = 'ws://127.0.0.1:9/sockethub';"
        " sc._socket.close(); }"
    )
    expect(page.locator("#state")).to_have_attribute("data-state", "unreachable")
    expect(page.locator("#state")).to_have_text("gateway unreachable")
    expect(page.locator("#send")).to_be_disabled()
    page.evaluate("() => { sc.url = window.realUrl; sc._reconnectNow(); }")
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#send")).to_be_enabled()


OOB = "{jabber:x:oob}"


def test_a_picked_file_is_uploaded_and_its_link_sent(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    """The Upload button: a file picked in a real file input goes through the gateway to
    Prosody's upload service (XEP-0363); bob gets the message with its link (XEP-0066)."""
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", xmpp_server.jid("bob"))
    page.click("#chat")
    data = os.urandom(300_000)
    with page.expect_file_chooser() as chooser:
        page.click("#upload")
    chooser.value.set_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": data})

    got = bob.wait_for(lambda s: s.name == "message" and s.xml.find(f"{OOB}x") is not None)
    url = got.xml.findtext(f"{OOB}x/{OOB}url")
    assert url and url.endswith("/notes.txt") and got["body"] == url, got
    assert got.xml.findtext(f"{OOB}x/{OOB}desc") == "notes.txt"
    with urllib.request.urlopen(url, timeout=10) as fetched:
        assert fetched.read() == data  # the very bytes, from the upload server
    mine = log_line(page, url)
    expect(mine).to_have_attribute("data-status", "completed")


def test_typing_a_reaction_a_reply_and_the_avatar(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    from ..integration.test_xmpp_signals import PNG

    bob.publish_avatar(PNG)
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", xmpp_server.jid("bob"))
    page.click("#chat")
    # The contact's avatar (XEP-0084), asked for when the chat opens.
    expect(page.locator("#avatar")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))

    # bob types (XEP-0085): the page says so, until his message comes.
    chatstates = "http://jabber.org/protocol/chatstates"
    bob.do(
        lambda: bob.xmpp.send_raw(
            f"<message to='{xmpp_server.jid('alice')}' type='chat'>"
            f"<composing xmlns='{chatstates}'/></message>"
        )
    )
    expect(page.locator("#typing")).to_have_text("bob is typing…")
    bob.send_message(xmpp_server.jid("alice"), "react to this", id="bob-m1")
    line = log_line(page, "react to this")
    expect(page.locator("#typing")).to_have_text("")

    # A reaction from the line's button reaches bob as XEP-0444 with the message's id.
    line.hover()
    line.locator("button.react[data-emoji='👍']").click()
    got = bob.wait_for(
        lambda s: s.name == "message" and s.xml.find("{urn:xmpp:reactions:0}reactions") is not None
    )
    reactions = got.xml.find("{urn:xmpp:reactions:0}reactions")
    assert reactions.get("id") == "bob-m1"
    assert [r.text for r in reactions] == ["👍"]
    expect(line).to_have_attribute("data-reactions", "👍")

    # And a reply (XEP-0461) to the same line.
    line.hover()
    line.locator("button.reply").click()
    page.fill("#message", "reacted and replied")
    page.click("#send")
    got = bob.wait_for(lambda s: s.name == "message" and s["body"].endswith("reacted and replied"))
    assert got.xml.find("{urn:xmpp:reply:0}reply").get("id") == "bob-m1"
