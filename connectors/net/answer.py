"""What an HTTP answer means: its status as an ``envelopes.errors`` error, its body's
Content-Encoding inflated in bounded steps. Used by ``http`` only."""

from __future__ import annotations

import http.client
import time
import zlib
from email.utils import parsedate_to_datetime
from typing import Any

from envelopes.errors import NotFound, Refused, UpstreamError

__all__ = ["REDIRECTS", "Decoder", "raise_for_status"]

REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Decoder:
    """Content-Encoding gzip/deflate, inflated in bounded steps (no zip bombs)."""

    def __init__(self, encoding: str, where: str) -> None:
        self._where = where
        self._inflate: Any = None
        self._kind = encoding
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise Refused(f"cannot fetch {where}: unsupported Content-Encoding {encoding}")

    def feed(self, data: bytes, room: int) -> bytes:
        """Up to ``room + 1`` bytes of output: one more than fits tells the caller."""
        if self._kind in ("", "identity"):
            return data
        try:
            if self._inflate is None:
                self._inflate = zlib.decompressobj(self._wbits(data))
            return bytes(self._inflate.decompress(data, room + 1))
        except zlib.error:
            raise UpstreamError(
                f"cannot fetch {self._where}: the {self._kind} body is corrupt"
            ) from None

    def _wbits(self, first: bytes) -> int:
        if self._kind in ("gzip", "x-gzip"):
            return 16 + zlib.MAX_WBITS
        # "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2); some servers send it raw.
        zlib_header = (
            len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        )
        return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, round(when.timestamp() - time.time()))


def raise_for_status(status: int, got: http.client.HTTPMessage, where: str) -> None:
    if 200 <= status < 300 or status == 304:
        return
    said = f"cannot fetch {where}: it answered {status} {http.client.responses.get(status, '')}"
    said = said.rstrip()
    if status in (404, 410):
        raise NotFound(said)
    if status == 429 or status >= 500:
        retry = _retry_after(got.get("retry-after"))
        err = UpstreamError(f"{said}; retry after {retry} s" if retry is not None else said)
        err.retry_after = retry  # type: ignore[attr-defined]
        err.status = status  # type: ignore[attr-defined]
        raise err
    if status in REDIRECTS:
        said += " without a Location"
    raise Refused(said)
