"""The total timeout covers the whole exchange, not only the body.

``http.client`` applies the socket timeout to each ``recv``, so a server dripping one byte
of its status line and headers every 0.5 s never trips a read timeout; the deadline must
hold anyway, for the headers (in the clear and over TLS) and for a TLS handshake dripped
the same way (that one CPython's ssl module already bounds as a whole: kept as a guard).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest

from connectors.net.http import fetch
from envelopes.errors import UpstreamTimeout
from tests.connectors.localhttp import TLS, Server
from tests.connectors.slowpeers import TrickleProxy, TrickleServer

TOTAL = 2.0
MARGIN = 1.5  # a loaded CI machine; the drip would take half an hour


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    srv = TrickleServer(interval=0.5)
    yield srv
    srv.stop()


@pytest.fixture
def tls_trickle() -> Iterator[TrickleProxy]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    upstream = Server(context)
    proxy = TrickleProxy(upstream.port, interval=0.05)
    yield proxy
    proxy.stop()
    upstream.stop()


def _times_out(url: str, **kw: object) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        fetch(url, allow_private=True, total_timeout=TOTAL, **kw)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert caught.value.code == "upstream-timeout"
    assert url in caught.value.message
    return caught.value.message, elapsed


def test_headers_dripped_one_byte_at_a_time_hit_the_total_timeout(
    trickle: TrickleServer,
) -> None:
    url = f"http://127.0.0.1:{trickle.port}/feed.xml"
    message, elapsed = _times_out(url, read_timeout=1.0)
    assert TOTAL - 0.2 <= elapsed <= TOTAL + MARGIN, elapsed
    assert f"total limit {TOTAL:g} s" in message


def test_a_tls_handshake_dripped_slowly_hits_the_total_timeout(
    tls_trickle: TrickleProxy,
) -> None:
    trust = ssl.create_default_context(cafile=str(TLS / "localhost.crt"))
    url = f"https://localhost:{tls_trickle.port}/page"
    # Each step of the handshake is well inside the connect timeout; their sum is not.
    message, elapsed = _times_out(url, connect_timeout=10.0, read_timeout=10.0, ssl_context=trust)
    assert TOTAL - 0.2 <= elapsed <= TOTAL + MARGIN, elapsed
    assert f"total limit {TOTAL:g} s" in message


def test_headers_dripped_over_tls_hit_the_total_timeout() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    drip = TrickleServer(interval=0.5, tls=context)
    try:
        trust = ssl.create_default_context(cafile=str(TLS / "localhost.crt"))
        url = f"https://localhost:{drip.port}/feed.xml"
        message, elapsed = _times_out(url, read_timeout=1.0, ssl_context=trust)
        assert TOTAL - 0.2 <= elapsed <= TOTAL + MARGIN, elapsed
        assert f"total limit {TOTAL:g} s" in message
    finally:
        drip.stop()
