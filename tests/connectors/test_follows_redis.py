"""The follow state against real Redis: caps, leases (one poller per feed), sessions that
end, and a poll through the poller with twins for upstream."""

from __future__ import annotations

import time
import zlib
from typing import Any

import pytest

from connectors.feeds.follows import Follows, feed_id
from connectors.feeds.parse import parse_feed
from connectors.feeds.poller import Poller
from connectors.net.cache import Cached
from envelopes import keys
from envelopes.errors import TooLarge
from envelopes.settings import Settings

URL = "https://e.org/feed"
SETTINGS = Settings(
    follow_max_per_session=2,
    follow_max_feeds=3,
    follow_min_interval=60,
    follow_max_interval=600,
    fetch_timeout=5,
)


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(f"<item><title>{t}</title><guid>{g}</guid></item>" for g, t in items)
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>'
        f"<link>https://e.org/</link>{body}</channel></rss>"
    ).encode()


def cached(body: bytes, source: str = "fetched") -> Cached:
    import hashlib

    return Cached(
        url=URL,
        final_url=URL,
        content_type="application/rss+xml",
        digest=hashlib.sha256(body).hexdigest()[:32],
        etag=None,
        last_modified=None,
        fetched=time.time(),
        source=source,
        packed=zlib.compress(body),
    )


def session(r: Any, sid: str) -> None:
    r.hset(keys.session(sid), "tok", "x")


def test_caps_name_the_setting(redis_client: Any) -> None:
    f = Follows(redis_client, SETTINGS, "me")
    assert f.follow("s1", URL, due=0) == 1
    assert f.follow("s1", URL, due=0) == 2
    assert f.follow("s2", URL, due=0) == 0
    assert f.follow("s1", URL + "2", due=0) == 1
    with pytest.raises(TooLarge, match="SOCKETHUB_FOLLOW_MAX_PER_SESSION"):
        f.follow("s1", URL + "3", due=0)
    f.follow("s2", URL + "3", due=0)
    with pytest.raises(TooLarge, match="SOCKETHUB_FOLLOW_MAX_FEEDS"):
        f.follow("s3", URL + "4", due=0)
    assert f.urls("s1") == [URL, URL + "2"]


def test_one_claimer_per_feed_until_its_lease_ends(redis_client: Any) -> None:
    a, b = Follows(redis_client, SETTINGS, "a"), Follows(redis_client, SETTINGS, "b")
    a.follow("s1", URL, due=0)
    now = time.time()
    assert a.claim(now, 10) == [feed_id(URL)]
    assert b.claim(now, 10) == []  # held, and no longer due
    assert b.finish(feed_id(URL), now, {}, {}) == -1  # not b's to finish
    assert a.finish(feed_id(URL), now + 100, {"interval": 100}, {"polls": 1}) == 1
    assert redis_client.zscore(keys.follow_due(), feed_id(URL)) == pytest.approx(now + 100)
    # A claimer that died: once its lease lapses, the feed is due for another.
    a.claim(now + 100, 1)
    redis_client.delete(keys.lease("feeds", feed_id(URL)))
    assert b.claim(now + 100 + a.lease_ms / 1000, 1) == [feed_id(URL)]


def test_unfollow_of_the_last_follower_drops_the_feed(redis_client: Any) -> None:
    f = Follows(redis_client, SETTINGS, "me")
    f.follow("s1", URL, due=0)
    f.follow("s2", URL, due=0)
    assert f.unfollow("s1", URL) and not f.unfollow("s1", URL)
    assert redis_client.exists(keys.follow_feed(feed_id(URL)))
    f.unfollow("s2", URL)
    assert not redis_client.exists(keys.follow_feed(feed_id(URL)))
    assert redis_client.zcard(keys.follow_due()) == 0


