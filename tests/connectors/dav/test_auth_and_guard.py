"""Digest and Bearer against a scripted DAV server (Radicale speaks Basic only), and the
guard: private addresses, redirects to them, plain http, other origins.

The scripted server checks Digest the way a server does (RFC 7616 §3.4: it recomputes
``response`` from the password it knows), so a wrong hash fails the test."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.dav.auth import Digest, choose, parse_challenges
from connectors.net.guard import RoutedDial, StaticResolver
from envelopes.settings import Settings

from .helpers import connector, creds, failure, job

PUBLIC = "93.184.216.34"
MULTISTATUS = (
    b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" '
    b'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/</d:href><d:propstat>'
    b"<d:prop><c:calendar-home-set><d:href>/home/</d:href></c:calendar-home-set></d:prop>"
    b"<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"
)
HOME = (
    b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" '
    b'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/home/cal/</d:href>'
    b"<d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype>"
    b"<d:displayname>Cal</d:displayname></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
    b"</d:propstat></d:response></d:multistatus>"
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "digest-md5"  # set per server
    seen: list[str]

    def log_message(self, *_: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        said = self.headers.get("Authorization", "")
        self.server.seen.append(said)  # type: ignore[attr-defined]
        mode = self.server.mode  # type: ignore[attr-defined]
        if mode == "bearer":
            return said == "Bearer tok-123"
        if not said.startswith("Digest "):
            return False
        p = parse_challenges([said])[0][1]
        h = hashlib.sha256 if "sha-256" in mode else hashlib.md5

        def H(s: str) -> str:
            return h(s.encode()).hexdigest()

        ha1 = H(f"{p['username']}:dav:alice-pw")
        if mode.endswith("sess"):
            ha1 = H(f"{ha1}:{p['nonce']}:{p['cnonce']}")
        ha2 = H(f"{self.command}:{p['uri']}")
        want = H(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        return p["response"] == want and p["uri"] == self.path and p.get("opaque") == "op"

    def do_PROPFIND(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/to-self"):
            return self._send(307, Location="/home/")
        if self.path.startswith("/to-private"):
            return self._send(307, Location=f"http://127.0.0.1:{self.server.server_address[1]}/")
        if self.server.mode == "digest-stale" and len(self.server.seen) == 2:  # type: ignore[attr-defined]
            self.server.seen.append(self.headers.get("Authorization", ""))  # type: ignore[attr-defined]
            stale = 'Digest realm="dav", nonce="fresh", qop="auth", opaque="op", stale=true'
            return self._send(401, WWW_Authenticate=stale)
        if not self._authorised():
            mode = self.server.mode  # type: ignore[attr-defined]
            algorithm = {"digest-md5": "MD5", "digest-sha-256-sess": "SHA-256-sess"}.get(
                mode, "MD5"
            )
            challenge = (
                f'Digest realm="dav", nonce="n0nce", qop="auth,auth-int", algorithm={algorithm}, '
                f'opaque="op", Basic realm="dav"'
            )
            if mode == "bearer":
                challenge = 'Bearer realm="dav"'
            if mode == "none":
                challenge = "Negotiate"
            if mode == "basic":
                challenge = 'Basic realm="dav"'
            return self._send(401, WWW_Authenticate=challenge)
        self._send(
            207, HOME if self.path == "/home/" else MULTISTATUS, Content_Type="application/xml"
        )


@pytest.fixture
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.mark.parametrize("mode", ["digest-md5", "digest-sha-256-sess"])
def test_digest_is_preferred_and_verified(scripted: ThreadingHTTPServer, mode: str) -> None:
    scripted.mode = mode  # type: ignore[attr-defined]
    found = connector("caldav").handle(job("fetch", creds(_url(scripted))))
    assert [c["name"] for c in found["items"]] == ["Cal"]
    seen = scripted.seen  # type: ignore[attr-defined]
    assert seen[0] == "" and all(s.startswith("Digest ") for s in seen[1:])
    assert "alice-pw" not in " ".join(seen)  # Basic was offered too, and not taken
    assert re.search(r"nc=00000002", seen[-1])  # one challenge, counted up across requests


def test_a_stale_nonce_is_answered_once_with_the_new_one(scripted: ThreadingHTTPServer) -> None:
    """RFC 7616 §3.3: ``stale=true`` means the password was right, the nonce old: retry
    with the new nonce, without asking anyone for anything."""
    scripted.mode = "digest-stale"  # type: ignore[attr-defined]
    found = connector("caldav").handle(job("fetch", creds(_url(scripted))))
    assert found["totalItems"] == 1
    seen = scripted.seen  # type: ignore[attr-defined]
    assert 'nonce="n0nce"' in seen[2] and 'nonce="fresh"' in seen[-1]


def test_bearer_token_from_the_first_request(scripted: ThreadingHTTPServer) -> None:
    scripted.mode = "bearer"  # type: ignore[attr-defined]
    token = {"type": "credentials", "url": _url(scripted), "token": "tok-123"}
    found = connector("caldav").handle(job("fetch", token))
    assert found["totalItems"] == 1
    assert scripted.seen[0] == "Bearer tok-123"  # type: ignore[attr-defined]
    wrong = {**token, "token": "other"}
    failure(connector("caldav"), job("fetch", wrong), "auth-failed", "authentication-failed")


def test_no_scheme_we_speak_is_unsupported_authentication(scripted: ThreadingHTTPServer) -> None:
    scripted.mode = "none"  # type: ignore[attr-defined]
    failure(
        connector("caldav"),
        job("fetch", creds(_url(scripted))),
        "auth-failed",
        "unsupported-authentication",
    )


def test_digest_vector_of_rfc_7616() -> None:
    """RFC 7616 §3.9.1, MD5: the response the RFC prints."""
    params = parse_challenges(
        [
            'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
            'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        ]
    )[0][1]
    digest = Digest(params, "Mufasa", "Circle of Life")
    header = digest.header(
        "GET", "/dir/index.html", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    )
    assert 'response="8ca523f5e9506fed4657c9700eebdbec"' in header
    assert "qop=auth" in header and "nc=00000001" in header


def test_auth_int_only_and_userhash_are_not_taken() -> None:
    only_int = parse_challenges(['Digest realm="r", nonce="n", qop="auth-int"'])
    assert choose(only_int, "u", "p") is None
    hashed = parse_challenges(['Digest realm="r", nonce="n", userhash=true, Basic realm="r"'])
    assert str(choose(hashed, "u", "p")).startswith("Basic ")


def _public(server: ThreadingHTTPServer) -> dict[str, Any]:
    """``dav.test`` looks public to the guard; the dial sends it to the scripted server."""
    return {
        "resolver": StaticResolver({"dav.test": [PUBLIC], "lan.test": ["10.1.2.3"]}),
        "dial": RoutedDial({PUBLIC: ("127.0.0.1", server.server_address[1])}),
    }


GUARDED = Settings(allow_private_addresses=False, dav_allow_http=True)


def test_a_private_address_is_refused(scripted: ThreadingHTTPServer) -> None:
    cal = connector("caldav", GUARDED, **_public(scripted))
    failure(cal, job("fetch", creds(_url(scripted))), "blocked-address", "connection-failed")
    failure(cal, job("fetch", creds("http://lan.test/")), "blocked-address", "connection-failed")
    assert scripted.seen == []  # type: ignore[attr-defined]


def test_a_redirect_to_a_private_address_is_refused(scripted: ThreadingHTTPServer) -> None:
    scripted.mode = "bearer"  # type: ignore[attr-defined]
    cal = connector(
        "caldav", Settings(allow_private_addresses=False, dav_allow_http=True), **_public(scripted)
    )
    token = {"type": "credentials", "url": "http://dav.test/to-private/", "token": "tok-123"}
    # Same origin by name is not enough: the redirect names another origin, refused first;
    # a redirect that stays on the name but resolves privately is the guard's (test_guard).
    err = failure(cal, job("fetch", token), "refused", "unsafe-redirect")
    assert "127.0.0.1" in err.message


def test_a_redirect_that_now_resolves_privately_is_refused(scripted: ThreadingHTTPServer) -> None:
    """The same name on the redirect, but DNS answers a private address the second time
    (rebinding): the guard checks every hop's addresses, so the second request never goes."""
    scripted.mode = "bearer"  # type: ignore[attr-defined]
    answers = iter([[PUBLIC], ["10.1.2.3"]])
    table = StaticResolver({"dav.test": [PUBLIC]})

    def rebinding(host: str, port: int) -> Any:
        return (
            StaticResolver({"dav.test": next(answers)})(host, port)
            if host == "dav.test"
            else table(host, port)
        )

    twins = {**_public(scripted), "resolver": rebinding}
    cal = connector("caldav", GUARDED, **twins)
    token = {"type": "credentials", "url": "http://dav.test/to-self/", "token": "tok-123"}
    failure(cal, job("fetch", token), "blocked-address", "connection-failed")
    assert scripted.seen == []  # type: ignore[attr-defined]  (the 307 came before auth)


