"""The one HTTP client every outbound request goes through (feeds, page metadata, DAV).

What it guarantees, whatever URL a browser sends:

* http and https only, on the first request and on every redirect;
* every address a host resolves to is checked by ``guard`` before connecting, on every
  hop, and the socket is connected to that checked address (not to the name again), so
  a second DNS answer cannot slip through; TLS still verifies the certificate against the
  host *name* and sends it as SNI;
* connect, read and total timeouts, the total one covering every step (connecting, the
  TLS handshake, status line, headers, body), however slowly a server drips its bytes;
  a body cap enforced while streaming, also on the decompressed size;
* every failure is an ``envelopes.errors`` error whose message names the URL.

GET by default; DAV names a ``method``, a ``body``, and ``any_status`` to read any answer.
Redirects keep method and body; writes follow 307/308 only (RFC 9110 §15.4).

Proxies from the environment are deliberately not honoured: a proxy would connect to
addresses we never checked. Name resolution itself is bounded only by the system
resolver's own timeouts; the job's deadline covers it.

Seams: ``resolver`` and ``dial``, with their twins in ``guard`` (``StaticResolver``,
``RoutedDial``): tests send a checked public address to a local server and so exercise
the real guard without patching.
"""

from __future__ import annotations

import functools
import http.client
import io
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from envelopes.errors import (
    BlockedAddress,
    Refused,
    SockethubError,
    TlsError,
    TooLarge,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    os_reason,
)

from .answer import REDIRECTS, Decoder, raise_for_status
from .guard import Address, Dial, Resolver, open_socket, resolve_checked, system_resolver

__all__ = ["USER_AGENT", "DEFAULT_MAX_BYTES", "Response", "fetch"]

USER_AGENT = "Sockethub-py/0.1 (+https://github.com/sockethub/sockethub)"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_CHUNK = 64 * 1024
# Set by the client itself: the body cap and decoding depend on them.
_RESERVED = frozenset({"host", "accept-encoding", "connection", "content-length"})
# Methods that change nothing (RFC 9110 §9.2.1, RFC 4918 §9.1, RFC 3253 §3.6).
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})
# Not carried to another origin on a redirect, as browsers and requests do.
_ORIGIN_BOUND = frozenset({"authorization", "cookie", "proxy-authorization"})
# A DNS name (after IDNA) or an IP literal; anything else is not worth a lookup.
_HOST = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]+(%[a-z0-9._-]+)?")
# Characters left as they are in a request path; the rest is percent-encoded (UTF-8).
_PATH_SAFE = "!#$%&'()*+,/:;=?@[]~"
# Loading the CAs takes ~15 ms: do it once.
_default_tls = functools.cache(ssl.create_default_context)


@dataclass(frozen=True)
class Response:
    url: str  # the final URL, after redirects
    status: int  # 2xx, or 304 for a conditional GET
    headers: http.client.HTTPMessage  # the stdlib's own: case-insensitive, get_all()
    body: bytes  # decompressed; empty for 304
    redirects: list[str] = field(default_factory=list)  # URLs that answered with a redirect

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass(frozen=True)
class _Options:
    allow_private: bool
    max_bytes: int
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    deadline: float
    context: ssl.SSLContext
    resolver: Resolver
    dial: Dial


@dataclass(frozen=True)
class _Request:
    method: str
    body: bytes | None
    any_status: bool  # read the body of every answer, not only of a 2xx


