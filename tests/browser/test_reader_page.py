"""The reader page, in headless Chromium, against the whole stack: page → WebSocket →
gateway → the feeds worker's poller → a local feed server whose feeds change while the
test runs (tests/servers/feedserver.py) → an event → the page, with no reload.

Polls are every second here (``SOCKETHUB_FOLLOW_MIN_INTERVAL`` = ``_MAX_INTERVAL`` = 1)
and the shared cache's fresh window is off, as in tests/integration/test_follow.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.feedserver import FeedServer
from ..stack import Stack

pytestmark = pytest.mark.browser

ENV = {
    "SOCKETHUB_FOLLOW_MIN_INTERVAL": "1",
    "SOCKETHUB_FOLLOW_MAX_INTERVAL": "1",
    "SOCKETHUB_FETCH_FRESH": "0",
    "SOCKETHUB_FETCH_TIMEOUT": "3",
    "SOCKETHUB_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def follow_stack() -> Iterator[Stack]:
    s = Stack(platforms=("feeds",), env_overrides=dict(ENV)).start()
    yield s
    s.stop()


@pytest.fixture
def reader(page: Any, follow_stack: Stack) -> Any:
    page.goto(follow_stack.url + "/reader.html")
    expect(page.locator("#state")).to_have_attribute("data-state", "open")
    # Set on this document only: a reload would lose it.
    page.evaluate("window.__sameDocument = true")
    return page


def polled(server: FeedServer, name: str, times: int = 1, timeout: float = 20) -> None:
    """Wait until the poller has asked for feed ``name`` ``times`` more times (its first
    poll takes what the feed holds as seen: add an item only after it)."""
    start = server.hits[name]
    deadline = time.time() + timeout
    while server.hits[name] < start + times:
        assert time.time() < deadline, f"feed {name} not polled"
        time.sleep(0.1)


def item(page: Any, title: str) -> Any:
    return page.locator("#items > li").filter(has_text=title)


def test_a_new_item_arrives_without_a_reload_and_unfollow_stops_them(
    reader: Any, feeds: FeedServer
) -> None:
    feeds.feed("river")
    feeds.add("river", "r1", "Already there")
    # A page URL: the feed is found from its <link rel="alternate">.
    reader.fill("#url", feeds.url("river", kind="page"))
    reader.click("#follow")
    expect(reader.locator("#status")).to_have_attribute("data-status", "completed")
    row = reader.locator(f'#feeds li[data-url="{feeds.url("river")}"]')
    expect(row).to_contain_text("Feed river")
    expect(item(reader, "Already there")).to_have_attribute("data-new", "false")

    polled(feeds, "river")
    feeds.add("river", "r2", "Fresh off the press")
    fresh = item(reader, "Fresh off the press")
    expect(fresh).to_have_attribute("data-new", "true", timeout=30_000)
    expect(reader.locator("#items > li").first).to_contain_text("Fresh off the press")
    expect(row.locator(".count")).to_have_text("1")
    expect(reader.locator("#new-count")).to_have_text("1 new")
    assert reader.evaluate("window.__sameDocument") is True
    assert reader.locator("#items > li").count() == 2  # each item once

    row.locator(".unfollow").click()
    expect(row).to_have_count(0)
    expect(reader.locator("#items > li")).to_have_count(0)
    feeds.add("river", "r3", "Nobody hears this")
    time.sleep(3)  # three poll intervals, had it still been followed
    expect(item(reader, "Nobody hears this")).to_have_count(0)


def test_opml_import_follows_the_feeds_and_export_lists_them(
    reader: Any, feeds: FeedServer, tmp_path: Path
) -> None:
    for name in ("opml-a", "opml-b"):
        feeds.feed(name)
    opml = tmp_path / "mine.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>'
        f'<outline text="Folder"><outline text="A" xmlUrl="{feeds.url("opml-a")}"/></outline>'
        f'<outline text="B" xmlUrl="{feeds.url("opml-b")}"/>'
        '<outline text="Bad" xmlUrl="ftp://files.example/feed"/></body></opml>'
    )
    reader.set_input_files("#opml-file", str(opml))
    reader.click("#import")
    expect(reader.locator("#status")).to_have_text("following 2 feed(s) from mine.opml, 1 refused")
    expect(reader.locator("#feeds li")).to_have_count(2)
    expect(reader.locator("#refused li")).to_contain_text(["ftp://files.example/feed"])

    polled(feeds, "opml-b")
    feeds.add("opml-b", "b1", "Imported and live")
    expect(item(reader, "Imported and live")).to_have_attribute("data-new", "true", timeout=30_000)

    with reader.expect_download() as download:
        reader.click("#export")
    text = Path(download.value.path()).read_text()
    assert feeds.url("opml-a") in text and feeds.url("opml-b") in text
    assert "ftp://" not in text
    expect(reader.locator("#status")).to_have_text("exported 2 feed(s)")


def test_the_landing_page_links_both_feed_pages(page: Any, follow_stack: Stack) -> None:
    page.goto(follow_stack.url + "/")
    links = page.locator('#platforms li[data-platform="feeds"] a')
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == ["/feeds.html", "/reader.html"]
