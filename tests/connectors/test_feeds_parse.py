"""Feed bytes → Sockethub's feeds collection, over hand-written fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors.feeds.parse import parse_feed
from envelopes.errors import NotAFeed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def parse(name: str, url: str, content_type: str | None = "application/xml", **kw: Any):
    return parse_feed((FEEDS / name).read_bytes(), url, content_type, **kw)


def by_title(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["object"]["title"]: item["object"] for item in result["items"]}


RSS20 = "https://kettle.example.com/feed.xml"
ATOM = "https://tide.example.org/blog/atom.xml"


def test_rss20_collection_and_feed_actor() -> None:
    result = parse("rss20.xml", RSS20)
    assert result["type"] == "collection"
    assert result["summary"] == "Kettle & Copper: a Workshop Diary"
    assert result["totalItems"] == len(result["items"]) == 4
    actor = result["actor"]
    assert actor == {
        "id": RSS20,
        "type": "feed",
        "name": "Kettle & Copper: a Workshop Diary",
        "link": "https://kettle.example.com/",
        "description": "Notes from a metalwork shop \u2013 tools, fails & fixes.",
        "image": {"url": "https://kettle.example.com/img/logo.png", "width": 144, "height": 144},
        "categories": ["metalwork", "tools"],
        "language": "en-us",
        "author": "Ruth Tinsley",
    }
    assert all(item["type"] == "post" and item["actor"] == actor for item in result["items"])


def test_rss20_article_content_is_sanitised_and_links_made_absolute() -> None:
    article = by_title(parse("rss20.xml", RSS20))["Annealing copper without a kiln"]
    assert article["type"] == "article"  # content over 256 characters
    assert article["id"] == "kettle-2025-0001"  # the guid, even when not a permalink
    assert article["url"] == "https://kettle.example.com/2025/01/annealing"
    assert article["contentType"] == "html"
    assert "<script" not in article["content"] and "document.cookie" not in article["content"]
    assert 'src="https://kettle.example.com/img/anneal.jpg"' in article["content"]
    assert 'href="https://kettle.example.com/gallery/anneal"' in article["content"]
    assert article["brief"] == "How to soften work-hardened copper with a plain propane torch."
    assert article["published"] == "2025-01-06T09:15:00Z"
    assert article["datenum"] == 1736154900000
    assert article["author"] == "Ruth Tinsley"
    assert article["tags"] == ["copper"]
    assert article["media"] == [
        {
            "url": "https://kettle.example.com/media/anneal.mp3",
            "type": "audio/mpeg",
            "length": "1234567",
        }
    ]


def test_rss20_items_without_guid_relative_links_and_bad_dates() -> None:
    items = by_title(parse("rss20.xml", RSS20))
    note = items["Quick note: new hammer handles"]
    assert note["type"] == "note"
    # No guid: the link is the id, resolved against the feed's URL.
    assert note["id"] == note["url"] == "https://kettle.example.com/2025/01/hammer-handles"
    assert note["content"] == "Hickory, <b>not</b> ash \u2014 it lasts longer."
    assert note["contentType"] == "html"

    closed = items["Shop closed over the holidays"]  # no guid, no link, unparseable date
    assert closed["id"].startswith("urn:sha256:") and len(closed["id"]) == 11 + 64
    assert closed["url"] == "https://kettle.example.com/"
    assert "published" not in closed and "datenum" not in closed
    # Entity-decoded, no markup: plain text.
    assert closed["contentType"] == "text"
    assert closed["content"] == "Back on the 2nd of January. Fish & chips on Fridays resume then."
    # The hash id is stable from one fetch to the next.
    again = by_title(parse("rss20.xml", RSS20))["Shop closed over the holidays"]
    assert again["id"] == closed["id"]

    stakes = items["Planishing stakes, a buyer's guide"]
    assert stakes["published"] == "2024-12-15T13:00:00Z"  # -0500 converted to UTC


def test_items_are_newest_first_with_undated_last() -> None:
    titles = [i["object"]["title"] for i in parse("rss20.xml", RSS20)["items"]]
    assert titles == [
        "Annealing copper without a kiln",
        "Quick note: new hammer handles",
        "Planishing stakes, a buyer's guide",
        "Shop closed over the holidays",
    ]


def test_limit_keeps_the_newest() -> None:
    result = parse("rss20.xml", RSS20, limit=2)
    assert result["totalItems"] == 2
    assert [i["object"]["title"] for i in result["items"]] == [
        "Annealing copper without a kiln",
        "Quick note: new hammer handles",
    ]


def test_since_keeps_items_published_after_it() -> None:
    since = datetime(2025, 1, 3, 12, 0, tzinfo=UTC)
    result = parse("rss20.xml", RSS20, since=since)
    assert [i["object"]["title"] for i in result["items"]] == [
        "Annealing copper without a kiln",
        "Quick note: new hammer handles",
    ]
    # An aware time in another zone means the same instant; undated items are not "newer".
    cet = timezone(timedelta(hours=1))
    later = parse("rss20.xml", RSS20, since=datetime(2025, 1, 6, 10, 15, tzinfo=cet))
    assert later["totalItems"] == 0
    assert parse("rss20.xml", RSS20, since=datetime(2024, 1, 1), limit=1)["totalItems"] == 1


def test_atom_with_xml_base_html_titles_and_xhtml() -> None:
    result = parse("atom.xml", ATOM)
    assert result["summary"] == "Tide Tables & Other Stories"
    actor = result["actor"]
    assert actor["link"] == "https://tide.example.org/blog/"  # href="./" against xml:base
    assert actor["description"] == "A coastal field journal"  # HTML subtitle as text
    assert actor["favicon"] == "https://tide.example.org/favicon.png"
    assert actor["author"] == "Mara Quay" and actor["language"] == "en"

    items = by_title(result)
    tides = items["Spring tides & the equinox"]  # type="html" title, as text
    assert tides["url"] == "https://tide.example.org/blog/posts/spring-tides"
    assert tides["id"] == "tag:tide.example.org,2025:spring-tides"
    assert tides["published"] == "2025-04-01T04:30:00Z"
    assert tides["updated"] == "2025-04-02T08:00:00Z"
    assert tides["brief"] == "Why the biggest tides of the year come in March and September."
    assert 'href="https://tide.example.org/blog/charts/march"' in tides["content"]
    assert "<script" not in tides["content"] and "alert(" not in tides["content"]
    assert "onclick" not in tides["content"]
    assert tides["type"] == "article"

    gulls = items["Gull count"]  # entry-level xml:base wins
    assert gulls["url"] == "https://tide.example.org/notes/gulls-2025-03"
    assert gulls["contentType"] == "html" and "<b>black-backed</b>" in gulls["content"]
    assert gulls["published"] == "2025-03-20T17:00:00Z"  # only <updated>: used as the date
    assert "brief" not in gulls

    scribble = items["Undated scribble"]
    assert scribble["contentType"] == "text"
    assert scribble["content"] == "Just a line of plain text <not a tag>."
    assert "datenum" not in scribble


def test_rss10_rdf() -> None:
    result = parse("rss10.rdf", "https://botany.example.net/index.rdf")
    assert result["summary"] == "Botany Notes"
    items = by_title(result)
    moss = items["Sphagnum in the upper bog"]
    assert moss["content"] == (
        "<p>Three species of <em>Sphagnum</em> were found along the boardwalk.</p>"
    )
    assert moss["brief"] == "Three species found along the boardwalk."
    assert moss["published"] == "2025-03-14T08:30:00Z"  # dc:date, +01:00
    assert moss["author"] == "Ada Moss"
    assert items["Bracken control trial"]["id"] == "https://botany.example.net/2025/02/bracken"


def test_rss091_without_dates() -> None:
    result = parse("rss091.xml", "https://gazette.example.org/rss.xml", "text/xml")
    assert result["summary"] == "Harbour Town Gazette"
    assert result["actor"]["image"] == {
        "url": "https://gazette.example.org/logo.gif",
        "width": 88,
        "height": 31,
    }
    titles = [i["object"]["title"] for i in result["items"]]
    assert titles == ["Ferry timetable changes for winter", "Lighthouse open day"]  # feed order
    ferry = result["items"][0]["object"]
    assert ferry["content"] == (
        "From 1 November the morning ferry leaves at 07:40 & the last one at 18:15."
    )
    assert "published" not in ferry


@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
def test_latin1_feed_is_decoded_from_its_prolog(content_type: str | None) -> None:
    raw = (FEEDS / "latin1.xml").read_bytes()
    assert b"caf\xe9" in raw  # really latin-1 on disk, not UTF-8
    result = parse_feed(raw, "https://cafe.example.fr/rss", content_type)
    assert result["summary"] == "Le Café de la Gare"
    assert result["actor"]["description"] == "Menus, concerts et nouvelles du café."
    items = by_title(result)
    assert "Crème brûlée à la carte" in items
    assert items["Soirée jazz vendredi"]["content"] == (
        "Entrée libre, réservation conseillée. Ça va swinguer !"
    )


def test_malformed_but_recoverable_feed_still_parses() -> None:
    result = parse("malformed.xml", "https://radio.example.net/feed")
    assert result["summary"] == "Rough & Ready Radio"
    assert [i["object"]["title"] for i in result["items"]] == [
        "Show 41: Tom & Jerry's jukebox",
        "Show 40: quiet night",
    ]


def test_xml_that_is_not_a_feed() -> None:
    with pytest.raises(NotAFeed) as caught:
        parse("garbage.xml", "https://api.example.com/status", "application/xml")
    assert caught.value.code == "not-a-feed"
    assert caught.value.message == "https://api.example.com/status is not an RSS or Atom feed"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", None])
def test_an_html_page_is_not_a_feed(content_type: str | None) -> None:
    url = "https://kettle.example.com/"
    with pytest.raises(NotAFeed) as caught:
        parse("not-a-feed.html", url, content_type)
    assert caught.value.message == f"{url} is not an RSS or Atom feed (it is an HTML page)"


def test_empty_body_is_not_a_feed() -> None:
    with pytest.raises(NotAFeed, match="https://empty.example/feed"):
        parse_feed(b"", "https://empty.example/feed", None)


def test_a_body_that_looks_like_a_path_is_never_opened_as_a_file(tmp_path: Path) -> None:
    # feedparser opens bare strings/bytes as file names; we hand it a stream instead.
    secret = tmp_path / "secret.xml"
    secret.write_text(
        '<rss version="2.0"><channel><title>LEAKED</title><item><title>x</title></item>'
        "</channel></rss>"
    )
    with pytest.raises(NotAFeed):
        parse_feed(str(secret).encode(), "https://evil.example/feed", "application/xml")


def test_empty_channel_is_a_feed_with_no_items() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>'
    result = parse_feed(body, "https://quiet.example/rss", None)
    assert result == {
        "type": "collection",
        "summary": "Unknown Feed",
        "totalItems": 0,
        "actor": {
            "id": "https://quiet.example/rss",
            "type": "feed",
            "name": "https://quiet.example/rss",
            "link": "https://quiet.example/rss",
            "categories": [],
        },
        "items": [],
    }


def test_hostile_feed_keeps_markup_in_titles_as_text_and_drops_script_links() -> None:
    result = parse("hostile.xml", "https://mallory.example/feed.xml")
    hostile = result["items"][0]["object"]
    # A title is text: the markup in it is characters to show, not HTML to render.
    assert hostile["title"].startswith("<img src=x onerror=")
    assert hostile["url"] == "https://mallory.example/"  # javascript: link dropped
    assert "<script" not in hostile["content"] and "onerror" not in hostile["content"]
    assert "javascript:" not in hostile["content"] and "<iframe" not in hostile["content"]
