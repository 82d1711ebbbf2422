"""A feed server whose feeds change while a test runs, for following and its benchmark.

127.0.0.1 only, threaded. Each feed is named by a path segment and holds items the test
adds (``add``); the body is built on every request, with an ``ETag`` of its bytes and a
``304`` to a matching ``If-None-Match`` (the standard library sends no ETag of its own).
Every request is logged per feed with its status (``hits``, ``statuses``), so a test
asserts how often upstream was really asked and how often it answered 304.

Routes::

    /feed/<name>   RSS 2.0 of the feed's items, newest first
    /page/<name>   an HTML page naming /feed/<name> in <link rel="alternate">

A feed may change its GUIDs on every request (``changing_guids``), like a broken CMS,
carry a ``<ttl>``, ``<skipHours>``, a ``Cache-Control`` header and a WebSub hub.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

__all__ = ["FeedServer", "Feed"]


@dataclass
class Feed:
    items: list[tuple[str, str, float]] = field(default_factory=list)  # guid, title, when
    changing_guids: bool = False
    ttl: int | None = None  # minutes (RSS 2.0 <ttl>)
    skip_hours: tuple[int, ...] = ()
    cache_control: str | None = None
    hub: str | None = None  # a WebSub hub named with rel="hub" (and rel="self")
    served: int = 0  # bodies built: with changing GUIDs, each has other GUIDs
    changed_at: float = 0.0  # epoch of the last ``add``


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        kind, name = (parts + [""])[:2]
        feeds = self.server.owner
        if kind == "feed" and name in feeds.feeds:
            self._feed(name)
        elif kind == "page" and name in feeds.feeds:
            page = (
                '<!doctype html><html><head><title>A page</title><link rel="alternate" '
                f'type="application/rss+xml" title="Its feed" href="/feed/{name}"></head>'
                "<body>hello</body></html>"
            ).encode()
            self._send(name, 200, page, {"Content-Type": "text/html"})
        else:
            self._send(name, 404, b"no such feed", {})

    def _feed(self, name: str) -> None:
        owner = self.server.owner
        with owner.lock:
            body, cc = owner.body(name), owner.feeds[name].cache_control
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Content-Type": "application/rss+xml"}
        if cc:
            headers["Cache-Control"] = cc
        if self.headers.get("If-None-Match") == etag:
            self._send(name, 304, b"", headers)
        else:
            self._send(name, 200, body, headers)

    def _send(self, name: str, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.server.owner.record(name, status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512
    owner: FeedServer


class FeedServer:
    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.statuses: dict[str, collections.Counter[int]] = collections.defaultdict(
            collections.Counter
        )
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str, kind: str = "feed") -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{name}"

    def feed(self, name: str, **options: object) -> Feed:
        with self.lock:
            feed = self.feeds[name] = Feed(**options)  # type: ignore[arg-type]
            return feed

    def add(self, name: str, guid: str, title: str, when: float | None = None) -> None:
        with self.lock:
            feed = self.feeds[name]
            feed.changed_at = time.time()
            feed.items.insert(0, (guid, title, feed.changed_at if when is None else when))

    def record(self, name: str, status: int) -> None:
        with self.lock:
            self.hits[name] += 1
            self.statuses[name][status] += 1

    def body(self, name: str) -> bytes:
        """The feed as RSS now (called with ``lock`` held)."""
        feed = self.feeds[name]
        feed.served += 1
        extra = f"<ttl>{feed.ttl}</ttl>" if feed.ttl is not None else ""
        if feed.hub:
            extra += (
                f'<atom:link rel="hub" href="{escape(feed.hub)}"/>'
                f'<atom:link rel="self" href="{self.url(name)}"/>'
            )
        if feed.skip_hours:
            hours = "".join(f"<hour>{h}</hour>" for h in feed.skip_hours)
            extra += f"<skipHours>{hours}</skipHours>"
        items = []
        for guid, title, when in feed.items:
            shown = f"{guid}-{feed.served}" if feed.changing_guids else guid
            items.append(
                f"<item><title>{escape(title)}</title>"
                f'<guid isPermaLink="false">{escape(shown)}</guid>'
                f"<description>{escape(title)}, the text</description>"
                f"<pubDate>{email.utils.formatdate(when, usegmt=True)}</pubDate></item>"
            )
        return (
            '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
            "<channel>"
            f"<title>Feed {escape(name)}</title><link>http://example.org/{escape(name)}</link>"
            f"<description>changing</description>{extra}{''.join(items)}</channel></rss>"
        ).encode()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
