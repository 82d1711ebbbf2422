"""A page's feed: the first ``<link rel="alternate">`` naming RSS or Atom (the HTML
Living Standard's "alternate" link type with a feed MIME type; RSS Autodiscovery).

Pure: standard library ``html.parser`` over at most ``SCAN`` bytes of the page (the
links sit in ``<head>``). Relative ``href`` resolve against the page's final URL (or its
``<base href>``); only http(s) results are returned.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["FEED_TYPES", "SCAN", "feed_links"]

SCAN = 512 * 1024
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        got = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and self.base is None and got.get("href"):
            self.base = got["href"]
        if tag != "link":
            return
        rels = got.get("rel", "").lower().split()
        kind = got.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and got.get("href"):
            self.found.append(got["href"].strip())


def feed_links(body: bytes, page_url: str) -> list[str]:
    """Absolute http(s) URLs of the feeds ``body`` (an HTML page at ``page_url``) names,
    in page order, without repeats."""
    parser = _Links()
    try:
        parser.feed(body[:SCAN].decode("utf-8", "replace"))
        parser.close()
    except AssertionError:  # html.parser's own checks on broken markup: keep what we have
        pass
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out = [urljoin(base, href) for href in parser.found]
    return list(dict.fromkeys(u for u in out if u.lower().startswith(("http://", "https://"))))
