"""Page bytes → Sockethub's metadata ``page`` object, over hand-written fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.metadata.parse import detect_charset, parse_page

PAGES = Path(__file__).parent / "fixtures" / "pages"
THEATRE = "https://www.riverside-theatre.example/whats-on/the-tempest?ref=newsletter"


def page(name: str, url: str, content_type: str | None = "text/html") -> dict:
    return parse_page((PAGES / name).read_bytes(), url, content_type)


def test_opengraph_page() -> None:
    got = page("opengraph.html", THEATRE)
    assert got["type"] == "page"
    assert got["title"] == "The Tempest, by William Shakespeare"  # og:title over <title>
    assert got["name"] == "Riverside Theatre"
    assert got["description"] == "Prospero & Miranda return to the Riverside stage, 3\u201328 June."
    # og:url is relative here: resolved against <base href>, not the fetched URL.
    assert got["url"] == "https://www.riverside-theatre.example/whats-on/the-tempest?utm_source=og"
    assert got["language"] == "en-GB"
    assert got["charset"] == "utf-8"
    assert got["favicon"] == "https://www.riverside-theatre.example/static/icon.svg"


def test_opengraph_images_are_structured_absolute_and_safe() -> None:
    images = page("opengraph.html", THEATRE)["image"]
    assert images == [
        {
            # og:image:secure_url replaces the relative og:image it describes
            "url": "https://cdn.riverside-theatre.example/media/tempest-poster.jpg",
            "type": "image/jpeg",
            "width": 1200,
            "height": 630,
            "alt": "Prospero on a rock, storm behind",
        },
        {"url": "https://www.riverside-theatre.example/media/tempest-cast.png", "width": 800},
        # the javascript: image is dropped, and its width does not stick to the one before
    ]


def test_opengraph_video_gets_the_first_image_as_thumbnail() -> None:
    assert page("opengraph.html", THEATRE)["video"] == {
        "url": "https://video.example/embed/tempest-trailer.mp4",
        "type": "video/mp4",
        "width": 1280,
        "height": 720,
        "thumbnail": "https://cdn.riverside-theatre.example/media/tempest-poster.jpg",
    }


def test_every_og_and_twitter_property_is_kept_and_the_body_is_not_read() -> None:
    got = page("opengraph.html", THEATRE)
    og = got["openGraph"]
    assert og["type"] == "website"
    assert og["locale"] == "en_GB"
    assert og["image:alt"] == "Prospero on a rock, storm behind"
    assert og["video:height"] == "720"
    assert og["url"] == "the-tempest?utm_source=og"  # as the page wrote it
    # The <meta> in <body> is not read; the one inside a <script> string is not a tag.
    assert "audio" not in og
    assert "determiner" not in og
    assert got["twitter"] == {
        "card": "summary_large_image",
        "site": "@riversidetheatre",
        "title": "The Tempest at Riverside",
        "image": "https://www.riverside-theatre.example/media/tempest-twitter.jpg",
        "image:alt": "Storm over the stage",
    }


def test_plain_page_falls_back_to_title_and_meta_description() -> None:
    url = "https://parish.example.org.uk/minutes/2025-03.html"
    got = page("plain.html", url)
    assert got == {
        "type": "page",
        "openGraph": {},
        "twitter": {},
        "title": "Parish Council Minutes, March 2025",  # whitespace collapsed
        "description": "Minutes of the monthly meeting: footpaths, the village hall roof "
        "and the summer f\u00eate.",
        "url": url,  # no og:url, no canonical link
        "image": [],
        "favicon": "https://parish.example.org.uk/minutes/favicon.ico",  # rel="shortcut icon"
        "charset": "utf-8",
    }


def test_windows_1251_declared_by_meta_charset() -> None:
    raw = (PAGES / "cp1251.html").read_bytes()
    assert "борщ".encode("cp1251") in raw
    got = parse_page(raw, "http://kuhnya.example.ru/borsch", "text/html")
    assert got["charset"] == "windows-1251"
    assert got["title"] == "Рецепт борща – Кухня у Марины"
    assert got["name"] == "Кухня у Марины"
    assert got["description"].startswith("Как сварить настоящий украинский борщ")
    assert got["language"] == "ru"
    assert got["favicon"] == "http://kuhnya.example.ru/favicon.ico"  # the default


def test_latin1_declared_by_http_equiv_decodes_as_windows_1252() -> None:
    got = page("latin1.html", "http://cafe.example.fr/", None)
    assert got["charset"] == "iso-8859-1"
    # 0x93/0x94/0x96 are curly quotes and a dash in windows-1252, as browsers show them.
    assert got["title"] == "Café \u201cLe Fumé\u201d \u2013 carte"


def test_the_content_type_header_wins_over_meta() -> None:
    raw = (PAGES / "cp1251.html").read_bytes()
    got = parse_page(raw, "http://kuhnya.example.ru/borsch", "text/html; charset=KOI8-R")
    assert got["charset"] == "koi8-r"
    assert got["title"] != "Рецепт борща – Кухня у Марины"  # the header was wrong, and won


@pytest.mark.parametrize(
    ("body", "content_type", "label"),
    [
        (b"\xef\xbb\xbf<title>x</title>", None, "utf-8"),
        ("\ufeff<title>x</title>".encode("utf-16-le"), None, "utf-16le"),
        (b'<meta charset="utf-16"><title>x</title>', None, "utf-16"),  # no BOM: read as UTF-8
        (b"<title>x</title>", "text/html; charset=nonsense", "utf-8"),
        (b"<title>\xff</title>", None, "utf-8"),
    ],
)
def test_charset_detection_order(body: bytes, content_type: str | None, label: str) -> None:
    assert detect_charset(body, content_type)[0] == label
    assert parse_page(body, "https://x.example/", content_type)["title"] in ("x", "\ufffd")


def test_meta_charset_after_the_first_4_kib_is_not_seen() -> None:
    body = b"<!--" + b" " * 5000 + b'--><meta charset="windows-1251"><title>\xe1\xee\xf0</title>'
    assert detect_charset(body, None) == ("utf-8", "utf-8")
    assert detect_charset(body[5000:], None)[0] == "windows-1251"


def test_canonical_link_when_there_is_no_og_url() -> None:
    body = b'<head><link rel="canonical" href="/a/b"><link rel="icon" href="data:,x"></head>'
    got = parse_page(body, "https://site.example/a/b?utm=1", "text/html")
    assert got["url"] == "https://site.example/a/b"
    assert got["favicon"] == "https://site.example/favicon.ico"  # a data: icon is not a URL


def test_twitter_image_when_there_is_no_og_image() -> None:
    body = (
        b'<head><meta name="twitter:image" content="/card.png">'
        b'<meta name="twitter:image:alt" content="A card"></head>'
    )
    got = parse_page(body, "https://site.example/post", "text/html")
    assert got["image"] == [{"url": "https://site.example/card.png", "alt": "A card"}]


def test_a_direct_image_link_describes_itself() -> None:
    got = parse_page(b"\x89PNG\r\n\x1a\n....", "https://img.example/cat.png", "image/png")
    assert got["image"] == [{"url": "https://img.example/cat.png", "type": "image/png"}]
    assert got["url"] == "https://img.example/cat.png"
    assert "title" not in got


def test_parsing_stops_at_512_kib() -> None:
    body = b"<html><head>" + b"<!-- padding -->" * 40_000 + b"<title>too far</title></head>"
    assert len(body) > 512 * 1024
    assert "title" not in parse_page(body, "https://big.example/", "text/html")
