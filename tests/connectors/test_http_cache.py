"""The shared HTTP cache against a real Redis and a real local web server.

Every fetch here is the real guarded client (private addresses allowed: the server is on
127.0.0.1, except where a test says otherwise); the server counts what it was asked, so
"one upstream request" is measured, not assumed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.net.cache import CacheConfig, Cached, DirectFetch, HttpCache, cache_keys
from connectors.net.http import Response, fetch
from connectors.net.throttle import HostThrottle, slots_key, wait_key
from envelopes.errors import (
    BlockedAddress,
    NotFound,
    SockethubError,
    UpstreamError,
    UpstreamTimeout,
)
from tests.connectors.fixtureserver import FIXTURES, FixtureServer

RSS = "/feeds/rss20.xml"


def upstream(url: str, *, allow_private: bool = True):
    def go(headers: Mapping[str, str], timeout: float) -> Response:
        return fetch(url, allow_private=allow_private, headers=headers, total_timeout=timeout)

    return go


def get(cache: HttpCache, url: str, within: float = 10, **kw: Any) -> Cached:
    return cache.get(url, upstream(url), deadline=time.time() + within, private=True, **kw)


def unique(web: FixtureServer, path: str, query: str = "") -> tuple[str, str]:
    """A URL no other test has used (so the cache is cold), and its path on the server."""
    unique.n += 1  # type: ignore[attr-defined]
    kind, name = path[1:].split("/", 1)
    p = f"/{kind}/v/{unique.n}/{name}"  # type: ignore[attr-defined]
    return web.url(p + (f"?{query}" if query else "")), p


unique.n = 0  # type: ignore[attr-defined]


def test_a_second_fetch_is_a_conditional_get_answered_304_with_the_same_body(
    redis_client: Any, web: FixtureServer
) -> None:
    cache = HttpCache(redis_client, CacheConfig(fresh=0))  # always ask upstream
    url, path = unique(web, RSS)
    first = get(cache, url)
    second = get(cache, url)
    assert web.statuses(path) == [200, 304]
    assert (first.source, second.source) == ("fetched", "revalidated")
    assert second.body == first.body == (FIXTURES / "feeds" / "rss20.xml").read_bytes()
    assert second.digest == first.digest
    assert second.content_type == "application/xml"
    assert first.etag and second.etag == first.etag and second.last_modified


def test_within_the_fresh_window_upstream_is_not_asked_at_all(
    redis_client: Any, web: FixtureServer
) -> None:
    cache = HttpCache(redis_client, CacheConfig(fresh=30))
    url, path = unique(web, RSS)
    sources = [get(cache, url).source for _ in range(5)]
    assert sources == ["fetched"] + ["cache"] * 4
    assert web.hits[path] == 1
    # The window is a TTL in Redis, so every worker sees the same one.
    assert 0 < redis_client.pttl(cache_keys(url, True).fresh) <= 30_000


def test_the_cache_is_shared_between_processes_through_redis(
    redis_client: Any, redis_url: str, web: FixtureServer
) -> None:
    import redis

    other = redis.Redis.from_url(redis_url)  # another client: another worker, in effect
    url, path = unique(web, RSS)
    get(HttpCache(redis_client), url)
    assert get(HttpCache(other), url).source == "cache"
    assert web.hits[path] == 1
    other.close()


@pytest.mark.parametrize("fresh", [30.0, 0.0], ids=["fresh-window", "no-fresh-window"])
def test_single_flight_many_threads_one_upstream_request(
    redis_client: Any, web: FixtureServer, fresh: float
) -> None:
    cache = HttpCache(redis_client, CacheConfig(fresh=fresh))
    url, path = unique(web, RSS, "delay=0.5")  # slow enough for all to overlap
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: get(cache, url), range(40)))
    assert web.hits[path] == 1
    assert {r.digest for r in results} == {results[0].digest}
    assert sorted({r.source for r in results}) == ["fetched", "shared"]


def test_single_flight_shares_errors_too_and_remembers_them_briefly(
    redis_client: Any, web: FixtureServer
) -> None:
    cache = HttpCache(redis_client, CacheConfig(fresh=30, error_fresh=0.5))
    url = web.url("/status/404?delay=0.4&n=single-flight")

    def attempt(_: int) -> str:
        try:
            get(cache, url)
        except SockethubError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert codes == ["not-found"] * 20
    assert web.hits["/status/404"] == 1
    with pytest.raises(NotFound, match="/status/404"):  # remembered: still no request
        get(cache, url)
    assert web.hits["/status/404"] == 1
    time.sleep(0.6)
    with pytest.raises(NotFound):
        get(cache, url)
    assert web.hits["/status/404"] == 2


def test_429_retry_after_is_respected_for_the_whole_host(
    redis_client: Any, web: FixtureServer
) -> None:
    cache = HttpCache(redis_client)
    with pytest.raises(UpstreamError) as first:
        get(cache, web.url("/status/429?retry=120"))
    assert first.value.code == "upstream-error"
    assert "retry after 120 s" in first.value.message and "/status/429" in first.value.message
    assert 118_000 < redis_client.pttl(wait_key("127.0.0.1")) <= 120_000

    url, path = unique(web, RSS)  # another URL on the same host
    with pytest.raises(UpstreamError) as later:
        get(cache, url)
    assert url in later.value.message and "another 120 s" in later.value.message
    assert web.hits[path] == 0 and web.hits["/status/429"] == 1

    redis_client.delete(wait_key("127.0.0.1"))  # time passes
    assert get(cache, url).source == "fetched"


def test_429_without_retry_after_backs_off_by_default_and_503_only_when_told(
    redis_client: Any, web: FixtureServer
) -> None:
    cache = HttpCache(redis_client, CacheConfig(default_backoff=42))
    with pytest.raises(UpstreamError):
        get(cache, web.url("/status/503"))
    assert redis_client.pttl(wait_key("127.0.0.1")) == -2  # no Retry-After: no wait
    with pytest.raises(UpstreamError):
        get(cache, web.url("/status/429"))
    assert 40_000 < redis_client.pttl(wait_key("127.0.0.1")) <= 42_000


def test_per_host_limit_holds_across_threads(redis_client: Any, web: FixtureServer) -> None:
    web.httpd.max_in_flight = 0
    cache = HttpCache(redis_client, CacheConfig(host_limit=2))
    urls = [unique(web, RSS, "delay=0.3")[0] for _ in range(6)]  # six different URLs
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda u: get(cache, u), urls))
    assert all(r.source == "fetched" for r in results)
    assert web.max_in_flight == 2
    assert time.monotonic() - started >= 0.85  # three rounds of two
    assert redis_client.zcard(slots_key("127.0.0.1")) == 0  # every slot given back


def test_a_full_host_times_out_naming_the_url_and_dead_holders_expire(
    redis_client: Any, web: FixtureServer
) -> None:
    throttle = HostThrottle(redis_client, 1)
    # A worker died holding the only slot: its lease still runs for a moment.
    assert throttle._acquire(keys=[slots_key("127.0.0.1")], args=["dead", 600, 1])
    cache = HttpCache(redis_client, CacheConfig(host_limit=1))
    url, _ = unique(web, RSS)
    with pytest.raises(UpstreamTimeout, match="already has 1 requests in flight"):
        get(cache, url, within=0.3)
    assert get(cache, url, within=5).source == "fetched"  # the lease ran out


def test_a_follower_takes_over_when_the_leader_dies(redis_client: Any, web: FixtureServer) -> None:
    cache = HttpCache(redis_client)
    url, path = unique(web, RSS)
    redis_client.set(cache_keys(url, True).lock, "dead-worker", px=400)  # no outcome, ever
    started = time.monotonic()
    assert get(cache, url).source == "fetched"
    assert 0.35 < time.monotonic() - started < 3
    assert web.hits[path] == 1


def test_a_follower_gives_up_at_its_deadline_naming_the_url(
    redis_client: Any, web: FixtureServer
) -> None:
    cache = HttpCache(redis_client)
    url, _ = unique(web, RSS)
    redis_client.set(cache_keys(url, True).lock, "slow-worker", px=10_000)
    with pytest.raises(UpstreamTimeout, match="another request was still fetching") as err:
        get(cache, url, within=0.3)
    assert url in err.value.message


def test_entries_are_kept_apart_by_guard_mode(redis_client: Any, web: FixtureServer) -> None:
    cache = HttpCache(redis_client)
    url, path = unique(web, RSS)
    assert get(cache, url).source == "fetched"  # a worker that may reach 127.0.0.1
    with pytest.raises(BlockedAddress, match="loopback"):  # one that may not
        cache.get(url, upstream(url, allow_private=False), deadline=time.time() + 5)
    assert web.hits[path] == 1


def test_forget_and_the_direct_twin(redis_client: Any, web: FixtureServer) -> None:
    cache = HttpCache(redis_client)
    url, path = unique(web, RSS)
    get(cache, url)
    cache.forget(url)
    assert get(cache, url).source == "fetched"
    direct = DirectFetch().get(url, upstream(url), deadline=time.time() + 5)
    assert direct.source == "fetched" and direct.body == get(cache, url).body
    assert web.hits[path] == 3


def test_unexpected_errors_in_the_fetcher_release_the_lock(redis_client: Any) -> None:
    cache = HttpCache(redis_client)
    url = "http://127.0.0.1:9/never-fetched"

    def broken(headers: Mapping[str, str], timeout: float) -> Response:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        cache.get(url, broken, deadline=time.time() + 5)
    assert redis_client.get(cache_keys(url, False).lock) is None
    # remembered for those sharing the flight: a reference to the log, not the bug's text
    with pytest.raises(SockethubError, match=r"internal error \(ref [0-9a-f]{8}\)") as err:
        cache.get(url, broken, deadline=time.time() + 5)
    assert "bug" not in str(err.value) and "RuntimeError" not in str(err.value.to_dict())


def test_waiting_threads_do_not_spin(redis_client: Any, web: FixtureServer) -> None:
    """Followers poll with backoff: a few dozen Redis calls each per second, not thousands."""
    cache = HttpCache(redis_client, CacheConfig(fresh=30))
    url, _ = unique(web, RSS, "delay=1.0")
    before = int(redis_client.info("stats")["total_commands_processed"])
    threads = [threading.Thread(target=get, args=(cache, url)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used = int(redis_client.info("stats")["total_commands_processed"]) - before
    assert used < 10 * 60