def test_http_needs_the_setting(scripted: ThreadingHTTPServer) -> None:
    cal = connector("caldav", Settings(allow_private_addresses=True))
    failure(cal, job("fetch", creds(_url(scripted))), "blocked-address", "https-required")
    assert scripted.seen == []  # type: ignore[attr-defined]


def test_a_target_on_another_server_is_refused(scripted: ThreadingHTTPServer) -> None:
    cal = connector("caldav")
    target = {"id": "http://127.0.0.2:1/cal/", "type": "calendar"}
    err = failure(
        cal,
        job("query", creds(_url(scripted)), target=target, object={}),
        "invalid-envelope",
        "invalid-calendar",
    )
    assert err.path == "target.id"


@pytest.mark.parametrize(
    "item",
    [
        "cal/../other/x.ics",
        "cal/%2e%2e/other/x.ics",
        "cal/%252e%252e/x.ics",
        "cal/a%2Fb.ics",
        "cal/x.ics?q=1",
        "other/x.ics",
        "cal/",
    ],
)
def test_an_item_outside_the_calendar_is_refused(scripted: ThreadingHTTPServer, item: str) -> None:
    base = _url(scripted)
    target = {"id": base + "cal/", "type": "calendar"}
    obj = {"id": base + item, "type": "event", "etag": '"e"'}
    err = failure(
        connector("caldav"),
        job("delete", creds(base), target=target, object=obj),
        "invalid-envelope",
        "invalid-resource",
    )
    assert err.path == "object.id"


