"""The IRC page's "Keep me connected", in headless Chromium against the whole stack and a
real ngircd, with a resume grace of 2 s: the tab is closed, the nick stays in its channel
(an independent client sees no QUIT) while a page that did not ask quits; the page opened
again in the same browser comes back to the same connection, with what was said meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import IrcServer, run_ngircd
from ..stack import Stack
from .test_irc_page import connect, join, log

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with run_ngircd(tmp_path_factory.mktemp("ircd-keep-page")) as server:
        yield server


@pytest.fixture(scope="module")
def irc_stack(ircd: IrcServer) -> Iterator[Stack]:
    env = {"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_RESUME_GRACE": "2"}
    s = Stack(platforms=("irc",), env_overrides=env).start()
    yield s
    s.stop()


def test_keep_me_connected_outlives_the_tab(
    browser: Any, irc_stack: Stack, ircd: IrcServer
) -> None:
    errors: list[str] = []
    kept_ctx, plain_ctx = browser.new_context(), browser.new_context()
    try:
        with RawIrcClient(ircd.host, ircd.port, "witness") as witness:
            witness.send("JOIN #keep-page")
            witness.wait_for(lambda ln: " 366 " in ln)
            tab = kept_ctx.new_page()
            other = plain_ctx.new_page()
            for p in (tab, other):
                p.set_default_timeout(15_000)
                p.on("pageerror", lambda exc: errors.append(str(exc)))
            connect(tab, irc_stack, ircd, "keepy")
            join(tab, "#keep-page")
            connect(other, irc_stack, ircd, "lapsey")
            join(other, "#keep-page")
            tab.check("#keep")
            expect(tab.locator('#log li[data-event="keep"]').last).to_contain_text(
                "Kept connected for 24 h"
            )
            seen_before = len(witness.lines)
            tab.close()  # the tab is gone, and its sessionStorage with it
            other.close()

            witness.send("PRIVMSG #keep-page :said while the tab was closed")
            quit_line = witness.wait_for(
                lambda ln: ln.startswith(":lapsey!") and " QUIT " in ln, timeout=30
            )
            assert "no session left" in quit_line

            again = kept_ctx.new_page()  # the page opened again, in the same browser
            again.on("pageerror", lambda exc: errors.append(str(exc)))
            again.goto(irc_stack.url + "/irc.html")
            expect(again.locator("#state")).to_have_attribute("data-state", "connected")
            expect(again.locator("#me")).to_have_text("keepy")
            expect(again.locator("#keep")).to_be_checked()
            again.click('#rooms button[data-room="#keep-page"]')
            expect(
                log(again, "#keep-page").filter(has_text="said while the tab was closed")
            ).to_have_count(1)
            after = witness.lines[seen_before:]
            assert not [ln for ln in after if ln.startswith(":keepy!")], after

            again.uncheck("#keep")
            expect(again.locator('#log li[data-event="keep"]').last).to_contain_text(
                "Not kept connected"
            )
            again.click("#disconnect")
            witness.wait_for(lambda ln: ln.startswith(":keepy!") and " QUIT" in ln)
    finally:
        kept_ctx.close()
        plain_ctx.close()
    assert not errors, errors
