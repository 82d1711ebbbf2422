"""The feeds reader and the link preview pages, in headless Chromium, against the whole
stack: page → WebSocket → gateway → worker → local web server → page.

The browser may talk to the gateway only: every other request it makes (an image named
by a feed or a page) is refused and recorded, so nothing leaves the machine and the tests
can check what the pages asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..connectors.fixtureserver import FixtureServer
from ..stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fetch_stack() -> Iterator[Stack]:
    s = Stack(platforms=("feeds", "metadata"), env_overrides={"SOCKETHUB_LOG_LEVEL": "WARNING"})
    s.start()
    yield s
    s.stop()


@pytest.fixture
def elsewhere(page: Any, fetch_stack: Stack) -> list[str]:
    """Requests the page made to anywhere but the gateway (refused)."""
    asked: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(fetch_stack.url):
            r.continue_()
        else:
            asked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return asked


def open_page(page: Any, stack: Stack, name: str) -> Any:
    page.goto(f"{stack.url}/{name}")
    expect(page.locator("#state")).to_have_attribute("data-state", "open")
    return page


def test_the_reader_shows_a_feeds_items(
    page: Any, fetch_stack: Stack, web: FixtureServer, elsewhere: list[str]
) -> None:
    reader = open_page(page, fetch_stack, "feeds.html")
    reader.fill("#url", web.url("/feeds/rss20.xml"))
    reader.click("#fetch")
    expect(reader.locator("#status")).to_have_attribute("data-status", "completed")
    expect(reader.locator("#feed-title")).to_have_text("Kettle & Copper: a Workshop Diary")
    items = reader.locator("#items > li")
    expect(items).to_have_count(4)
    first = items.first
    expect(first.locator(".title")).to_have_text("Annealing copper without a kiln")
    expect(first.locator(".title")).to_have_attribute(
        "href", "https://kettle.example.com/2025/01/annealing"
    )
    expect(first.locator("time.date")).to_have_attribute("datetime", "2025-01-06T09:15:00Z")
    expect(first.locator(".summary")).to_contain_text("soften work-hardened copper")

    reader.fill("#limit", "2")
    reader.click("#fetch")
    expect(reader.locator("#status")).to_have_text("2 item(s)")
    expect(items).to_have_count(2)
    assert elsewhere == []  # nothing but the gateway: the reader loaded no feed images


def test_a_hostile_feed_cannot_run_script_in_the_reader(
    page: Any, fetch_stack: Stack, web: FixtureServer, elsewhere: list[str]
) -> None:
    reader = open_page(page, fetch_stack, "feeds.html")
    reader.fill("#url", web.url("/feeds/hostile.xml"))
    reader.click("#fetch")
    expect(reader.locator("#items > li")).to_have_count(2)
    hostile = reader.locator("#items > li").first
    # Markup in a title is shown as the characters it is.
    expect(hostile.locator(".title")).to_have_text(
        "<img src=x onerror=\"window.__pwned = 'title'\"> Free prizes"
    )
    expect(hostile.locator(".title")).to_have_attribute("href", "https://mallory.example/")
    assert reader.locator("#items img").count() == 0
    expect(reader.locator("#feed-title")).to_have_text("Mallory's Totally Safe Feed")

    # The item's (sanitised) HTML opens in a sandbox without scripts.
    hostile.locator("button.read").click()
    frame = hostile.locator("iframe")
    expect(frame).to_have_count(1)
    assert frame.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    inner = hostile.frame_locator("iframe")
    expect(inner.locator("p").first).to_contain_text("Click here")
    reader.wait_for_timeout(300)
    assert reader.evaluate("window.__pwned") is None
    # Its one image was asked for, from inside the sandbox, and refused by the test.
    assert all(url.startswith("https://mallory.example/") for url in elsewhere)


def test_the_reader_shows_a_failure_with_its_code(
    page: Any, fetch_stack: Stack, web: FixtureServer
) -> None:
    reader = open_page(page, fetch_stack, "feeds.html")
    for url, code in (
        (web.url("/status/404"), "not-found"),
        (web.url("/feeds/not-a-feed.html"), "not-a-feed"),
        ("ftp://files.example/feed.xml", "invalid-envelope"),
    ):
        reader.fill("#url", url)
        reader.click("#fetch")
        expect(reader.locator("#status")).to_have_attribute("data-code", code)
        expect(reader.locator("#status")).to_have_attribute("data-status", "failed")
        expect(reader.locator("#feed")).to_be_hidden()


def test_the_link_preview_shows_a_card(
    page: Any, fetch_stack: Stack, web: FixtureServer, elsewhere: list[str]
) -> None:
    preview = open_page(page, fetch_stack, "metadata.html")
    preview.fill("#url", web.url("/pages/opengraph.html"))
    preview.click("#fetch")
    expect(preview.locator("#status")).to_have_attribute("data-status", "completed")
    expect(preview.locator("#preview-site")).to_have_text("Riverside Theatre")
    expect(preview.locator("#preview-title")).to_have_text("The Tempest, by William Shakespeare")
    expect(preview.locator("#preview-description")).to_contain_text("Prospero & Miranda")
    expect(preview.locator("#preview-image")).to_have_attribute(
        "src", "https://cdn.riverside-theatre.example/media/tempest-poster.jpg"
    )
    expect(preview.locator("#preview-image")).to_have_attribute(
        "alt", "Prospero on a rock, storm behind"
    )

    preview.fill("#url", web.url("/pages/plain.html"))
    preview.click("#fetch")
    expect(preview.locator("#preview-title")).to_have_text("Parish Council Minutes, March 2025")
    expect(preview.locator("#preview-image")).to_be_hidden()
    expect(preview.locator("#preview-site")).to_have_text("")
    assert all("riverside-theatre.example" in u or "/pages/" in u for u in elsewhere)
