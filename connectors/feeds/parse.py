"""RSS and Atom bytes → Sockethub's feeds result: a collection of ``post`` activities.

Pure: no network, no Celery. feedparser parses bytes we fetched ourselves, wrapped in a
file object: given a plain string or bytes it may fetch a URL or read a local file, so an
untrusted body must never reach it bare. The feed's own URL goes in as
``Content-Location``, so relative links (and ``xml:base``) resolve to absolute ones.
feedparser sanitises HTML content (``<script>``, event handlers); we keep its output.
Links, images and enclosures that are not http(s) URLs (``javascript:``) are dropped.

Shape (Sockethub's platform-feeds, v5): ``{"type": "collection", "summary": <title>,
"totalItems": n, "actor": <feed>, "items": [{"type": "post", "actor": <feed>,
"object": {...}}]}``, items newest first.

``max_chars`` cuts each item's title, brief and content: a cut one ends with ``…`` and its
object says ``"truncated": true`` (in HTML, a tag cut in half is dropped, not left open).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import time
from datetime import UTC, datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]  # ships no type hints

from envelopes.errors import NotAFeed

__all__ = ["MAX_NOTE_LENGTH", "UNKNOWN_FEED", "parse_feed", "select_items"]

MAX_NOTE_LENGTH = 256  # Sockethub: longer content is an "article", shorter a "note"
UNKNOWN_FEED = "Unknown Feed"

_TAG = re.compile(r"<[a-zA-Z/!?][^>]*>")
_SPACE = re.compile(r"\s+")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    max_chars: int | None = None,
) -> dict[str, Any]:
    """Parse a fetched feed. ``since`` keeps items published after it (undated items
    cannot be shown to be newer, so they are dropped); ``limit`` keeps the newest N;
    ``max_chars`` cuts every item's long texts.

    Raises ``NotAFeed`` (naming ``url``) when the bytes are neither RSS nor Atom.
    """
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    if not parsed.get("version") and not parsed.get("entries"):
        raise NotAFeed(_not_a_feed(body, url, content_type))

    feed = parsed.get("feed", {})
    actor = _feed_actor(feed, url)
    items = [_post(entry, actor, feed, url) for entry in parsed.get("entries", [])]
    if max_chars is not None:
        for item in items:
            _cut(item["object"], max_chars)
    # Newest first; undated items keep their feed order, after the dated ones.
    items.sort(key=lambda i: ("datenum" not in i["object"], -i["object"].get("datenum", 0)))
    collection = {
        "type": "collection",
        "summary": _text(feed.get("title"), feed.get("title_detail")) or UNKNOWN_FEED,
        "totalItems": len(items),
        "actor": actor,
        "items": items,
    }
    return select_items(collection, since=since, limit=limit)


def select_items(
    collection: dict[str, Any], *, since: datetime | None = None, limit: int | None = None
) -> dict[str, Any]:
    """``collection`` (newest first, as ``parse_feed`` gives it) narrowed to items published
    after ``since`` and to the newest ``limit``; a new dict, the items themselves shared."""
    items = list(collection["items"])
    if since is not None:
        cutoff = _millis(since)
        items = [i for i in items if "datenum" in i["object"] and i["object"]["datenum"] > cutoff]
    if limit is not None:
        items = items[: max(0, limit)]
    return {**collection, "totalItems": len(items), "items": items}


_ELLIPSIS = "…"
_CUT_FIELDS = ("title", "brief", "content")


def _cut(obj: dict[str, Any], max_chars: int) -> None:
    """Cut ``obj``'s long texts to ``max_chars``, marking the object when anything was."""
    for name in _CUT_FIELDS:
        value = obj.get(name)
        if not isinstance(value, str) or len(value) <= max_chars:
            continue
        kept = value[: max(0, max_chars - len(_ELLIPSIS))]
        if obj.get("contentType") == "html" and name != "title":
            opened = kept.rfind("<")
            if opened > kept.rfind(">"):  # a tag cut in half: drop what is left of it
                kept = kept[:opened]
        obj[name] = kept + _ELLIPSIS
        obj["truncated"] = True


def _web(link: Any) -> str | None:
    """``link`` if it is an http(s) URL: a feed may say ``javascript:``, we never do."""
    if isinstance(link, str) and link.strip().lower().startswith(("http://", "https://")):
        return link.strip()
    return None


