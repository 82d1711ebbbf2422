"""The HTTP cache every fetch of a feed or page goes through, shared in Redis.

Shared by all sessions and all workers, keyed by the URL asked for:

* **fresh window**: for ``fresh`` seconds after an upstream answer, the cached answer is
  served with no upstream request at all;
* **conditional GET**: after that, the stored ``ETag``/``Last-Modified`` go out as
  ``If-None-Match``/``If-Modified-Since`` (RFC 9110 §13.1); a ``304`` is answered from
  the stored body;
* **single flight**: one request per URL goes upstream at a time (a Redis lock,
  ``SET NX PX``); everyone else asking meanwhile waits for its outcome and shares it,
  success or error, so a hundred tabs asking for one feed cause one upstream request;
* failures are remembered briefly (``error_fresh``), so a dead URL is not hammered;
* per-host concurrency and ``Retry-After`` come from ``throttle.HostThrottle``;
* **a byte budget** (``max_bytes``, ``SOCKETHUB_FETCH_CACHE_BYTES``) for all entries
  together: every store books its size (one Lua script: a sorted set by time stored, a
  hash of sizes, a total) and evicts the entries stored longest ago while over. A URL in
  use is revalidated every ``fresh`` seconds, which stores it again, so this is close to
  least-recently-used without a write per read. Entries that expired on their own are
  taken off the books as stores come by.

Entries are kept per guard mode (private addresses allowed or not): a worker that may not
reach private addresses never answers from what a worker that may fetched.
``Cache-Control`` is not consulted: nothing we send carries credentials, and the fresh
window is seconds long. The body is stored zlib-compressed and inflated only when read.

``DirectFetch`` is the in-memory twin (no Redis, no sharing), for tests and tools.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from envelopes import keys as redis_keys
from envelopes.errors import (
    SockethubError,
    UpstreamError,
    UpstreamTimeout,
    from_dict,
    internal_error,
)

from .budget import CacheBooks
from .http import Response
from .throttle import HostThrottle

log = logging.getLogger("sockethub.fetch")

__all__ = ["CacheConfig", "Cached", "DirectFetch", "Fetcher", "HttpCache", "cache_keys"]

# headers to add (the conditional ones), total timeout in seconds → a 2xx or 304 Response
Fetcher = Callable[[Mapping[str, str], float], Response]

_DONE_TTL_MS = 60_000  # how long a flight's outcome waits for those sharing it


@dataclass(frozen=True)
class CacheConfig:
    fresh: float = 30.0  # seconds an answer is served without asking upstream
    ttl: float = 86400.0  # seconds an entry is kept for conditional GETs
    error_fresh: float = 10.0  # seconds a failure is answered from memory (<= fresh)
    host_limit: int = 4  # upstream requests in flight per host, all workers together
    default_backoff: float = 60.0  # a 429 without Retry-After
    max_backoff: float = 3600.0  # longest Retry-After honoured
    max_bytes: int = 268_435_456  # all entries together, as stored (compressed)


@dataclass(frozen=True)
class Cached:
    """An upstream answer, from the cache or fresh from upstream."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    content_type: str | None
    digest: str  # of the body: two answers with one digest have the same bytes
    etag: str | None
    last_modified: str | None
    fetched: float  # epoch seconds of the last upstream answer (200 or 304)
    source: str  # "cache" | "fetched" | "revalidated" (304) | "shared" (another's flight)
    packed: bytes = field(repr=False, default=b"")  # the body, zlib-compressed
    cache_control: str | None = None  # upstream's, kept for the poller of followed feeds

    @cached_property
    def body(self) -> bytes:
        return zlib.decompress(self.packed) if self.packed else b""


@dataclass(frozen=True)
class _Keys:
    base: str  # the prefix of them all, as the cache's books name the entry
    entry: str  # hash: the stored answer
    fresh: str  # string with a TTL: the answer may be served without asking upstream
    fail: str  # string with a TTL: the last flight's error, answered from memory
    lock: str  # string with a TTL: the token of the flight in progress

    def done(self, token: str) -> str:
        """String: a flight's outcome, ``ok`` or an error as JSON."""
        return f"{self.lock}:{token}"


