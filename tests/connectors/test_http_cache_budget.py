"""The shared HTTP cache holds at most ``max_bytes`` (``SOCKETHUB_FETCH_CACHE_BYTES``) in
Redis, all entries together: storing past it evicts the entries stored longest ago.
Real Redis, a fetcher twin that answers with distinct, incompressible bodies."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Mapping
from typing import Any

from connectors.net.cache import CacheConfig, HttpCache, cache_keys
from connectors.net.http import Response

BODY = 20_000  # bytes, random: zlib cannot squeeze them


def answer(url: str):
    def go(headers: Mapping[str, str], timeout: float) -> Response:
        return Response(url, 200, http.client.HTTPMessage(), os.urandom(BODY))

    return go


def stored_bytes(r: Any) -> int:
    total = 0
    for key in r.scan_iter("sh:http:*:e"):
        total += len(r.hget(key, "body") or b"")
    return total


def test_the_cache_stays_within_its_byte_budget_evicting_the_oldest(redis_client: Any) -> None:
    r = redis_client
    cache = HttpCache(r, CacheConfig(max_bytes=200_000))
    urls = [f"https://feeds.example/{i}.xml" for i in range(30)]  # 600 kB in all
    for url in urls:
        cache.get(url, answer(url), deadline=time.time() + 10)
        assert stored_bytes(r) <= 200_000
    kept = [u for u in urls if r.exists(cache_keys(u, False).entry)]
    assert 5 <= len(kept) <= 10
    assert kept == urls[-len(kept) :]  # the newest stayed
    # An evicted URL is simply fetched again.
    again = cache.get(urls[0], answer(urls[0]), deadline=time.time() + 10)
    assert again.source == "fetched"
    assert stored_bytes(r) <= 200_000
