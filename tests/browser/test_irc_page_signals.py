"""The IRC example page's typing indicator, replies and reactions in headless Chromium,
against the whole stack and a real InspIRCd 3 (IRCv3 message-tags), checked by an
independent raw-socket client that asks for message-tags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.inspircd import InspIrcd
from ..servers.ircclient import RawIrcClient
from ..stack import Stack
from .test_irc_page import connect, join, log, say

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(inspircd: InspIrcd) -> Iterator[Stack]:
    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0"}).start()
    yield s
    s.stop()


@pytest.fixture
def bob(inspircd: InspIrcd) -> Iterator[RawIrcClient]:
    with RawIrcClient(inspircd.host, inspircd.port, "bob") as c:
        c.send("CAP REQ :message-tags")
        c.wait_for(" ACK ")
        c.send("JOIN #signals")
        c.wait_for(lambda ln: " 366 " in ln)
        yield c


def tags(line: str) -> dict[str, str]:
    assert line.startswith("@"), line
    return dict(t.partition("=")[::2] for t in line[1:].split(" ", 1)[0].split(";"))


def from_page(line: str) -> bool:
    return " TAGMSG " in line and ":pagey!" in line


def test_typing_replies_and_reactions_on_the_irc_page(
    page: Any, stack: Stack, inspircd: InspIrcd, bob: RawIrcClient
) -> None:
    connect(page, stack, inspircd, "pagey")
    join(page, "#signals")
    bob.wait_for(lambda ln: ln.startswith(":pagey!") and " JOIN " in ln)

    # Someone else types: the page says so, and their message ends it.
    bob.send("@+typing=active TAGMSG #signals")
    expect(page.locator("#typing")).to_have_text("bob is typing…")
    bob.send("PRIVMSG #signals :look at this")
    expect(page.locator("#typing")).to_have_text("")

    # We type: the raw client sees +typing=active.
    page.locator("#message").press_sequentially("hm")
    assert tags(bob.wait_for(from_page))["+typing"] == "active"
    page.fill("#message", "")

    # A reaction to bob's message, seen by bob with the message's id.
    theirs = log(page, "#signals").filter(has_text="look at this")
    mid = theirs.get_attribute("data-id")
    assert mid
    theirs.locator("button.react").click()
    theirs.locator("button.pick", has_text="👍").click()
    expect(theirs.locator('.reaction[data-emoji="👍"]')).to_have_attribute("data-mine", "true")
    seen = tags(bob.wait_for(lambda ln: from_page(ln) and "+draft/react" in ln))
    assert seen["+draft/reply"] == mid and seen["+draft/react"] == "👍"

    # bob reacts too: the chip counts two.
    bob.send(f"@+draft/reply={mid};+draft/react=👍 TAGMSG #signals")
    expect(theirs.locator('.reaction[data-emoji="👍"]')).to_have_attribute("data-count", "2")

    # A reply to bob's message carries +draft/reply; bob's reply to ours shows what it answers.
    theirs.locator("button.reply").click()
    expect(page.locator("#reply-bar")).to_be_visible()
    say(page, "nice")
    line = bob.wait_for("PRIVMSG #signals :nice")
    assert tags(line)["+draft/reply"] == mid
    ours = log(page, "#signals").filter(has_text="nice")
    expect(ours).to_have_attribute("data-status", "sent")
    expect(ours).to_have_attribute("data-in-reply-to", mid)
    own_id = ours.get_attribute("data-id")
    assert own_id == tags(line)["msgid"]  # the server's id, from its echo
    bob.send(f"@+draft/reply={own_id} PRIVMSG #signals :thanks")
    thanks = log(page, "#signals").filter(has_text="thanks")
    expect(thanks.locator(".in-reply-to")).to_have_text("↪ pagey: nice")