def cache_keys(url: str, private: bool) -> _Keys:
    digest = hashlib.sha256(f"{'private' if private else 'public'}\n{url}".encode()).hexdigest()
    base = redis_keys.http_cache(digest[:40])
    return _Keys(base, f"{base}:e", f"{base}:f", f"{base}:x", f"{base}:l")


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _text(value: Any) -> str | None:
    if value is None or value == b"":
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _from_entry(url: str, raw: Mapping[bytes, bytes], source: str) -> Cached:
    return Cached(
        url=url,
        final_url=_text(raw.get(b"final")) or url,
        content_type=_text(raw.get(b"type")),
        digest=_text(raw.get(b"digest")) or "",
        etag=_text(raw.get(b"etag")),
        last_modified=_text(raw.get(b"lm")),
        fetched=float(raw.get(b"fetched") or 0),
        source=source,
        packed=raw.get(b"body") or b"",
        cache_control=_text(raw.get(b"cc")),
    )


def _decode_error(raw: bytes) -> SockethubError:
    return from_dict(json.loads(raw))


class HttpCache:
    """``get(url, fetcher, deadline=...)``: the answer for ``url``, fetching only when
    needed and only once at a time. Thread-safe; share one per process."""

    def __init__(self, redis: Any, config: CacheConfig | None = None) -> None:
        self._redis = redis
        self.config = config or CacheConfig()
        self.throttle = HostThrottle(
            redis, self.config.host_limit, max_backoff=self.config.max_backoff
        )
        self._release = redis.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('DEL', KEYS[1]) end return 0"
        )
        self.books = CacheBooks(redis, self.config.max_bytes, self.config.ttl)

    def get(self, url: str, fetcher: Fetcher, *, deadline: float, private: bool = False) -> Cached:
        """``deadline`` is epoch seconds; past it, ``upstream-timeout`` naming the URL.
        Errors from ``fetcher`` (``envelopes.errors``) are raised as they are, and shared
        with everyone waiting on the same flight."""
        keys = cache_keys(url, private)
        host = _host(url)
        while True:
            hit, _stale, fail = self._lookup(keys, url)
            if hit is not None:
                return hit
            if fail:
                raise _decode_error(fail)
            left = deadline - time.time()
            if left <= 0:
                raise UpstreamTimeout(f"cannot fetch {url}: no time left to fetch it")
            self.throttle.check(host, url)
            token = uuid.uuid4().hex
            if self._redis.set(keys.lock, token, nx=True, px=int(left * 1000) + 1000):
                return self._lead(keys, url, host, fetcher, token, deadline)
            shared = self._follow(keys, url, deadline)
            if shared is not None:
                return shared

    def forget(self, url: str) -> None:
        """Drop what is stored for ``url`` (both guard modes)."""
        for private in (False, True):
            k = cache_keys(url, private)
            self._redis.delete(k.entry, k.fresh, k.fail)
            self.books.book(k.base, 0)

    # -- reading ---------------------------------------------------------------------------
    def _lookup(
        self, keys: _Keys, url: str
    ) -> tuple[Cached | None, Mapping[bytes, bytes], bytes | None]:
        """(a fresh answer or None, the stored entry for revalidation, a failure still
        remembered as JSON or None)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(keys.fresh)
        pipe.get(keys.fail)
        pipe.hgetall(keys.entry)
        fresh, fail, entry = pipe.execute()
        if fresh and entry:
            return _from_entry(url, entry, "cache"), entry, None
        return None, entry, fail

    def _follow(self, keys: _Keys, url: str, deadline: float) -> Cached | None:
        """Wait for the flight in progress; its answer, its error raised, or None when it
        ended without a word (its worker died) and the caller should try again."""
        seen = self._redis.get(keys.lock)
        if seen is None:
            return None
        done_key = keys.done(seen.decode())
        delay = 0.005
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise UpstreamTimeout(
                    f"cannot fetch {url}: another request was still fetching it when the "
                    "time ran out"
                )
            time.sleep(min(left, delay))
            delay = min(delay * 1.5, 0.1)
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(done_key)
            pipe.get(keys.lock)
            done, lock = pipe.execute()
            if done == b"ok":
                entry = self._redis.hgetall(keys.entry)
                return _from_entry(url, entry, "shared") if entry else None
            if done:
                raise _decode_error(done)
            if lock != seen:
                return None

    # -- fetching --------------------------------------------------------------------------
    def _lead(
        self, keys: _Keys, url: str, host: str, fetcher: Fetcher, token: str, deadline: float
    ) -> Cached:
        # What those sharing this flight learn: "ok", an error as JSON, or nothing when we
        # never asked upstream (they then look again for themselves, with their own time).
        outcome: str | None = None
        try:
            # A flight may have ended between our lookup and our lock: no second request.
            hit, stale, fail = self._lookup(keys, url)
            if hit is not None:
                outcome = "ok"
                return hit
            if fail:
                outcome = fail.decode()
                raise _decode_error(fail)
            with self.throttle.hold(host, url, deadline):
                self.throttle.check(host, url)  # a 429 may have come while we queued
                timeout = deadline - time.time()
                if timeout <= 0:
                    raise UpstreamTimeout(f"cannot fetch {url}: no time left to fetch it")
                outcome = "asked"
                response = fetcher(self._conditional(stale), timeout)
            if response.status == 304 and not stale.get(b"body"):
                raise UpstreamError(
                    f"cannot fetch {url}: it answered 304 Not Modified to a request that "
                    "was not conditional"
                )
            cached = self._store(keys, url, response, stale if response.status == 304 else None)
            outcome = "ok"
            return cached
        except SockethubError as exc:
            if outcome == "asked":
                outcome = self._remember_failure(keys, host, exc)
            raise
        except Exception as exc:
            if outcome == "asked":
                # A bug, not an answer: those sharing the flight read a reference to the log.
                err = internal_error(log, f"fetching {url} raised", exc)
                outcome = self._remember_failure(keys, host, err)
            raise
        finally:
            # Those sharing this flight learn its outcome before the lock goes.
            if outcome is not None and outcome != "asked":
                self._redis.set(keys.done(token), outcome, px=_DONE_TTL_MS)
            self._release(keys=[keys.lock], args=[token])

    @staticmethod
    def _conditional(stale: Mapping[bytes, bytes]) -> dict[str, str]:
        headers: dict[str, str] = {}
        if not stale.get(b"body"):
            return headers
        etag, modified = _text(stale.get(b"etag")), _text(stale.get(b"lm"))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        return headers

    def _store(
        self,
        keys: _Keys,
        url: str,
        response: Response,
        stale: Mapping[bytes, bytes] | None,
    ) -> Cached:
        """Write a 200 (``stale`` None) or a 304 (``stale``: what it confirms)."""
        got = response.headers
        now = time.time()
        if stale is None:
            packed = zlib.compress(response.body, 6)
            fields = {
                "final": response.url,
                "type": got.get("content-type") or "",
                "digest": hashlib.sha256(response.body).hexdigest()[:32],
                "etag": got.get("etag") or "",
                "lm": got.get("last-modified") or "",
                "cc": got.get("cache-control") or "",
                "body": packed,
            }
            source = "fetched"
        else:
            # A 304 may carry updated validators (RFC 9110 §15.4.5); keep the rest.
            fields = {k.decode(): v for k, v in stale.items()}
            fields["etag"] = got.get("etag") or fields.get("etag") or ""
            fields["lm"] = got.get("last-modified") or fields.get("lm") or ""
            fields["cc"] = got.get("cache-control") or fields.get("cc") or ""
            source = "revalidated"
        fields["fetched"] = repr(now)
        cfg = self.config
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.entry, keys.fail)
        pipe.hset(keys.entry, mapping=fields)
        pipe.pexpire(keys.entry, int(cfg.ttl * 1000))
        if cfg.fresh > 0:
            pipe.set(keys.fresh, "1", px=int(cfg.fresh * 1000))
        pipe.execute()
        self.books.book(
            keys.base, sum(len(v) if isinstance(v, bytes) else len(str(v)) for v in fields.values())
        )
        raw = {
            k.encode(): (v if isinstance(v, bytes) else str(v).encode()) for k, v in fields.items()
        }
        return _from_entry(url, raw, source)

    def _remember_failure(self, keys: _Keys, host: str, exc: SockethubError) -> str:
        """Remember ``exc`` briefly (and a host's Retry-After); the error as JSON."""
        cfg = self.config
        status = getattr(exc, "status", None)
        retry = getattr(exc, "retry_after", None)
        if status == 429 and retry is None:
            retry = cfg.default_backoff
        if status in (429, 503) and retry:
            self.throttle.back_off(host, float(retry))
        as_json = json.dumps(exc.to_dict())
        remember = min(cfg.error_fresh, cfg.fresh)
        if remember > 0:
            self._redis.set(keys.fail, as_json, px=int(remember * 1000))
        return as_json


class DirectFetch:
    """In-memory twin of ``HttpCache``: every call goes upstream, nothing is shared."""

    def get(self, url: str, fetcher: Fetcher, *, deadline: float, private: bool = False) -> Cached:
        timeout = deadline - time.time()
        if timeout <= 0:
            raise UpstreamTimeout(f"cannot fetch {url}: no time left to fetch it")
        response = fetcher({}, timeout)
        return Cached(
            url=url,
            final_url=response.url,
            content_type=response.content_type,
            digest=hashlib.sha256(response.body).hexdigest()[:32],
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            fetched=time.time(),
            source="fetched",
            packed=zlib.compress(response.body, 1),
            cache_control=response.headers.get("cache-control"),
        )
