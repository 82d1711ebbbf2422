"""One verb's conversation with one DAV service, on the guarded HTTP client.

Every request goes through ``connectors.net.http.fetch`` (addresses checked on every hop,
body cap ``SOCKETHUB_DAV_MAX_BYTES``, ``SOCKETHUB_DAV_TIMEOUT`` per request, all within the
job's deadline), stays on the origin of the credentials' ``url`` (the credentials are for
that service only: a target or a redirect elsewhere is refused) and speaks ``https:``
unless ``SOCKETHUB_DAV_ALLOW_HTTP`` is set.

Authentication (``auth``): a token is sent as Bearer from the first request; with a
username and password the first request is bare and the server's 401 picks Digest or
Basic, kept for the rest of the verb. A second 401 is ``auth-failed``.

Status mapping (the class code, and the condition in ``details``, in Sockethub's words):
401 ``auth-failed``/``authentication-failed`` (``unsupported-authentication`` when the
server offers nothing we speak), 403 ``refused``/``forbidden``, 404 and 410
``not-found``/``not-found``, 412 ``refused``/``conflict`` (the verb adds the current ETag),
429 and 5xx ``upstream-error``, anything else ``refused``, both with ``<verb>-failed``.
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from envelopes.errors import (
    AuthenticationFailed,
    BlockedAddress,
    InvalidEnvelope,
    NotFound,
    Refused,
    SockethubError,
    TooLarge,
    UpstreamError,
    UpstreamTimeout,
    condition_detail,
)
from envelopes.settings import Settings

from ..net.guard import Dial, Resolver
from ..net.http import Response, fetch
from .auth import Digest, basic, choose, parse_challenges

__all__ = ["Account", "DavClient", "origin_of", "status_error"]

REPLY_MARGIN = 0.5  # seconds kept back from the job's deadline to send the reply
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Account:
    url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def from_credentials(cls, creds: Mapping[str, Any]) -> Account:
        return cls(
            url=str(creds["url"]),
            username=creds.get("username"),
            password=creds.get("password"),
            token=creds.get("token"),
        )


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def status_error(platform: str, verb: str, response: Response, what: str) -> SockethubError:
    """The tree's error for an answer the verb did not expect."""
    status = response.status
    said = f"{what}: the server answered {status} {http.client.responses.get(status, '')}"
    said = said.rstrip()

    def cond(name: str) -> list[dict[str, str]]:
        return [condition_detail(platform, name, status=str(status))]

    if status == 401:
        return AuthenticationFailed(
            f"{said}; check the username and password or token",
            details=cond("authentication-failed"),
        )
    if status == 403:
        return Refused(f"{said}: these credentials may not do that", details=cond("forbidden"))
    if status in (404, 410):
        return NotFound(said, details=cond("not-found"))
    if status == 412:
        return Refused(said, details=cond("conflict"))
    if status == 429 or status >= 500:
        return UpstreamError(said, details=cond(f"{verb}-failed"))
    return Refused(said, details=cond(f"{verb}-failed"))


def _with_condition(exc: SockethubError, platform: str) -> SockethubError:
    """A guarded-client error, with the condition Sockethub names it by."""
    if exc.details:
        return exc
    if isinstance(exc, BlockedAddress):
        name = "https-required" if "only https" in exc.message else "connection-failed"
    elif isinstance(exc, TooLarge | UpstreamError):
        name = "invalid-response"
    elif isinstance(exc, Refused):
        name = "unsafe-redirect" if "redirect" in exc.message else "invalid-response"
    else:  # unreachable, timed out, TLS
        name = "connection-failed"
    exc.details = [condition_detail(platform, name)]
    return exc


class DavClient:
    """Requests for one verb of one account. Tests may pass ``resolver``, ``dial`` and
    ``ssl_context`` (the twins in ``connectors.net.guard``)."""

    def __init__(
        self,
        platform: str,
        account: Account,
        settings: Settings,
        deadline: float,
        *,
        resolver: Resolver,
        dial: Dial,
        ssl_context: ssl.SSLContext | None = None,
        basic_only: set[tuple[Any, ...]] | None = None,
    ) -> None:
        self.platform, self.account, self.settings = platform, account, settings
        self._deadline = deadline - REPLY_MARGIN
        self._net: dict[str, Any] = {"resolver": resolver, "dial": dial, "ssl_context": ssl_context}
        self._auth: Digest | str | None = f"Bearer {account.token}" if account.token else None
        self.origin = origin_of(account.url)
        self.check_url(account.url, "url", "invalid-url")
        # Servers that offered Basic only, shared by the connector's verbs: the next verb
        # sends it at once instead of asking bare first (one round trip less per verb).
        self._basic_only = basic_only if basic_only is not None else set()
        self._key = (*self.origin, account.username)
        self._preemptive = False
        if self._auth is None and self._key in self._basic_only:
            self._auth = basic(account.username or "", account.password or "")
            self._preemptive = True

    def check_url(self, url: str, field: str, condition: str) -> None:
        """``url`` may be spoken to: the scheme allowed, on the service's origin."""
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.settings.dav_allow_http):
            raise BlockedAddress(
                f"{url}: only https DAV servers may be used on this gateway "
                "(SOCKETHUB_DAV_ALLOW_HTTP allows http)",
                details=[condition_detail(self.platform, "https-required")],
            )
        if origin_of(url) != self.origin:
            raise InvalidEnvelope(
                f"{url} is not on the server the credentials are for ({self.account.url})",
                path=field,
                details=[condition_detail(self.platform, condition)],
            )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The answer of any status; a second 401 is left to the caller to map."""
        response = self._send(method, url, body, headers)
        if response.status == 401 and self.account.token is None:
            challenges = parse_challenges(response.headers.get_all("www-authenticate") or [])
            stale = isinstance(self._auth, Digest) and any(
                s == "digest" and p.get("stale", "").lower() == "true" for s, p in challenges
            )
            if self._auth is None or stale or self._preemptive:
                self._preemptive = False
                self._auth = choose(
                    challenges, self.account.username or "", self.account.password or ""
                )
                if isinstance(self._auth, str):
                    self._basic_only.add(self._key)
                else:
                    self._basic_only.discard(self._key)
                if self._auth is None:
                    raise AuthenticationFailed(
                        f"{url}: the server offers no authentication we speak (Basic, Digest)",
                        details=[condition_detail(self.platform, "unsupported-authentication")],
                    )
                response = self._send(method, url, body, headers)
        return response

    def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> Response:
        sent = dict(headers or {})
        if isinstance(self._auth, Digest):
            parts = urlsplit(url)
            uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            sent["Authorization"] = self._auth.header(method, uri)
        elif self._auth is not None:
            sent["Authorization"] = self._auth
        total = min(self.settings.dav_timeout, self._deadline - time.time())
        if total <= 0:
            raise UpstreamTimeout(
                f"cannot {method} {url}: no time left before the request's deadline",
                details=[condition_detail(self.platform, "connection-failed")],
            )
        try:
            return fetch(
                url,
                method=method,
                body=body,
                headers=sent,
                any_status=True,
                same_origin=True,
                allow_private=self.settings.allow_private_addresses,
                max_bytes=self.settings.dav_max_bytes,
                connect_timeout=min(CONNECT_TIMEOUT, total),
                read_timeout=total,
                total_timeout=total,
                **self._net,
            )
        except SockethubError as exc:
            raise _with_condition(exc, self.platform) from None
