"""The guarded HTTP client's generic parts DAV needs: another method, a body, any status,
redirects that keep the method (or refuse to), same-origin only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.net.http import fetch
from envelopes.errors import Refused


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:
        pass

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        port = self.server.server_address[1]
        if self.path.startswith("/307"):
            return self._send(307, b"", Location="/echo")
        if self.path.startswith("/302"):
            return self._send(302, b"", Location="/echo")
        if self.path.startswith("/away"):
            return self._send(307, b"", Location=f"http://localhost:{port}/echo")
        if self.path.startswith("/412"):
            return self._send(412, b"changed", ETag='"v2"')
        said = {
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "depth": self.headers.get("Depth"),
            "if-match": self.headers.get("If-Match"),
        }
        self._send(207, json.dumps(said).encode())

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = _any

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _call(url: str, method: str, **kw: Any) -> Any:
    return fetch(url, method=method, allow_private=True, any_status=True, **kw)


def test_a_method_a_body_and_headers_go_out(base: str) -> None:
    got = _call(base + "/echo", "PROPFIND", body=b"<x/>", headers={"Depth": "1"})
    assert got.status == 207
    assert json.loads(got.body) == {
        "method": "PROPFIND",
        "path": "/echo",
        "body": "<x/>",
        "depth": "1",
        "if-match": None,
    }


def test_any_status_is_returned_with_its_body_and_headers(base: str) -> None:
    got = _call(base + "/412", "PUT", body=b"x", headers={"If-Match": '"v1"'})
    assert (got.status, got.body, got.headers.get("etag")) == (412, b"changed", '"v2"')
    with pytest.raises(Refused):  # without any_status, as before: an error
        fetch(base + "/412", allow_private=True)


def test_307_keeps_the_method_and_body_and_a_write_is_not_turned_into_a_get(base: str) -> None:
    got = _call(base + "/307", "PUT", body=b"data", headers={"If-Match": '"v1"'})
    said = json.loads(got.body)
    assert (said["method"], said["body"], said["if-match"]) == ("PUT", "data", '"v1"')
    with pytest.raises(Refused) as caught:
        _call(base + "/302", "PUT", body=b"data")
    assert "302 redirect would drop the request" in caught.value.message
    assert json.loads(_call(base + "/302", "PROPFIND", body=b"q").body)["method"] == "PROPFIND"


def test_same_origin_refuses_a_redirect_elsewhere(base: str) -> None:
    with pytest.raises(Refused) as caught:
        _call(base + "/away", "PROPFIND", same_origin=True)
    assert "another origin" in caught.value.message
    assert _call(base + "/away", "PROPFIND").status == 207  # allowed when not asked
