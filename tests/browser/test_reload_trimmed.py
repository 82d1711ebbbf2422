"""A reload of the IRC page after the session's stream lost its start (it is bounded).

With ``SOCKETHUB_STREAM_MAXLEN`` small, the connect, the join and the member list are no
longer in the stream when the page reloads: the page still shows the same connection and
channel, asks for what it lacks (``connect`` on the live connection, which shares it, and
NAMES), and nobody in the channel sees a JOIN, a QUIT or a new nick.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import IrcServer, run_ngircd
from ..stack import Stack
from .test_irc_page import connect, join, log, members

pytestmark = [pytest.mark.browser, pytest.mark.integration]

KEPT = 6  # frames the session's stream keeps


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with run_ngircd(tmp_path_factory.mktemp("ircd-trimmed")) as server:
        yield server


@pytest.fixture(scope="module")
def short_stack(ircd: IrcServer) -> Iterator[Stack]:
    env = {"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_STREAM_MAXLEN": str(KEPT)}
    s = Stack(platforms=("irc",), env_overrides=env).start()
    yield s
    s.stop()


def test_a_reload_after_the_stream_was_trimmed(
    page: Any, short_stack: Stack, ircd: IrcServer
) -> None:
    with RawIrcClient(ircd.host, ircd.port, "talker") as talker:
        talker.send("JOIN #trim")
        talker.wait_for(lambda ln: " 366 " in ln and "#trim" in ln)
        connect(page, short_stack, ircd, "trimmy")
        join(page, "#trim")
        expect(members(page)).to_have_count(2)
        for n in range(KEPT + 4):  # pushes the connect, join and NAMES out of the stream
            talker.send(f"PRIVMSG #trim :line {n}")
        expect(log(page, "#trim").filter(has_text=f"line {KEPT + 3}")).to_have_count(1)
        seen_before = len(talker.lines)

        page.reload()
        expect(page.locator("#state")).to_have_attribute("data-state", "connected")
        expect(page.locator("#me")).to_have_text("trimmy")
        # The window shown before the reload, its members asked for again.
        expect(page.locator('#rooms button[data-room="#trim"]')).to_have_attribute(
            "aria-selected", "true"
        )
        expect(page.locator('#members li[data-nick="talker"]')).to_have_count(1)
        expect(page.locator('#members li[data-nick="trimmy"]')).to_have_count(1)
        expect(log(page, "#trim").filter(has_text=f"line {KEPT + 3}")).to_have_count(1)
        expect(log(page, "#trim").filter(has_text="line 0")).to_have_count(0)  # trimmed
        expect(page.locator('#log li[data-event="missed"]')).to_have_count(1)

        page.fill("#message", "still the same connection")
        page.click("#send")
        line = talker.wait_for(lambda ln: "still the same connection" in ln)
        assert line.startswith(":trimmy!")
        after = talker.lines[seen_before:]
        assert not [ln for ln in after if " QUIT" in ln or " JOIN " in ln or " NICK " in ln], after
