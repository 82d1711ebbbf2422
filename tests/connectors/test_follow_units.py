"""The pure parts of following: new-item detection, the schedule, discovery, OPML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.feeds.dedupe import identities, new_items
from connectors.feeds.discover import feed_links
from connectors.feeds.opml import read_opml, write_opml
from connectors.feeds.parse import parse_feed
from connectors.feeds.schedule import Bounds, Hints, hints, max_age, next_poll
from envelopes.errors import InvalidEnvelope

FEED = {"id": "https://e.org/feed", "link": "https://e.org/"}


def post(ident: str | None, title: str, link: str | None = None, text: str = "") -> dict:
    obj = {"title": title, "content": text or f"{title} text", "url": link or FEED["link"]}
    obj["id"] = ident or link or f"urn:sha256:{title}"
    return {"type": "post", "object": obj}


def seen_of(items: list[dict]) -> set[str]:
    return {v for i in items for v in identities(i, FEED).values()}


def test_new_by_guid_edited_items_are_not_new() -> None:
    before = [post("g1", "One"), post("g2", "Two")]
    after = [post("g3", "Three"), post("g1", "One, edited", text="changed"), post("g2", "Two")]
    verdict = new_items(after, FEED, seen_of(before))
    assert [i["object"]["title"] for i in verdict.new] == ["Three"]
    assert verdict.broken == []


def test_guids_that_change_on_every_fetch_are_distrusted() -> None:
    before = [post("g1-a", "One"), post("g2-a", "Two")]
    after = [post("g3-b", "Three"), post("g1-b", "One"), post("g2-b", "Two")]
    verdict = new_items(after, FEED, seen_of(before))
    assert [i["object"]["title"] for i in verdict.new] == ["Three"]
    assert verdict.broken == ["id"]
    # Once distrusted, the content decides from then on.
    again = [
        post("g4-c", "Four"),
        *[post(f"{g}-c", t) for g, t in (("g3", "Three"), ("g1", "One"))],
    ]
    later = new_items(again, FEED, seen_of(before + after), broken=["id"])
    assert [i["object"]["title"] for i in later.new] == ["Four"]


def test_changing_guids_with_stable_links_fall_back_to_links() -> None:
    before = [post("a1", "One", "https://e.org/1"), post("a2", "Two", "https://e.org/2")]
    after = [
        post("b1", "One (updated)", "https://e.org/1", "new text"),
        post("b2", "Two", "https://e.org/2"),
        post("b3", "Three", "https://e.org/3"),
    ]
    verdict = new_items(after, FEED, seen_of(before))
    assert [i["object"]["title"] for i in verdict.new] == ["Three"]


def test_one_new_guid_with_an_old_text_is_still_new() -> None:
    before = [post("b1", "Build passed"), post("b0", "Build failed")]
    after = [post("b2", "Build passed"), *before]
    verdict = new_items(after, FEED, seen_of(before))
    assert [i["object"]["id"] for i in verdict.new] == ["b2"]
    assert verdict.broken == []


def test_the_feeds_own_link_is_no_identity() -> None:
    item = post(None, "x")  # parse_feed gives a link-less item the feed's link
    assert set(identities(item, FEED)) == {"content"}


def test_items_through_the_parser() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<link>https://e.org/</link><item><title>A</title><guid>urn:a</guid></item>"
        b"<item><title>B</title></item></channel></rss>"
    )
    collection = parse_feed(rss, "https://e.org/feed", "application/rss+xml")
    verdict = new_items(collection["items"], collection["actor"], set())
    assert len(verdict.new) == 2
    again = new_items(collection["items"], collection["actor"], set(verdict.remember))
    assert again.new == []


BOUNDS = Bounds(60, 3600)
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday


def test_interval_is_half_the_median_gap_of_the_history() -> None:
    history = [NOW - 4000, NOW - 3000, NOW - 2000, NOW - 1000]
    due, interval = next_poll(NOW, BOUNDS, previous=60, history=history)
    assert interval == 500 and due == NOW + 500


def test_interval_bounds_floors_and_failures() -> None:
    assert next_poll(NOW, BOUNDS, previous=None)[1] == 90  # no history: 1.5 × the minimum
    assert next_poll(NOW, BOUNDS, previous=3000)[1] == 3600  # never past the maximum
    assert next_poll(NOW, BOUNDS, previous=100, failed=True)[1] == 200
    ttl = Hints(ttl=1200)
    assert next_poll(NOW, BOUNDS, previous=60, history=[NOW - 10, NOW], feed_hints=ttl)[1] == 1200
    assert next_poll(NOW, BOUNDS, previous=60, cache_max_age=900)[1] == 900
    assert next_poll(NOW, BOUNDS, previous=60, cache_max_age=99999)[1] == 3600


def test_skip_hours_move_the_poll_past_them() -> None:
    skip = Hints(skip_hours=frozenset({0, 1, 2}))
    due, _ = next_poll(NOW, BOUNDS, previous=60, history=[NOW - 200, NOW], feed_hints=skip)
    assert datetime.fromtimestamp(due, UTC).hour == 3
    every = Hints(skip_hours=frozenset(range(24)))
    assert next_poll(NOW, BOUNDS, previous=60, feed_hints=every)[0] == NOW + 90


def test_hints_and_max_age() -> None:
    body = (
        b'<rss><channel><atom:link rel="hub" href="https://hub.example/"/>'
        b'<atom:link rel="self" href="https://e.org/feed"/><ttl>30</ttl>'
        b"<skipHours><hour>1</hour><hour>23</hour></skipHours>"
        b"<skipDays><day>Sunday</day></skipDays></channel></rss>"
    )
    got = hints(body)
    assert got.ttl == 1800 and got.skip_hours == {1, 23} and got.skip_days == {6}
    assert got.hub == "https://hub.example/" and got.self_url == "https://e.org/feed"
    assert max_age("public, max-age=600") == 600
    assert max_age("max-age=600, s-maxage=60") == 60
    assert max_age("no-cache, max-age=600") is None and max_age(None) is None


def test_discovery_finds_the_alternate_feeds() -> None:
    page = (
        b'<html><head><base href="https://cdn.e.org/x/"><link rel="stylesheet" href="a.css">'
        b'<link rel="alternate" type="application/atom+xml" href="atom.xml">'
        b'<link rel="Alternate" type="application/rss+xml; charset=utf-8" '
        b'href="https://e.org/rss">'
        b'<link rel="alternate" type="text/html" href="/fr/">'
        b'<link rel="alternate" type="application/rss+xml" href="javascript:x()">'
        b"</head></html>"
    )
    assert feed_links(page, "https://e.org/page") == [
        "https://cdn.e.org/x/atom.xml",
        "https://e.org/rss",
    ]
    assert feed_links(b"<html>nothing</html>", "https://e.org/") == []


def test_opml_round_trip_and_refusals() -> None:
    text = write_opml([("https://e.org/a", "A & co"), ("https://e.org/b", "")])
    assert read_opml(text) == [
        ("https://e.org/a", "A & co"),
        ("https://e.org/b", "https://e.org/b"),
    ]
    nested = (
        '<opml version="2.0"><body><outline text="folder">'
        '<outline text="x" xmlUrl="https://e.org/x"/><outline text="x again" '
        'xmlUrl="https://e.org/x"/></outline></body></opml>'
    )
    assert read_opml(nested) == [("https://e.org/x", "x")]
    for bad in (
        "<rss/>",
        "not xml at all",
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><opml>&e;</opml>',
    ):
        with pytest.raises(InvalidEnvelope):
            read_opml(bad)


def test_when_to_subscribe_and_renew() -> None:
    from connectors.feeds.websub import RETRY, Subscriber, subscribe_due

    hub, url = "https://hub.e.org/", "https://gw.e.org"
    assert not subscribe_due({}, None, url, NOW)  # no hub
    assert not subscribe_due({}, hub, "", NOW)  # no public URL
    assert subscribe_due({}, hub, url, NOW)
    pending = {"ws_hub": hub, "ws_state": "pending", "ws_asked": str(NOW)}
    assert not subscribe_due(pending, hub, url, NOW + 10)
    assert subscribe_due(pending, hub, url, NOW + RETRY)
    assert subscribe_due({**pending, "ws_hub": "https://other/"}, hub, url, NOW + 10)
    active = {"ws_hub": hub, "ws_state": "active", "ws_until": str(NOW + 100)}
    active["ws_renew"] = str(NOW + 75)
    assert not subscribe_due(active, hub, url, NOW + 74)
    assert subscribe_due(active, hub, url, NOW + 75)
    sub = Subscriber(None, b"k" * 32, url, 100, lambda h, f: None)  # type: ignore[arg-type]
    # While pushes come: polled at the longest interval, but renewed in time.
    assert sub.due(active, NOW + 60, NOW, 3600) == NOW + 75
    assert sub.due(pending, NOW + 60, NOW, 3600) == NOW + 60