class _BasicOnly(Handler):
    def _authorised(self) -> bool:
        said = self.headers.get("Authorization", "")
        self.server.seen.append(said)  # type: ignore[attr-defined]
        return said == "Basic YWxpY2U6YWxpY2UtcHc="  # alice:alice-pw


def test_a_basic_only_server_gets_basic_at_once_from_the_second_verb() -> None:
    """The first verb learns the server offers Basic only; later verbs of the connector
    skip the bare request (one round trip less each). Digest servers are never sent it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BasicOnly)
    server.seen = []  # type: ignore[attr-defined]
    server.mode = "basic"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cal = connector("caldav")
        cal.handle(job("fetch", creds(_url(server))))
        first = list(server.seen)  # type: ignore[attr-defined]
        assert first[0] == "" and first[1].startswith("Basic ")
        server.seen.clear()  # type: ignore[attr-defined]
        cal.handle(job("fetch", creds(_url(server))))
        assert all(s.startswith("Basic ") for s in server.seen)  # type: ignore[attr-defined]
        assert len(server.seen) == len(first) - 1  # type: ignore[attr-defined]
        # A wrong password is still auth-failed, after one fresh challenge.
        failure(
            cal,
            job("fetch", creds(_url(server), password="x")),
            "auth-failed",
            "authentication-failed",
        )
    finally:
        server.shutdown()
        server.server_close()