@dataclass(frozen=True)
class _Target:
    url: str
    where: str  # the URL as messages name it, with the URL it was redirected from
    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def fetch(
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    total_timeout: float = 20.0,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = 5,
    user_agent: str = USER_AGENT,
    ssl_context: ssl.SSLContext | None = None,
    resolver: Resolver = system_resolver,
    dial: Dial = open_socket,
    method: str = "GET",
    body: bytes | None = None,
    any_status: bool = False,
    same_origin: bool = False,
) -> Response:
    """GET ``url`` through the guard; a 2xx or 304 ``Response``, or an error naming it.
    With ``any_status``, the final answer of any status (body read, under the same cap).

    Errors: ``BlockedAddress`` (scheme, or an address the guard refuses, on any hop),
    ``UpstreamUnavailable`` (DNS, refused, reset), ``UpstreamTimeout``, ``TlsError``,
    ``TooLarge``, ``NotFound`` (404, 410), ``UpstreamError`` (429, 5xx; ``retry_after``
    in seconds or None), ``Refused`` (other 4xx, too many redirects).
    """
    opts = _Options(
        allow_private,
        max_bytes,
        connect_timeout,
        read_timeout,
        total_timeout,
        time.monotonic() + total_timeout,
        ssl_context or _default_tls(),
        resolver,
        dial,
    )
    sent = _request_headers(user_agent, headers)
    target = _target(url, url)
    redirects: list[str] = []
    request = _Request(method, body, any_status)
    while True:
        status, got, answer = _exchange(target, sent, opts, request)
        location = (got.get("location") or "").strip()
        if status not in REDIRECTS or not location:
            if not any_status:
                raise_for_status(status, got, target.where)
            return Response(target.url, status, got, answer, redirects)
        if len(redirects) >= max_redirects:
            raise Refused(f"cannot fetch {url}: more than {max_redirects} redirects")
        if method not in _SAFE and status not in (307, 308):
            raise Refused(f"cannot {method} {url}: a {status} redirect would drop the request")
        redirects.append(target.url)
        following = urljoin(target.url, location)
        nxt = _target(following, f"{following} (redirected from {url})")
        if nxt.origin != target.origin:
            if same_origin:
                raise Refused(f"cannot fetch {url}: redirected to another origin ({following})")
            sent = {k: v for k, v in sent.items() if k.lower() not in _ORIGIN_BOUND}
        target = nxt


def _request_headers(user_agent: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    out = {
        "User-Agent": user_agent,
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",  # one request per connection: every hop is dialled afresh
    }
    for name, value in (extra or {}).items():
        if name.lower() in _RESERVED:
            raise ValueError(f"header {name} is set by the HTTP client itself")
        out = {k: v for k, v in out.items() if k.lower() != name.lower()}
        out[name] = value
    return out


def _target(url: str, where: str) -> _Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise BlockedAddress(f"not a valid URL: {where}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs may be fetched: {where}")
    if not host:
        raise BlockedAddress(f"no host in URL: {where}")
    if not _HOST.fullmatch(host):
        raise BlockedAddress(f"not a valid host name in URL: {where}")
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    default_port = 443 if scheme == "https" else 80
    return _Target(url, where, scheme, host, port or default_port, path)


def _budget(limit: float, deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("total timeout")
    return min(limit, remaining)


def _connect_any(addresses: list[Address], opts: _Options) -> socket.socket:
    """The first checked address that answers; the last failure if none does. Each try
    gets the connect timeout, cut short by the total deadline."""
    failure: OSError = ConnectionError("no address to connect to")
    for family, sockaddr in addresses:
        try:
            return opts.dial(family, sockaddr, _budget(opts.connect_timeout, opts.deadline))
        except OSError as exc:  # e.g. no IPv6 route: the next address may well answer
            failure = exc
    raise failure


class _DeadlineReader(io.RawIOBase):
    """The socket as http.client reads it, every ``recv`` under the read timeout cut short
    by the total deadline: http.client applies a socket timeout per ``recv``, so a server
    dripping its status line and headers a byte at a time would otherwise never trip it.

    It reads through http.client's own ``SocketIO``, which keeps the socket open while
    the response needs it (http.client closes the connection early when it will close)."""

    def __init__(self, raw: Any, sock: socket.socket, opts: _Options) -> None:
        super().__init__()
        self._raw, self._sock, self._opts = raw, sock, opts

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_budget(self._opts.read_timeout, self._opts.deadline))
        return int(self._raw.readinto(buffer))

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, opts: _Options, **kw: Any) -> None:
        super().__init__(sock, **kw)
        raw = self.fp.detach()  # nothing is buffered yet: the status line comes next
        self.fp = io.BufferedReader(_DeadlineReader(raw, sock, opts), _CHUNK)


class _GuardedHTTP(http.client.HTTPConnection):
    """Connects to checked addresses only; ``live`` keeps the socket for read timeouts
    (http.client drops ``sock`` once a response will close the connection). Responses
    are read through ``_DeadlineReader``."""

    def __init__(self, target: _Target, addresses: list[Address], opts: _Options) -> None:
        super().__init__(target.host, target.port, timeout=opts.connect_timeout)
        self._addresses, self._opts = addresses, opts
        self.live: socket.socket | None = None
        self.response_class = functools.partial(_DeadlineResponse, opts=opts)  # type: ignore[assignment]

    def _open(self) -> socket.socket:
        return _connect_any(self._addresses, self._opts)

    def connect(self) -> None:
        self.sock = self.live = self._open()