def _not_a_feed(body: bytes, url: str, content_type: str | None) -> str:
    looks_html = "html" in (content_type or "").lower() or b"<html" in body[:2048].lower()
    hint = " (it is an HTML page)" if looks_html else ""
    return f"{url} is not an RSS or Atom feed{hint}"


def _text(value: str | None, detail: Any = None) -> str:
    """Plain text of a title or description, whatever markup the feed used."""
    if not value:
        return ""
    kind = (detail or {}).get("type", "text/plain")
    if kind in _HTML_TYPES:
        value = html.unescape(_TAG.sub("", value))
    return _SPACE.sub(" ", value).strip()


def _feed_actor(feed: Any, url: str) -> dict[str, Any]:
    title = _text(feed.get("title"), feed.get("title_detail"))
    link = _web(feed.get("link")) or url
    actor: dict[str, Any] = {"id": url, "type": "feed", "name": title or link, "link": link}
    description = _text(feed.get("subtitle"), feed.get("subtitle_detail"))
    if description:
        actor["description"] = description
    image = feed.get("image") or {}
    if _web(image.get("href")):
        actor["image"] = {"url": image["href"]}
        for key in ("width", "height"):
            if isinstance(image.get(key), int):
                actor["image"][key] = image[key]
    if _web(feed.get("icon")):
        actor["favicon"] = feed["icon"]
    actor["categories"] = [t["term"] for t in feed.get("tags", []) if t.get("term")]
    if feed.get("language"):
        actor["language"] = feed["language"]
    author = _author(feed)
    if author:
        actor["author"] = author
    return actor


def _author(node: Any) -> str:
    detail = node.get("author_detail") or {}
    return str(detail.get("name") or node.get("author") or "")


def _body(entry: Any) -> tuple[str, str, str | None]:
    """(content, "html"|"text", brief): the fullest body, and the summary if different."""
    summary = entry.get("summary") or ""
    contents = entry.get("content") or []
    if contents:
        value, kind = contents[0].get("value", ""), contents[0].get("type", "text/plain")
        brief = summary if summary and summary != value else None
    else:
        value = summary
        kind = (entry.get("summary_detail") or {}).get("type", "text/plain")
        brief = None
    if kind in _HTML_TYPES and not _TAG.search(value):
        # RSS says every description is HTML; one without a tag reads better as text.
        return html.unescape(value).strip(), "text", brief
    return value.strip(), "html" if kind in _HTML_TYPES else "text", brief


def _when(entry: Any) -> time.struct_time | None:
    # RSS 1.0's dc:date and an Atom entry without <published> only give "updated". Plain
    # dict lookups: feedparser's own aliasing between the two warns and is going away.
    return dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _iso(parsed: time.struct_time) -> str:
    return datetime(*parsed[:6], tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _post(entry: Any, actor: dict[str, Any], feed: Any, url: str) -> dict[str, Any]:
    content, content_type, brief = _body(entry)
    title = _text(entry.get("title"), entry.get("title_detail"))
    link = _web(entry.get("link")) or _web(feed.get("link")) or url
    ident = entry.get("id") or entry.get("link")
    if not ident:
        # No guid and no link: a stable id from what the item says, so clients can dedupe.
        digest = hashlib.sha256(f"{url}\n{title}\n{content}".encode()).hexdigest()
        ident = f"urn:sha256:{digest}"
    obj: dict[str, Any] = {
        "type": "article" if len(content) > MAX_NOTE_LENGTH else "note",
        "title": title,
        "id": ident,
        "content": content,
        "contentType": content_type,
        "url": link,
    }
    if brief:
        obj["brief"] = brief
    published = _when(entry)
    if published is not None:
        obj["published"] = _iso(published)
        obj["datenum"] = calendar.timegm(published) * 1000
        updated = dict.get(entry, "updated_parsed")
        if updated is not None and updated != published:
            obj["updated"] = _iso(updated)
    author = _author(entry)
    if author:
        obj["author"] = author
    tags = [t["term"] for t in entry.get("tags", []) if t.get("term")]
    if tags:
        obj["tags"] = tags
    media = [
        {
            k: v
            for k, v in (
                ("url", e.get("href")),
                ("type", e.get("type")),
                ("length", e.get("length")),
            )
            if v
        }
        for e in entry.get("enclosures", [])
        if _web(e.get("href"))
    ]
    if media:
        obj["media"] = media
    return {"type": "post", "actor": dict(actor), "object": obj}
