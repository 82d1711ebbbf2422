"""HTML bytes → Sockethub's metadata ``page`` object (OpenGraph, Twitter cards, <head>).

Pure: no network. Reads only the document's head, with the standard library's
``html.parser``: parsing stops at ``</head>`` or ``<body>``, and never looks past the first
512 KiB. Every URL in the result is absolute (resolved against ``<base href>`` or the
fetched URL) and http(s); anything else (``javascript:``, ``data:``) is dropped.

Charset, in the order browsers use (WHATWG "encoding sniffing", simplified): the
Content-Type header, a byte-order mark, ``<meta charset>`` or ``http-equiv`` in the first
4 KiB, else UTF-8; undecodable bytes become U+FFFD rather than failing.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

__all__ = ["HEAD_LIMIT", "SNIFF_LIMIT", "detect_charset", "parse_page"]

HEAD_LIMIT = 512 * 1024
SNIFF_LIMIT = 4 * 1024
_MAX_TEXT = 4096  # a description is a blurb, not an article
_MAX_IMAGES = 10
_MAX_FIELDS = 200  # og:/twitter: properties kept per page

_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),  # -sig: the BOM is not part of the text
    (codecs.BOM_UTF16_LE, "utf-16le", "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be", "utf-16be"),
)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_SPACE = re.compile(r"\s+")


class _StopParsing(Exception):
    """The head is over: nothing after it is read."""


def _codec(label: str | None) -> str | None:
    """A Python codec for a charset label, or None when the label is unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    # WHATWG: latin-1 and ASCII labels mean windows-1252 on the web (0x80-0x9F differ);
    # a UTF-16 label in a <meta> of a document without a BOM means UTF-8.
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return name