def test_a_poll_delivers_new_items_once_and_prunes_ended_sessions(redis_client: Any) -> None:
    f = Follows(redis_client, SETTINGS, "me")
    session(redis_client, "alive")
    f.follow("alive", URL, due=0)
    f.follow("ended", URL, due=0)  # its session hash is gone
    bodies = [rss(("g1", "One")), rss(("g2", "Two"), ("g1", "One"))]
    sent: list[tuple[list[str], str]] = []

    def fetch(url: str, deadline: float) -> Cached:
        return cached(bodies[0])

    def parse(c: Cached) -> dict[str, Any]:
        parses.append(1)
        return parse_feed(c.body, c.url, c.content_type)

    parses: list[int] = []
    poller = Poller(
        f,
        SETTINGS,
        fetch,
        parse,
        lambda sids, act: sent.append((sids, act["object"]["title"])) or [1] * len(sids),
    )
    fid = feed_id(URL)
    for body in (bodies[0], bodies[0], bodies[1], bodies[1]):
        bodies[0] = body
        assert f.claim(time.time() + 10_000, 1) == [fid]
        poller.poll(fid)
    assert sent == [(["alive"], "Two")]  # the first poll took "One" as seen
    assert len(parses) == 2  # an unchanged body is not parsed again
    assert f.urls("ended") == []
    state = f.state(fid)
    assert state["polls"] == "4" and state["parses"] == "2"
    assert 60 <= float(state["interval"]) <= 600


def test_a_feed_whose_followers_all_ended_is_dropped_at_its_poll(redis_client: Any) -> None:
    f = Follows(redis_client, SETTINGS, "me")
    f.follow("gone", URL, due=0)
    fetched: list[str] = []
    poller = Poller(
        f, SETTINGS, lambda u, d: fetched.append(u) or cached(rss()), parse_feed, lambda s, a: []
    )
    assert f.claim(time.time(), 1) == [feed_id(URL)]
    poller.poll(feed_id(URL))
    assert fetched == []  # nobody to poll it for
    assert redis_client.zcard(keys.follow_due()) == 0
    assert not redis_client.exists(keys.follow_feed(feed_id(URL)))
    assert not redis_client.exists(keys.lease("feeds", feed_id(URL)))
    assert f.urls("gone") == []


def test_followers_hear_once_of_a_feed_that_keeps_failing(redis_client: Any) -> None:
    from envelopes.errors import NotFound

    f = Follows(redis_client, SETTINGS, "me")
    session(redis_client, "alive")
    f.follow("alive", URL, due=0)
    sent: list[dict[str, Any]] = []

    def fetch(url: str, deadline: float) -> Cached:
        raise NotFound(f"{url} answered 404 Not Found")

    poller = Poller(f, SETTINGS, fetch, parse_feed, lambda s, a: sent.append(a) or [1])
    intervals = []
    for _ in range(5):
        f.claim(time.time() + 10_000_000, 1)
        poller.poll(feed_id(URL))
        intervals.append(float(f.state(feed_id(URL))["interval"]))
    assert [e["object"]["condition"] for e in sent] == ["feed-failing"]
    assert sent[0]["object"]["code"] == "not-found" and URL in sent[0]["error"]
    assert intervals == sorted(intervals) and intervals[-1] == 600  # backing off, bounded


def test_the_shared_cache_keeps_cache_control_for_the_schedule(redis_client: Any) -> None:
    from connectors.feeds.schedule import max_age
    from connectors.net.cache import CacheConfig, HttpCache
    from connectors.net.http import fetch
    from tests.servers.feedserver import FeedServer

    server = FeedServer()
    try:
        server.feed("cc", cache_control="public, max-age=900")
        server.add("cc", "g", "t")
        url = server.url("cc")
        cache = HttpCache(redis_client, CacheConfig(fresh=0))

        def go(headers: Any, timeout: float) -> Any:
            return fetch(url, allow_private=True, headers=headers, total_timeout=timeout)

        first = cache.get(url, go, deadline=time.time() + 10, private=True)
        second = cache.get(url, go, deadline=time.time() + 10, private=True)
        assert (first.source, second.source) == ("fetched", "revalidated")
        assert max_age(first.cache_control) == max_age(second.cache_control) == 900
    finally:
        server.stop()