class _GuardedHTTPS(_GuardedHTTP):
    default_port = http.client.HTTPS_PORT  # decides whether Host carries the port

    def __init__(self, target: _Target, addresses: list[Address], opts: _Options) -> None:
        super().__init__(target, addresses, opts)
        self._tls = opts.context

    def connect(self) -> None:
        raw = self._open()
        try:
            # The whole handshake runs under one timeout (CPython's ssl module counts it
            # down across the handshake's reads), cut short by the total deadline; the
            # name, not the address, is what the certificate must match and SNI carries.
            raw.settimeout(_budget(self._opts.connect_timeout, self._opts.deadline))
            self.sock = self.live = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


# What was wrong with an answer, in words rather than http.client's class names.
_HTTP_WORDS: dict[type[Exception], str] = {
    http.client.LineTooLong: "a line too long",
    http.client.BadStatusLine: "a bad status line",
    http.client.IncompleteRead: "the body ended early",
    http.client.UnknownProtocol: "an unknown HTTP version",
}


def _exchange(
    target: _Target, sent: Mapping[str, str], opts: _Options, request: _Request
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on one fresh connection: status, headers, body (2xx, or any status when
    the request says so; never for HEAD, 204, 304)."""
    try:
        addresses = resolve_checked(
            target.host, target.port, opts.allow_private, resolver=opts.resolver
        )
    except SockethubError as exc:
        raise type(exc)(f"cannot fetch {target.where}: {exc.message}") from None
    cls = _GuardedHTTPS if target.scheme == "https" else _GuardedHTTP
    conn = cls(target, addresses, opts)
    phase = f"connecting (limit {opts.connect_timeout:g} s)"
    response: http.client.HTTPResponse | None = None
    try:
        conn.connect()
        phase = f"waiting for an answer (limit {opts.read_timeout:g} s)"
        assert conn.live is not None
        conn.live.settimeout(_budget(opts.read_timeout, opts.deadline))
        conn.request(request.method, target.path, body=request.body, headers=dict(sent))
        response = conn.getresponse()
        got = response.msg
        body = b""
        wanted = request.any_status or 200 <= response.status < 300
        if wanted and request.method != "HEAD" and response.status not in (204, 304):
            phase = f"reading the body (limit {opts.read_timeout:g} s between reads)"
            body = _read_body(response, target.where, opts)
        return response.status, got, body
    except TimeoutError:
        if time.monotonic() >= opts.deadline:
            phase = f"(total limit {opts.total_timeout:g} s)"
        raise UpstreamTimeout(f"cannot fetch {target.where}: timed out {phase}") from None
    except ssl.SSLError as exc:  # certificate verification failures included
        # OpenSSL's words ("certificate has expired") help; the library's text does not.
        detail = getattr(exc, "verify_message", None) or exc.reason or "handshake failed"
        raise TlsError(f"cannot fetch {target.where}: TLS failed: {detail}") from None
    except http.client.RemoteDisconnected:  # an OSError without the OS's words
        raise UpstreamUnavailable(
            f"cannot fetch {target.where}: it closed the connection without an answer"
        ) from None
    except OSError as exc:  # refused, reset, unreachable
        raise UpstreamUnavailable(f"cannot fetch {target.where}: {os_reason(exc)}") from None
    except http.client.HTTPException as exc:
        what = _HTTP_WORDS.get(type(exc), "malformed")
        raise UpstreamError(
            f"cannot fetch {target.where}: not a valid HTTP response ({what})"
        ) from None
    finally:
        # The response holds the socket once the server said it will close: close both.
        if response is not None:
            response.close()
        conn.close()
        if conn.live is not None:
            conn.live.close()


def _read_body(response: http.client.HTTPResponse, where: str, opts: _Options) -> bytes:
    cap = opts.max_bytes
    too_large = f"cannot fetch {where}: the body is over the {cap}-byte cap"
    if response.length is not None and response.length > cap:
        raise TooLarge(f"{too_large} (Content-Length {response.length})")
    decoder = Decoder((response.getheader("content-encoding") or "").strip().lower(), where)
    out = bytearray()
    received = 0
    while True:
        # Every recv under it is bounded by the total deadline (``_DeadlineReader``).
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if received > cap:
            raise TooLarge(too_large)
        out += decoder.feed(chunk, cap - len(out))
        if len(out) > cap:
            raise TooLarge(f"{too_large} (decompressed)")
    if response.length:  # http.client counts down what Content-Length still owes us
        raise UpstreamUnavailable(
            f"cannot fetch {where}: the connection closed {response.length} bytes early"
        )
    return bytes(out)