def detect_charset(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(label as declared, Python codec) for ``body``."""
    header = _HEADER_CHARSET.search(content_type or "")
    declared = _codec(header.group(1)) if header else None
    if header and declared:
        return header.group(1).lower(), declared
    for bom, bom_label, bom_codec in _BOMS:
        if body.startswith(bom):
            return bom_label, bom_codec
    meta = _META_CHARSET.search(body[:SNIFF_LIMIT])
    if meta:
        label = meta.group(1).decode("ascii").lower()
        codec = _codec(label)
        if codec:
            return label, "utf-8" if codec.startswith("utf-16") else codec
    return "utf-8", "utf-8"


class _Head(HTMLParser):
    """Collects <title>, <html lang>, <base>, <meta> and <link> until the head ends."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.base: str | None = None
        self.title: str | None = None
        self.metas: list[tuple[str, str]] = []  # (lower-cased key, content), in order
        self.links: list[dict[str, str]] = []
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "html" and a.get("lang"):
            self.lang = a["lang"].strip()
        elif tag == "body":
            raise _StopParsing
        elif tag == "base" and self.base is None and a.get("href"):
            self.base = a["href"].strip()
        elif tag == "title" and self.title is None:
            self._in_title = True
        elif tag == "meta":
            # OpenGraph uses property=, Twitter name=; many sites mix them up.
            key = a.get("property") or a.get("name") or a.get("http-equiv") or a.get("itemprop")
            if key and "content" in a:
                self.metas.append((key.strip().lower(), a["content"]))
        elif tag == "link" and a.get("href"):
            self.links.append(a)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = "".join(self._title_parts)
        elif tag == "head":
            raise _StopParsing


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = _SPACE.sub(" ", value).strip()
    return value[:_MAX_TEXT] or None


def _absolute(base: str, ref: str | None) -> str | None:
    if not ref or not ref.strip():
        return None
    try:
        url = urljoin(base, ref.strip())
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _media(metas: list[tuple[str, str]], prefix: str, base: str) -> list[dict[str, Any]]:
    """Structured og:image / og:video (ogp.me, "Arrays"): ``prefix`` or ``prefix:url``
    starts an item; the ``prefix:*`` properties after it describe that item."""
    items: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for key, value in metas:
        if key != prefix and not key.startswith(prefix + ":"):
            continue
        field = key[len(prefix) + 1 :]  # "" for the bare property
        if field in ("", "url", "secure_url"):
            url = _absolute(base, value)
            if field == "secure_url" and current is not None:
                if url:
                    current["url"] = url  # the https twin of the same file
            elif field == "url" and current is not None and current["url"] == url:
                pass  # og:image:url repeating og:image
            else:
                current = {"url": url} if url else None
                if current is not None:
                    items.append(current)
        elif current is None:
            continue
        elif field in ("width", "height", "duration") and _int(value) is not None:
            current[field] = _int(value)
        elif field in ("type", "alt") and value.strip():
            current[field] = value.strip()
    return items[:_MAX_IMAGES]


def _first(metas: list[tuple[str, str]], *keys: str) -> str | None:
    for wanted in keys:
        for key, value in metas:
            if key == wanted and value.strip():
                return value
    return None


def _favicon(links: list[dict[str, str]], base: str) -> str:
    for link in links:
        rel = link.get("rel", "").lower().split()
        if "icon" in rel:  # rel="icon" and the old rel="shortcut icon"
            url = _absolute(base, link["href"])
            if url:
                return url
    return urljoin(base, "/favicon.ico")


def _prefixed(metas: list[tuple[str, str]], prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in metas:
        if key.startswith(prefix) and len(out) < _MAX_FIELDS:
            out.setdefault(key[len(prefix) :], value.strip()[:_MAX_TEXT])  # first one wins
    return out


def _is_html(content_type: str | None) -> bool:
    kind = (content_type or "text/html").split(";", 1)[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml", "text/plain", "")


def parse_page(body: bytes, url: str, content_type: str | None) -> dict[str, Any]:
    """Describe the page at ``url`` from its ``body``: Sockethub's ``page`` object, plus
    every ``og:*`` (``openGraph``) and ``twitter:*`` (``twitter``) property, prefix dropped.

    A response that is not HTML (an image, a PDF) is described by its URL and type alone;
    a direct image link comes back as the page's one image.
    """
    label, codec = detect_charset(body, content_type)
    if not _is_html(content_type):
        kind = (content_type or "").split(";", 1)[0].strip().lower()
        image = [{"url": url, "type": kind}] if kind.startswith("image/") else []
        return _page(url=url, image=image, favicon=urljoin(url, "/favicon.ico"), charset=label)

    head = _Head()
    try:
        head.feed(body[:HEAD_LIMIT].decode(codec, errors="replace"))
        head.close()
    except _StopParsing:
        pass
    metas = head.metas
    base = _absolute(url, head.base) or url
    og, twitter = _prefixed(metas, "og:"), _prefixed(metas, "twitter:")

    images = _media(metas, "og:image", base)
    if not images:
        twitter_image = _absolute(base, _first(metas, "twitter:image", "twitter:image:src"))
        if twitter_image:
            images = [{"url": twitter_image}]
            if twitter.get("image:alt"):
                images[0]["alt"] = twitter["image:alt"]
    video = next(iter(_media(metas, "og:video", base)), None)
    if video is not None and images:
        video.setdefault("thumbnail", images[0]["url"])
    description = og.get("description") or twitter.get("description")
    language = head.lang or og.get("locale", "").replace("_", "-")
    return _page(
        title=_clean(og.get("title") or twitter.get("title") or head.title),
        name=_clean(og.get("site_name") or _first(metas, "application-name")),
        description=_clean(description or _first(metas, "description")) or "",
        url=_absolute(base, og.get("url")) or _canonical(head.links, base) or url,
        language=_clean(language or _first(metas, "content-language")),
        image=images,
        video=video,
        favicon=_favicon(head.links, base),
        charset=label,
        openGraph=og,
        twitter=twitter,
    )


def _page(**fields: Any) -> dict[str, Any]:
    """The page object in a stable key order; what is not known is left out."""
    page: dict[str, Any] = {"type": "page", "openGraph": {}, "twitter": {}}
    page.update((k, v) for k, v in fields.items() if v is not None)
    return page


def _canonical(links: list[dict[str, str]], base: str) -> str | None:
    for link in links:
        if "canonical" in link.get("rel", "").lower().split():
            return _absolute(base, link["href"])
    return None
