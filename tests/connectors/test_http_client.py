"""The guarded HTTP client against real local servers (127.0.0.1 only).

Names that must look public to the guard resolve through ``StaticResolver`` to public
addresses, and ``RoutedDial`` sends those addresses to the local server: the guard runs
exactly as in production and no packet leaves the machine.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from connectors.net.guard import RoutedDial, StaticResolver
from connectors.net.http import USER_AGENT, fetch
from envelopes.errors import (
    BlockedAddress,
    NotFound,
    Refused,
    TlsError,
    TooLarge,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.connectors.localhttp import CAP, NOISE, NOISE_TEXT, TLS, Server, SilentServer

PUBLIC_A, PUBLIC_B = "93.184.216.34", "93.184.216.35"  # what the guard sees; never dialled


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    srv = Server(context)
    yield srv
    srv.stop()


@pytest.fixture
def public(server: Server) -> dict[str, object]:
    """fetch() keywords under which public.test, a.test and b.test reach ``server``."""
    resolver = StaticResolver(
        {"public.test": [PUBLIC_A], "a.test": [PUBLIC_A], "b.test": [PUBLIC_B]}
    )
    dial = RoutedDial({ip: ("127.0.0.1", server.port) for ip in (PUBLIC_A, PUBLIC_B)})
    return {"resolver": resolver, "dial": dial}


def local(server: Server, path: str, **kw: object):
    return fetch(server.url(path), allow_private=True, **kw)  # type: ignore[arg-type]


def refused(exc_type: type[Exception], code: str, url: str, call) -> str:
    """Run ``call``, expect ``exc_type`` with ``code``; its message must name ``url``."""
    with pytest.raises(exc_type) as caught:
        call()
    assert caught.value.code == code  # type: ignore[attr-defined]
    message = caught.value.message  # type: ignore[attr-defined]
    assert url in message, message
    return message


# --- answers -------------------------------------------------------------------------


def test_fetches_a_page(server: Server) -> None:
    response = local(server, "/page")
    assert response.status == 200
    assert response.body == b"<h1>hello</h1>"
    assert response.url == server.url("/page")
    assert response.redirects == []
    assert response.headers["CONTENT-TYPE"] == "text/html; charset=utf-8"
    assert response.content_type == "text/html; charset=utf-8"


def test_sends_a_clear_user_agent_and_the_host_name(server: Server, public: dict) -> None:
    seen = json.loads(fetch("http://public.test/echo", **public).body)
    assert (
        seen["user-agent"]
        == USER_AGENT
        == ("Sockethub-py/0.1 (+https://github.com/sockethub/sockethub)")
    )
    assert seen["host"] == "public.test"
    assert public["dial"].dialled == [PUBLIC_A]


@pytest.mark.parametrize("path", ["/missing", "/gone"])
def test_404_and_410_are_not_found(server: Server, path: str) -> None:
    url = server.url(path)
    refused(NotFound, "not-found", url, lambda: local(server, path))


def test_500_is_an_upstream_error(server: Server) -> None:
    url = server.url("/boom")
    with pytest.raises(UpstreamError) as caught:
        local(server, "/boom")
    assert caught.value.code == "upstream-error"
    assert url in caught.value.message and "500" in caught.value.message
    assert caught.value.retry_after is None  # type: ignore[attr-defined]


def test_429_carries_retry_after(server: Server) -> None:
    message = refused(
        UpstreamError, "upstream-error", server.url("/busy"), lambda: local(server, "/busy")
    )
    assert "429" in message and "retry after 120 s" in message
    with pytest.raises(UpstreamError) as caught:
        local(server, "/busy")
    assert caught.value.retry_after == 120  # type: ignore[attr-defined]


def test_retry_after_as_an_http_date(server: Server) -> None:
    with pytest.raises(UpstreamError) as caught:
        local(server, "/busy-until")
    assert 55 <= caught.value.retry_after <= 61  # type: ignore[attr-defined]


def test_other_4xx_are_refused(server: Server) -> None:
    message = refused(
        Refused, "refused", server.url("/forbidden"), lambda: local(server, "/forbidden")
    )
    assert "403 Forbidden" in message


def test_304_is_returned_for_a_conditional_get(server: Server) -> None:
    first = local(server, "/etag")
    assert first.status == 200 and first.headers["etag"] == '"v1"'
    again = local(server, "/etag", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert again.body == b""


@pytest.mark.parametrize(
    ("path", "text"),
    [("/gzip", b"squeezed "), ("/deflate", b"deflated "), ("/deflate-raw", b"raw deflate ")],
)
def test_compressed_bodies_are_inflated(server: Server, path: str, text: bytes) -> None:
    assert local(server, path).body == text * 50


def test_chunked_body_under_the_cap(server: Server) -> None:
    assert local(server, "/small-chunked", max_bytes=CAP).body == b"z" * 500


# --- redirects -----------------------------------------------------------------------


def test_follows_a_redirect(server: Server) -> None:
    response = local(server, "/redirect")
    assert response.status == 200 and response.body == b"<h1>hello</h1>"
    assert response.url == server.url("/page")
    assert response.redirects == [server.url("/redirect")]


def test_five_redirects_are_followed_six_are_refused(server: Server) -> None:
    assert local(server, "/chain/5").body == b"end of chain"
    message = refused(Refused, "refused", server.url("/chain/6"), lambda: local(server, "/chain/6"))
    assert "more than 5 redirects" in message


def test_a_public_url_redirecting_to_loopback_is_refused(server: Server, public: dict) -> None:
    assert fetch("http://public.test/page", **public).body == b"<h1>hello</h1>"  # the seam works
    message = refused(
        BlockedAddress,
        "blocked-address",
        "http://public.test/to-private",
        lambda: fetch("http://public.test/to-private", **public),
    )
    assert f"http://127.0.0.1:{server.port}/page" in message
    assert "127.0.0.1 is a loopback address" in message
    assert "127.0.0.1" not in public["dial"].dialled  # refused before connecting


def test_the_same_redirect_is_followed_when_private_addresses_are_allowed(
    server: Server, public: dict
) -> None:
    response = fetch("http://public.test/to-private", allow_private=True, **public)
    assert response.url == f"http://127.0.0.1:{server.port}/page"
    assert response.redirects == ["http://public.test/to-private"]


def test_loopback_is_refused_without_the_setting(server: Server, public: dict) -> None:
    url = server.url("/page")
    refused(BlockedAddress, "blocked-address", url, lambda: fetch(url, **public))
    assert public["dial"].dialled == []


@pytest.mark.parametrize("path", ["/to-ftp", "/to-file"])
def test_redirects_to_other_schemes_are_refused(server: Server, path: str) -> None:
    message = refused(
        BlockedAddress, "blocked-address", server.url(path), lambda: local(server, path)
    )
    assert "only http and https URLs may be fetched" in message


def test_credentials_do_not_follow_a_redirect_to_another_origin(public: dict) -> None:
    auth = {"Authorization": "Bearer secret", "X-Trace": "kept"}
    same = json.loads(fetch("http://a.test/to-a", headers=auth, **public).body)
    assert same["authorization"] == "Bearer secret"
    other = json.loads(fetch("http://a.test/to-b", headers=auth, **public).body)
    assert "authorization" not in other and other["x-trace"] == "kept"
    assert other["host"] == "b.test"


# --- refusals before any request ------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://files.example/pub/feed.xml", "file:///etc/passwd", "gopher://x.example/"]
)
def test_only_http_and_https(url: str) -> None:
    message = refused(BlockedAddress, "blocked-address", url, lambda: fetch(url))
    assert message == f"only http and https URLs may be fetched: {url}"


@pytest.mark.parametrize(
    "url", ["http://exa mple.com/", "http://example.com:99999/", "http:///path", "https://a\x00b/"]
)
def test_malformed_urls_are_refused_before_any_lookup(url: str) -> None:
    def no_dns(host: str, port: int) -> list:
        raise AssertionError(f"looked up {host!r}")

    refused(BlockedAddress, "blocked-address", url, lambda: fetch(url, resolver=no_dns))


def test_client_owned_headers_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="Accept-Encoding"):
        fetch("http://public.test/", headers={"Accept-Encoding": "br"})


# --- size caps -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big", "/big-chunked", "/big-close"])
def test_bodies_over_the_cap_are_refused(server: Server, path: str) -> None:
    url = server.url(path)
    message = refused(TooLarge, "too-large", url, lambda: local(server, path, max_bytes=CAP))
    assert f"{CAP}-byte cap" in message


def test_content_length_over_the_cap_is_refused_before_reading(server: Server) -> None:
    message = refused(
        TooLarge, "too-large", server.url("/big"), lambda: local(server, "/big", max_bytes=CAP)
    )
    assert f"Content-Length {CAP + 1}" in message


def test_decompressed_size_is_capped_too_without_inflating_it_all(server: Server) -> None:
    tracemalloc.start()
    try:
        message = refused(
            TooLarge,
            "too-large",
            server.url("/bomb"),
            lambda: local(server, "/bomb", max_bytes=100_000),
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "decompressed" in message
    assert peak < 2_000_000  # the 10 MB never existed in memory


def test_the_wire_size_is_capped_as_well_as_the_inflated_size(server: Server) -> None:
    assert len(NOISE) > CAP > len(NOISE_TEXT)
    url = server.url("/noise")
    refused(TooLarge, "too-large", url, lambda: local(server, "/noise", max_bytes=CAP))
    assert local(server, "/noise", max_bytes=2 * CAP).body == NOISE_TEXT


# --- failures of the network ---------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    silent = SilentServer()
    yield silent.port
    silent.stop()


def test_a_server_that_never_answers_times_out(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/feed.xml"
    started = time.monotonic()
    message = refused(
        UpstreamTimeout,
        "upstream-timeout",
        url,
        lambda: fetch(url, allow_private=True, read_timeout=0.5, total_timeout=5),
    )
    assert time.monotonic() - started < 2
    assert "waiting for an answer" in message


def test_a_trickling_server_hits_the_total_timeout(server: Server) -> None:
    started = time.monotonic()
    message = refused(
        UpstreamTimeout,
        "upstream-timeout",
        server.url("/trickle"),
        lambda: local(server, "/trickle", read_timeout=1, total_timeout=0.6),
    )
    assert time.monotonic() - started < 2  # one byte every 0.1 s would take 10 s
    assert "total limit 0.6 s" in message


def test_connection_refused_is_upstream_unavailable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again when the block ends: nobody listens
    url = f"http://127.0.0.1:{port}/"
    refused(
        UpstreamUnavailable, "upstream-unavailable", url, lambda: fetch(url, allow_private=True)
    )


def test_a_name_that_does_not_resolve_is_upstream_unavailable() -> None:
    url = "http://nowhere.test/feed"
    message = refused(
        UpstreamUnavailable,
        "upstream-unavailable",
        url,
        lambda: fetch(url, resolver=StaticResolver({}), dial=RoutedDial({})),
    )
    assert "could not resolve nowhere.test" in message


def test_a_body_cut_short_is_upstream_unavailable(server: Server) -> None:
    message = refused(
        UpstreamUnavailable,
        "upstream-unavailable",
        server.url("/truncated"),
        lambda: local(server, "/truncated"),
    )
    assert "90 bytes early" in message


# --- TLS -----------------------------------------------------------------------------


def test_an_untrusted_certificate_is_a_tls_error(tls_server: Server) -> None:
    url = tls_server.url("/page", host="localhost")
    message = refused(TlsError, "tls-error", url, lambda: fetch(url, allow_private=True))
    assert "self-signed certificate" in message


def test_a_trusted_certificate_verifies_against_the_host_name(tls_server: Server) -> None:
    trust = ssl.create_default_context(cafile=str(TLS / "localhost.crt"))
    url = tls_server.url("/page", host="localhost")
    response = fetch(url, allow_private=True, ssl_context=trust)
    assert response.status == 200 and response.body == b"<h1>hello</h1>"


def test_a_certificate_for_another_name_is_a_tls_error(tls_server: Server) -> None:
    # wrong.test reaches the same server, whose certificate names localhost only: the
    # name is verified, not the address we connected to.
    trust = ssl.create_default_context(cafile=str(TLS / "localhost.crt"))
    url = f"https://wrong.test:{tls_server.port}/page"
    message = refused(
        TlsError,
        "tls-error",
        url,
        lambda: fetch(
            url,
            allow_private=True,
            ssl_context=trust,
            resolver=StaticResolver({"wrong.test": ["127.0.0.1"]}),
        ),
    )
    assert "Hostname mismatch" in message and "'wrong.test'" in message
