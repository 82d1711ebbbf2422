"""A local web server for the feeds and metadata tests: the fixtures, served like a real
site would (ETag, Last-Modified, 304), plus the misbehaviour the error tests need.

127.0.0.1 only. Every request is counted per path (``hits``), with the status it got
(``log``), so tests can assert how often upstream was really asked.

Routes::

    /feeds/<file>, /pages/<file>   a fixture; 304 to a matching If-None-Match or
                                   If-Modified-Since; ?delay=S waits S seconds first;
                                   /feeds/v/<n>/<file> is the same file under another URL
    /status/<code>?retry=S         that status (Retry-After: S when given)
    /big                           a 200 whose Content-Length is over the 5 MiB cap
    /huge-feed                     ``HUGE_FEED``: 4.6 MB of RSS that gzips to ~30 kB
    /hang                          accepts and never answers (until the server stops)
    /to/<path>                     302 to /<path> on this server
    /redirect?to=URL               302 to URL, anywhere
"""

from __future__ import annotations

import collections
import email.utils
import gzip
import hashlib
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["FIXTURES", "HUGE_FEED", "HUGE_ITEMS", "TLS", "FixtureServer", "OVER_CAP"]

FIXTURES = Path(__file__).parent / "fixtures"
TLS = FIXTURES / "tls"
OVER_CAP = 5 * 1024 * 1024 + 1
LAST_MODIFIED = email.utils.formatdate(1735689600, usegmt=True)  # 2025-01-01
HUGE_ITEMS = 300  # each with 15,000 characters of content


def _huge_feed() -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><guid>urn:item:{i}</guid>"
        f"<pubDate>{email.utils.formatdate(1735689600 + i * 60, usegmt=True)}</pubDate>"
        f"<description>{'lorem ipsum ' * 1250}</description></item>"
        for i in range(HUGE_ITEMS)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>'
        f"<link>http://example.org/</link>{items}</channel></rss>"
    ).encode()


HUGE_FEED = _huge_feed()
_HUGE_GZ = gzip.compress(HUGE_FEED)
_TYPES = {
    ".xml": "application/xml",
    ".rdf": "application/rdf+xml",
    ".html": "text/html",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.server.record(self.path, status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.enter()
        try:
            self._route()
        finally:
            self.server.leave()

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if "delay" in query:
            time.sleep(float(query["delay"]))
        if path.startswith(("/feeds/", "/pages/")):
            self._fixture(path)
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            extra = {"Retry_After": query["retry"]} if "retry" in query else {}
            self._send(code, f"status {code}".encode(), **extra)
        elif path == "/big":
            self.server.record(self.path, 200)
            self.send_response(200)
            self.send_header("Content-Length", str(OVER_CAP))
            self.end_headers()
            try:
                self.wfile.write(b"x" * 65536)
            except OSError:
                pass
        elif path == "/huge-feed":
            self._send(200, _HUGE_GZ, Content_Type="application/rss+xml", Content_Encoding="gzip")
        elif path == "/hang":
            self.server.record(self.path, 0)
            self.server.stopping.wait(120)
        elif path.startswith("/to/"):
            self._send(302, Location=path[3:])
        elif path == "/redirect":
            self._send(302, Location=query["to"])
        else:
            self._send(404, b"no such fixture")

    def _fixture(self, path: str) -> None:
        kind, _, rest = path[1:].partition("/")
        if rest.startswith("v/"):
            rest = rest.split("/", 2)[2]
        file = FIXTURES / kind / rest
        if "/" in rest or not file.is_file():
            self._send(404, b"no such fixture")
            return
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        validators = {"ETag": etag, "Last_Modified": LAST_MODIFIED}
        if (
            self.headers.get("If-None-Match") == etag
            or self.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            self._send(304, **validators)
            return
        kind_type = _TYPES.get(file.suffix, "application/octet-stream")
        self._send(200, body, Content_Type=kind_type, **validators)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # /hang handlers must not hold up stop()

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[str, int]] = []
        self.stopping = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0  # most requests answered at once, for the per-host limit
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self.hits[urlsplit(path).path] += 1
            self.log.append((path, status))

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are expected
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FixtureServer:
    def __init__(self, tls: bool = False) -> None:
        self.httpd = _Server()
        self.tls = tls
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def hits(self) -> collections.Counter[str]:
        return self.httpd.hits

    @property
    def log(self) -> list[tuple[str, int]]:
        return self.httpd.log

    @property
    def max_in_flight(self) -> int:
        return self.httpd.max_in_flight

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def statuses(self, path: str) -> list[int]:
        """Statuses served for ``path`` (query ignored), in order."""
        return [status for p, status in self.log if urlsplit(p).path == path]

    def stop(self) -> None:
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
