"""The IRC example page in headless Chromium, against the whole stack and a real ngircd.

The page connects through the gateway and the IRC worker to a local ngircd; an independent
raw-socket IRC client (``RawIrcClient``, not our connector) is the other person in the
channel, so what the page shows is checked against what really happened on IRC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import IrcServer, run_ngircd
from ..stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with run_ngircd(tmp_path_factory.mktemp("ircd-browser")) as server:
        yield server


@pytest.fixture(scope="module")
def irc_stack(ircd: IrcServer) -> Iterator[Stack]:
    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0"}).start()
    yield s
    s.stop()


@pytest.fixture
def others(ircd: IrcServer) -> Iterator[Any]:
    """Independent IRC clients: ``others("nick", "#chan")`` registers (and joins)."""
    made: list[RawIrcClient] = []

    def make(nick: str, channel: str | None = None) -> RawIrcClient:
        c = RawIrcClient(ircd.host, ircd.port, nick)
        made.append(c)
        if channel:
            c.send(f"JOIN {channel}")
            c.wait_for(lambda ln: " 366 " in ln and channel in ln)
        return c

    yield make
    for c in made:
        c.close()


def connect(page: Any, stack: Stack, ircd: IrcServer, nick: str) -> Any:
    page.goto(stack.url + "/irc.html")
    expect(page.locator("#socket")).to_have_attribute("data-state", "open")
    page.fill("#nick", nick)
    page.fill("#server", ircd.host)
    page.fill("#port", str(ircd.port))
    page.uncheck("#secure")
    page.click("#connect")
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#me")).to_have_text(nick)
    return page


def join(page: Any, channel: str) -> None:
    page.fill("#channel", channel)
    page.click("#join")
    expect(page.locator(f'#rooms button[data-room="{channel}"]')).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.locator("#send")).to_be_enabled()


def log(page: Any, channel: str) -> Any:
    return page.locator(f'#log ul[data-room="{channel}"] li')


def say(page: Any, text: str) -> None:
    page.fill("#message", text)
    page.click("#send")


def members(page: Any) -> Any:
    return page.locator("#members li")


def disconnect(page: Any) -> None:
    page.click("#disconnect")
    expect(page.locator("#state")).to_have_attribute("data-state", "disconnected")


def test_chat_with_an_independent_client(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    watcher = others("watcher", "#webchat")
    watcher.send("TOPIC #webchat :set before you came")
    watcher.wait_for(lambda ln: "TOPIC #webchat" in ln)

    connect(page, irc_stack, ircd, "browsy")
    join(page, "#webchat")
    watcher.wait_for(lambda ln: ln.startswith(":browsy!") and " JOIN " in ln)

    # the topic set by the other client, shown above the log, and both nicks as members
    expect(page.locator("#topic")).to_have_text("set before you came")
    expect(page.locator('#members li[data-nick="watcher"]')).to_have_attribute(
        "data-role", "operator"
    )
    expect(page.locator('#members li[data-nick="browsy"]')).to_have_count(1)
    expect(members(page)).to_have_count(2)

    # the browser's message reaches the channel; the other client's reaches the browser
    say(page, "hello from the browser")
    line = watcher.wait_for(lambda ln: "PRIVMSG #webchat" in ln)
    assert line.startswith(":browsy!") and line.endswith(":hello from the browser")
    own = log(page, "#webchat").filter(has_text="hello from the browser")
    expect(own).to_have_attribute("data-own", "true")
    expect(own).to_have_attribute("data-status", "sent")

    watcher.send("PRIVMSG #webchat :hello browser")
    got = (
        log(page, "#webchat")
        .filter(has_text="hello browser")
        .and_(page.locator('[data-kind="message"]'))
    )
    expect(got).to_have_attribute("data-from", "watcher")

    # /me is turned into an action by the server side
    say(page, "/me waves")
    assert watcher.wait_for(lambda ln: "PRIVMSG #webchat" in ln).endswith(":\x01ACTION waves\x01")
    expect(log(page, "#webchat").filter(has_text="waves")).to_have_attribute("data-kind", "action")
    watcher.send("PRIVMSG #webchat :\x01ACTION dances\x01")
    expect(log(page, "#webchat").filter(has_text="dances")).to_have_attribute("data-kind", "action")

    # a topic change while we are there
    watcher.send("TOPIC #webchat :a new topic")
    expect(page.locator("#topic")).to_have_text("a new topic")
    expect(
        log(page, "#webchat").filter(has_text="watcher set the topic: a new topic")
    ).to_have_count(1)

    # a private message opens a window of its own
    watcher.send("PRIVMSG browsy :just for you")
    expect(log(page, "watcher").filter(has_text="just for you")).to_have_count(1)
    expect(page.locator('#rooms button[data-room="watcher"]')).to_have_class(
        re.compile(r"\bunread\b")
    )

    disconnect(page)
    assert " QUIT" in watcher.wait_for(lambda ln: ln.startswith(":browsy!") and " QUIT" in ln)


def test_member_list_follows_joins_nicks_modes_parts_and_quits(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    op = others("opper", "#crowd")
    connect(page, irc_stack, ircd, "crowdy")
    join(page, "#crowd")
    expect(members(page)).to_have_count(2)

    late = others("latecomer", "#crowd")
    expect(page.locator('#members li[data-nick="latecomer"]')).to_have_count(1)
    expect(log(page, "#crowd").filter(has_text="latecomer joined #crowd")).to_have_count(1)

    late.send("NICK renamed")
    expect(page.locator('#members li[data-nick="renamed"]')).to_have_count(1)
    expect(page.locator('#members li[data-nick="latecomer"]')).to_have_count(0)
    expect(log(page, "#crowd").filter(has_text="latecomer is now known as renamed")).to_have_count(
        1
    )

    op.send("MODE #crowd +v renamed")
    expect(page.locator('#members li[data-nick="renamed"]')).to_have_attribute("data-role", "voice")
    expect(log(page, "#crowd").filter(has_text="opper gives voice to renamed")).to_have_count(1)
    op.send("MODE #crowd +m")
    expect(log(page, "#crowd").filter(has_text="opper sets mode +m")).to_have_count(1)

    late.send("PART #crowd :off I go")
    expect(page.locator('#members li[data-nick="renamed"]')).to_have_count(0)
    expect(log(page, "#crowd").filter(has_text="renamed left #crowd (off I go)")).to_have_count(1)

    third = others("quitter", "#crowd")
    expect(page.locator('#members li[data-nick="quitter"]')).to_have_count(1)
    third.send("QUIT :gone home")
    expect(page.locator('#members li[data-nick="quitter"]')).to_have_count(0)
    # ngircd quotes a QUIT reason: quitter quit ("gone home")
    expect(
        log(page, "#crowd").filter(has_text=re.compile(r"quitter quit \(.*gone home"))
    ).to_have_count(1)
    expect(members(page)).to_have_count(2)

    # network text is shown as text, never parsed as HTML
    markup = '<img src="x" onerror="window.__injected = 1">'
    op.send(f"PRIVMSG #crowd :{markup}")
    expect(log(page, "#crowd").filter(has_text=markup)).to_have_count(1)
    assert page.evaluate("window.__injected") is None
    assert page.locator("#log img").count() == 0

    # leaving closes the window and the channel's member list
    page.click("#leave")
    assert "PART #crowd" in op.wait_for(lambda ln: ln.startswith(":crowdy!") and " PART " in ln)
    expect(page.locator('#rooms button[data-room="#crowd"]')).to_have_count(0)
    expect(members(page)).to_have_count(0)
    disconnect(page)


def test_a_reload_keeps_the_irc_session(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    witness = others("witness", "#reload")
    connect(page, irc_stack, ircd, "reloady")
    join(page, "#reload")
    expect(members(page)).to_have_count(2)
    say(page, "said before the reload")
    witness.wait_for(lambda ln: ln.startswith(":reloady!") and "said before the reload" in ln)
    witness.send("PRIVMSG #reload :heard before the reload")
    expect(log(page, "#reload").filter(has_text="heard before the reload")).to_have_count(1)
    seen_before = len(witness.lines)

    page.reload()
    # The same IRC connection, shown connected, with no new connect and no second nick.
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#me")).to_have_text("reloady")
    expect(page.locator("#nick")).to_have_value("reloady")  # the form, without the password
    expect(page.locator("#port")).to_have_value(str(ircd.port))
    page.click('#rooms button[data-room="#reload"]')
    expect(page.locator('#members li[data-nick="reloady"]')).to_have_count(1)
    expect(page.locator('#members li[data-nick="witness"]')).to_have_attribute(
        "data-role", "operator"
    )
    # The scrollback, rebuilt from the session's replayed stream: theirs and our own.
    heard = log(page, "#reload").filter(has_text="heard before the reload")
    expect(heard).to_have_attribute("data-from", "witness")
    said = log(page, "#reload").filter(has_text="said before the reload")
    expect(said).to_have_attribute("data-own", "true")
    expect(said).to_have_count(1)
    expect(page.locator("#send")).to_be_enabled()

    say(page, "said after the reload")
    line = witness.wait_for(lambda ln: "said after the reload" in ln)
    assert line.startswith(":reloady!")
    witness.send("PRIVMSG #reload :heard after the reload")
    expect(log(page, "#reload").filter(has_text="heard after the reload")).to_have_count(1)
    # Nobody in the channel saw the reload: no QUIT, no JOIN, no nick change.
    after = witness.lines[seen_before:]
    assert not [ln for ln in after if " QUIT" in ln or " JOIN " in ln or " NICK " in ln], after
    # A second reload rebuilds the same: a rotated token was stored each time.
    page.reload()
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    page.click('#rooms button[data-room="#reload"]')
    expect(log(page, "#reload").filter(has_text="heard after the reload")).to_have_count(1)
    disconnect(page)
    witness.wait_for(lambda ln: ln.startswith(":reloady!") and " QUIT" in ln)


def test_a_lost_gateway_session_replays_credentials_connect_and_join(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    friend = others("friend", "#replay")
    connect(page, irc_stack, ircd, "replayer")
    join(page, "#replay")
    expect(members(page)).to_have_count(2)

    # The gateway refuses the resume (a wrong token): the client starts a new session and
    # sends the credentials, the connect and the join again before anything else.
    page.evaluate("() => { sc._token = 'not-the-token'; sc._socket.close(); }")
    expect(page.locator('#log li[data-event="new-session"]')).to_have_count(1)
    page.wait_for_function("() => sc.state === 'new-session' && sc._ready")
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    # The new session has an IRC connection of its own; the old one (same nick) lives on
    # until the old session's grace period ends, so the new one may be "replayer_".
    me = page.locator("#me").inner_text()
    expect(page.locator(f'#members li[data-nick="{me}"]')).to_have_count(1)
    expect(page.locator('#members li[data-nick="friend"]')).to_have_count(1)
    expect(log(page, "#replay").filter(has_text="is now known as")).to_have_count(0)

    say(page, "still here")
    line = friend.wait_for(lambda ln: "PRIVMSG #replay" in ln)
    assert line.startswith(f":{me}!") and line.endswith(":still here")
    friend.send("PRIVMSG #replay :welcome back")
    expect(log(page, "#replay").filter(has_text="welcome back")).to_have_attribute(
        "data-from", "friend"
    )
    disconnect(page)


def test_a_dropped_irc_connection_shows_reconnecting_then_rejoins(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    oper = others("killer", "#again")
    connect(page, irc_stack, ircd, "dropped")
    join(page, "#again")
    oper.wait_for(lambda ln: ln.startswith(":dropped!") and " JOIN " in ln)
    seen = page.evaluate_handle("""() => {
        const states = [];
        new MutationObserver(() => states.push(document.getElementById('state').textContent +
            ' ' + document.getElementById('state-detail').textContent))
          .observe(document.getElementById('state'), {childList: true, characterData: true,
                                                       subtree: true});
        return states;
    }""")
    oper.send("OPER oper operpass")
    oper.wait_for(lambda ln: " 381 " in ln)
    oper.send("KILL dropped :testing reconnect")
    expect(page.locator('#log li[data-state="reconnecting"]')).to_contain_text("attempt 1")
    expect(page.locator("#state")).to_have_attribute("data-state", "connected", timeout=20_000)
    assert any(s.startswith("reconnecting attempt 1") for s in seen.json_value())
    # the connector joins the channel again by itself
    oper.wait_for(lambda ln: ln.startswith(":dropped!") and " JOIN " in ln, timeout=15)
    expect(log(page, "#again").filter(has_text="You joined #again")).to_have_count(2)
    say(page, "back again")
    assert oper.wait_for(lambda ln: "PRIVMSG #again" in ln).endswith(":back again")
    disconnect(page)


def test_a_failed_connect_shows_why(page: Any, irc_stack: Stack, ircd: IrcServer) -> None:
    page.goto(irc_stack.url + "/irc.html")
    page.fill("#nick", "nobody")
    page.fill("#server", ircd.host)
    page.fill("#port", str(ircd.port))
    page.check("#secure")  # TLS to a plain-text port: the handshake fails
    page.click("#connect")
    # The server window is the one shown from the start: progress and errors go there.
    expect(page.locator('#log ul[data-kind="status"] li').first).to_contain_text("Connecting")
    expect(page.locator('#log ul[data-kind="status"] li').first).to_be_visible()
    expect(page.locator("#state")).to_have_attribute("data-state", "disconnected", timeout=60_000)
    failed = page.locator("#log li.error")
    expect(failed).to_contain_text("Connect failed")
    expect(failed).to_be_visible()
    # It says what went wrong and what to change, not an empty reason.
    expect(failed).to_have_attribute("data-code", "tls-error")
    expect(failed).to_contain_text("TLS")
    expect(failed).to_contain_text("TLS off")
    expect(page.locator("#connect")).to_be_enabled()


def test_while_the_gateway_is_unreachable_the_pills_say_so_and_send_is_off(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    friend = others("patient", "#offline")
    connect(page, irc_stack, ircd, "offliner")
    join(page, "#offline")
    expect(members(page)).to_have_count(2)
    # The gateway goes away: its socket closes and every reconnect attempt fails.
    page.evaluate(
        "() => { window.realUrl = sc.url; sc.url = 'ws://127.0.0.1:9/sockethub';"
        " sc._socket.close(); }"
    )
    expect(page.locator("#socket")).to_have_attribute("data-state", re.compile("closed|connecting"))
    expect(page.locator("#state")).to_have_attribute("data-state", "unreachable")
    expect(page.locator("#state")).to_have_text("gateway unreachable")
    expect(page.locator("#send")).to_be_disabled()
    # It comes back: the session resumes and IRC was connected all along.
    page.evaluate("() => { sc.url = window.realUrl; sc._reconnectNow(); }")
    expect(page.locator("#socket")).to_have_attribute("data-state", "resumed")
    expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#send")).to_be_enabled()
    say(page, "back online")
    assert friend.wait_for(lambda ln: "back online" in ln).startswith(":offliner!")
    disconnect(page)


def test_the_landing_page_lists_the_gateway_platforms(page: Any, irc_stack: Stack) -> None:
    page.goto(irc_stack.url + "/")
    expect(page.locator('#platforms li[data-platform="irc"]')).to_contain_text("IRC")
    expect(page.locator("#platforms li")).to_have_count(1)  # this stack serves irc only
    page.click('a[href="/irc.html"]')
    expect(page.locator("#socket")).to_have_attribute("data-state", "open")


def test_the_channel_list_is_searched_joined_from_and_a_profile_shown(
    page: Any, irc_stack: Stack, ircd: IrcServer, others: Any
) -> None:
    owner = others("gardener", "#herbs")
    owner.send("TOPIC #herbs :basil and thyme")
    owner.send("JOIN #tools")
    owner.send("TOPIC #tools :spades")
    owner.wait_for(" TOPIC #tools ")

    connect(page, irc_stack, ircd, "lister")
    page.fill("#rooms-search", "thyme")
    page.click("#rooms-find")
    item = page.locator('#room-list li[data-room="#herbs"]')
    expect(item.locator(".summary")).to_have_text("basil and thyme")
    expect(page.locator("#room-list li")).to_have_count(1)
    expect(page.locator("#rooms-status")).to_have_text("1 channel match “thyme”")
    item.locator("button").click()
    expect(page.locator('#rooms button[data-room="#herbs"]')).to_have_attribute(
        "aria-selected", "true"
    )
    owner.wait_for(lambda ln: ln.startswith(":lister!") and " JOIN " in ln)

    say(page, "/whois gardener")
    expect(page.locator('#profile dd[data-field="realName"]')).to_have_text("raw test client")
    expect(page.locator('#profile dd[data-field="rooms"]')).to_contain_text("#tools")
