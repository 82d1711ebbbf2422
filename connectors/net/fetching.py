"""What the feeds and metadata connectors share: one guarded, cached way to GET a URL.

``FetchConnector.get(url, job)`` goes through the shared Redis cache (``cache``) and, when
upstream must be asked, through the guarded client (``http.fetch``) with the worker's
``SOCKETHUB_ALLOW_PRIVATE_ADDRESSES``. ``parsed`` remembers, per process, what a parser
made of a body (keyed by URL and body digest), so a warm cache costs no re-parse.

The Redis client is built on first use from ``settings.redis_url`` (never at import);
without one, fetches go straight upstream (``DirectFetch``), for tests and tools.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from envelopes.registry import Platform
from envelopes.settings import Settings

from ..base import Connector, EventSink, Job
from .cache import CacheConfig, Cached, DirectFetch, Fetcher, HttpCache
from .guard import Dial, Resolver, open_socket, system_resolver
from .http import DEFAULT_MAX_BYTES, Response, fetch

__all__ = ["FetchConnector", "FetchOptions", "ParsedMemo", "REPLY_MARGIN"]

T = TypeVar("T")

REPLY_MARGIN = 0.5  # seconds kept back from the job's deadline to send the reply
CONNECT_TIMEOUT = 5.0  # seconds, each address tried
READ_TIMEOUT = 10.0  # seconds between two reads of the answer


class _Getter(Protocol):
    def get(
        self, url: str, fetcher: Fetcher, *, deadline: float, private: bool = False
    ) -> Cached: ...


@dataclass(frozen=True)
class FetchOptions:
    """Knobs of the fetch path. Each is read from ``Settings`` when it has the attribute
    (``SOCKETHUB_FETCH_*``), else its default here."""

    fresh: float = 30.0  # SOCKETHUB_FETCH_FRESH
    cache_ttl: float = 86400.0  # SOCKETHUB_FETCH_CACHE_TTL
    host_limit: int = 4  # SOCKETHUB_FETCH_HOST_LIMIT
    max_bytes: int = DEFAULT_MAX_BYTES  # SOCKETHUB_FETCH_MAX_BYTES
    timeout: float = 20.0  # SOCKETHUB_FETCH_TIMEOUT: one upstream request, redirects included
    cache_bytes: int = CacheConfig.max_bytes  # SOCKETHUB_FETCH_CACHE_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchOptions:
        default = cls()
        return cls(
            fresh=float(getattr(settings, "fetch_fresh", default.fresh)),
            cache_ttl=float(getattr(settings, "fetch_cache_ttl", default.cache_ttl)),
            host_limit=int(getattr(settings, "fetch_host_limit", default.host_limit)),
            max_bytes=int(getattr(settings, "fetch_max_bytes", default.max_bytes)),
            timeout=float(getattr(settings, "fetch_timeout", default.timeout)),
            cache_bytes=int(getattr(settings, "fetch_cache_bytes", default.cache_bytes)),
        )

    def cache_config(self) -> CacheConfig:
        return CacheConfig(
            fresh=self.fresh,
            ttl=self.cache_ttl,
            host_limit=self.host_limit,
            max_bytes=self.cache_bytes,
        )


class ParsedMemo:
    """A small thread-safe LRU: (kind, URL, final URL, body digest) → what parsing gave,
    value or error. Bodies with one digest are the same bytes, so the answer is the same."""

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, ...], tuple[bool, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kind: str, cached: Cached, parse: Callable[[Cached], T]) -> T:
        key = (kind, cached.url, cached.final_url, cached.digest)
        found: tuple[bool, Any] | None
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
        if found is None:
            try:
                found = (True, parse(cached))
            except Exception as exc:  # remembered too: a bad body stays bad
                found = (False, exc)
            with self._lock:
                self._items[key] = found
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        ok, value = found
        if not ok:
            assert isinstance(value, Exception)
            raise value
        return cast(T, value)


class FetchConnector(Connector):
    """Base of connectors that fetch URLs browsers name. Tests may replace ``resolver``,
    ``dial`` and ``ssl_context`` (twins in ``guard``) and ``cache``."""

    resolver: Resolver = staticmethod(system_resolver)  # type: ignore[assignment]
    dial: Dial = staticmethod(open_socket)  # type: ignore[assignment]
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, platform: Platform, settings: Settings, events: EventSink | None = None):
        if events is None:
            super().__init__(platform, settings)
        else:
            super().__init__(platform, settings, events)
        self.options = FetchOptions.from_settings(settings)
        self.memo = ParsedMemo()
        self._cache: _Getter | None = None
        self._pool: Any = None
        self.redis: Any = None  # the cache's client, once built (None without Redis)
        self._lock = threading.Lock()

    @property
    def cache(self) -> _Getter:
        with self._lock:
            if self._cache is None:
                self._cache = self._make_cache()
            return self._cache

    @cache.setter
    def cache(self, value: _Getter) -> None:
        with self._lock:
            self._cache = value

    def _make_cache(self) -> _Getter:
        if not self.settings.redis_url:
            return DirectFetch()
        # The worker has redis-py; importing here keeps the module light. Timeouts as every
        # other client of ours has them (SOCKETHUB_REDIS_TIMEOUT): a paused Redis must not
        # hold a fetch thread for ever.
        from envelopes.redisclient import redis_client

        client = redis_client(
            self.settings.redis_url, timeout=self.settings.redis_timeout, max_connections=32
        )
        self._pool = client.connection_pool
        self.redis = client
        return HttpCache(client, self.options.cache_config())

    def get(self, url: str, job: Job) -> Cached:
        """``url``'s answer, from the cache or upstream; an ``envelopes.errors`` error that
        names the URL otherwise."""

        def upstream(headers: Mapping[str, str], timeout: float) -> Response:
            total = min(self.options.timeout, timeout)
            return fetch(
                url,
                allow_private=self.settings.allow_private_addresses,
                max_bytes=self.options.max_bytes,
                connect_timeout=min(CONNECT_TIMEOUT, total),
                read_timeout=min(READ_TIMEOUT, total),
                total_timeout=total,
                headers=headers,
                ssl_context=self.ssl_context,
                resolver=self.resolver,
                dial=self.dial,
            )

        return self.cache.get(
            url,
            upstream,
            deadline=job.deadline - REPLY_MARGIN,
            private=self.settings.allow_private_addresses,
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.disconnect()
