"""Feeds and metadata through the whole system: WebSocket → gateway → Celery → worker →
local web server → reply.

The stack is real (Redis, ``sockethub worker feeds``/``metadata``, ``sockethub web``) and
so is the web server the workers fetch from (127.0.0.1, the fixtures under
``tests/connectors/fixtures``). The main stack allows private addresses (it must, to reach
127.0.0.1); a second one, as deployed by default, does not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.net.cache import cache_keys
from connectors.net.throttle import wait_key
from envelopes.context import context_for
from envelopes.settings import Settings

from ..connectors.fixtureserver import FixtureServer
from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

FETCH = {"SOCKETHUB_FETCH_TIMEOUT": "3", "SOCKETHUB_LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="module")
def fetch_stack() -> Iterator[Stack]:
    s = Stack(platforms=("feeds", "metadata"), env_overrides=dict(FETCH)).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def guarded_stack() -> Iterator[Stack]:
    env = {**FETCH, "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES": "false"}
    s = Stack(platforms=("feeds", "metadata"), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture
def client(fetch_stack: Stack) -> Iterator[Client]:
    c = Client(fetch_stack.ws_url)
    yield c
    c.close()


def feed(url: str, **obj: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"object": obj} if obj else {}
    return activity("feeds", "fetch", actor={"id": url, "type": "feed"}, **extra)


def page(url: str) -> dict[str, Any]:
    return activity("metadata", "fetch", actor={"id": url, "type": "website"})


def completed(client: Client, act: dict[str, Any]) -> dict[str, Any]:
    reply = client.request(act, timeout=40)
    assert reply["status"] == "completed", reply
    return reply["result"]


def failed(client: Client, act: dict[str, Any], code: str) -> dict[str, Any]:
    reply = client.request(act, timeout=40)
    assert reply["status"] == "failed", reply
    assert reply["error"]["code"] == code, reply["error"]
    url = act["actor"]["id"]
    assert url in reply["error"]["message"], reply["error"]
    assert reply["activity"]["error"] == reply["error"]["message"]
    return reply["error"]


def test_both_platforms_are_offered(client: Client) -> None:
    offered = {p["name"]: p for p in client.welcome["platforms"]}
    assert offered["feeds"]["verbs"] == [
        "fetch",
        "follow",
        "unfollow",
        "opml-import",
        "opml-export",
    ]
    assert offered["metadata"]["verbs"] == ["fetch"]
    assert offered["feeds"]["persistent"] is False


FORMATS = [
    ("rss20.xml", "Kettle & Copper: a Workshop Diary"),
    ("atom.xml", "Tide Tables & Other Stories"),
    ("rss10.rdf", None),
    ("rss091.xml", None),
    ("latin1.xml", "Le Café de la Gare"),
    ("malformed.xml", "Rough & Ready Radio"),
]


@pytest.mark.parametrize("name,title", FORMATS, ids=[f[0] for f in FORMATS])
def test_each_feed_format(client: Client, web: FixtureServer, name: str, title: str | None) -> None:
    url = web.url(f"/feeds/{name}")
    result = completed(client, feed(url))
    assert result["type"] == "collection" and result["@context"] == context_for("feeds")
    assert result["actor"]["id"] == url
    assert result["totalItems"] == len(result["items"]) > 0
    if title:
        assert result["summary"] == title
    for item in result["items"]:
        assert item["type"] == "post" and item["object"]["url"].startswith("http")


def test_since_and_limit(client: Client, web: FixtureServer) -> None:
    url = web.url("/feeds/atom.xml")
    everything = completed(client, feed(url))["items"]
    newest = everything[0]["object"]["published"]
    assert completed(client, feed(url, since=newest))["totalItems"] == 0
    before = completed(client, feed(url, since="2000-01-01T00:00:00+02:00"))
    assert before["totalItems"] == len([i for i in everything if "published" in i["object"]])
    one = completed(client, feed(url, limit=1))
    assert one["totalItems"] == 1 and one["items"][0] == everything[0]


def test_many_sessions_share_one_upstream_request(fetch_stack: Stack, web: FixtureServer) -> None:
    url = web.url("/feeds/v/shared/rss20.xml?delay=0.5")
    clients = [Client(fetch_stack.ws_url) for _ in range(12)]
    try:
        rids = [(c, c.send(feed(url))) for c in clients]
        replies = [c.reply(rid, timeout=40) for c, rid in rids]
    finally:
        for c in clients:
            c.close()
    assert all(r["status"] == "completed" for r in replies)
    assert len({str(r["result"]["items"]) for r in replies}) == 1
    assert web.hits["/feeds/v/shared/rss20.xml"] == 1


def test_a_stale_entry_is_revalidated_with_a_conditional_get(
    client: Client, fetch_stack: Stack, web: FixtureServer
) -> None:
    url = web.url("/feeds/v/conditional/rss10.rdf")
    first = completed(client, feed(url))
    fetch_stack.redis().delete(cache_keys(url, True).fresh)  # the fresh window is over
    second = completed(client, feed(url))
    assert web.statuses("/feeds/v/conditional/rss10.rdf") == [200, 304]
    assert second["items"] == first["items"]


def test_page_with_opengraph(client: Client, web: FixtureServer) -> None:
    result = completed(client, page(web.url("/pages/opengraph.html")))
    assert result["type"] == "fetch" and result["@context"] == context_for("metadata")
    assert result["actor"]["name"] == "Riverside Theatre"
    assert result["actor"]["id"].startswith("https://www.riverside-theatre.example/")
    assert result["object"]["type"] == "page"
    assert result["object"]["title"] == "The Tempest, by William Shakespeare"
    assert result["object"]["image"][0]["height"] == 630


def test_page_without_opengraph(client: Client, web: FixtureServer) -> None:
    url = web.url("/pages/plain.html")
    result = completed(client, page(url))
    assert result["actor"] == {"id": url, "type": "website"}
    assert result["object"]["title"] == "Parish Council Minutes, March 2025"
    assert result["object"]["openGraph"] == {}


ERRORS = [
    ("feeds", "/status/404", "not-found"),
    ("metadata", "/status/404?page", "not-found"),
    ("feeds", "/big", "too-large"),
    ("feeds", "/feeds/not-a-feed.html", "not-a-feed"),
    ("feeds", "/feeds/garbage.xml", "not-a-feed"),
    ("feeds", "/status/500", "upstream-error"),
]


@pytest.mark.parametrize("platform,path,code", ERRORS, ids=[f"{e[0]}{e[1]}" for e in ERRORS])
def test_error_codes(
    client: Client, web: FixtureServer, platform: str, path: str, code: str
) -> None:
    url = web.url(path)
    failed(client, feed(url) if platform == "feeds" else page(url), code)
    assert_usable(client, web)


def test_a_server_that_never_answers(client: Client, web: FixtureServer) -> None:
    error = failed(client, feed(web.url("/hang")), "upstream-timeout")
    assert "timed out" in error["message"]


def test_bad_tls(client: Client, tls_web: FixtureServer) -> None:
    error = failed(client, page(tls_web.url("/pages/plain.html")), "tls-error")
    assert "certificate" in error["message"]


def test_429_is_respected_without_asking_the_host_again(
    fetch_stack: Stack, client: Client, web: FixtureServer
) -> None:
    try:
        first = failed(client, page(web.url("/status/429?retry=90")), "upstream-error")
        assert "retry after 90 s" in first["message"]
        later = failed(client, feed(web.url("/feeds/v/after-429/atom.xml")), "upstream-error")
        assert "for another 90 s" in later["message"] or "for another 89 s" in later["message"]
        assert web.hits["/feeds/v/after-429/atom.xml"] == 0
    finally:
        fetch_stack.redis().delete(wait_key("127.0.0.1"))  # let the other tests fetch


def test_only_http_and_https_are_accepted(client: Client) -> None:
    for url in ("file:///etc/passwd", "ftp://files.example/feed.xml", "gopher://x.example/"):
        reply = client.request(feed(url))
        assert reply["status"] == "failed"
        assert reply["error"]["code"] == "invalid-envelope"
        assert reply["error"]["path"] == "actor.id"
        assert "http or https" in reply["error"]["message"]


@pytest.mark.parametrize(
    "platform,url",
    [
        ("feeds", "http://127.0.0.1:{port}/feeds/rss20.xml"),
        ("metadata", "http://127.0.0.1:{port}/pages/plain.html"),
        ("feeds", "http://169.254.169.254/latest/meta-data/"),
        ("metadata", "http://[::ffff:127.0.0.1]:{port}/pages/plain.html"),
        ("metadata", "http://localhost:{port}/pages/plain.html"),
    ],
)
def test_private_addresses_are_blocked_by_default(
    guarded_stack: Stack, web: FixtureServer, platform: str, url: str
) -> None:
    url = url.format(port=web.port)
    before = sum(web.hits.values())
    c = Client(guarded_stack.ws_url)
    try:
        error = failed(c, feed(url) if platform == "feeds" else page(url), "blocked-address")
    finally:
        c.close()
    assert "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES" in error["message"]
    assert sum(web.hits.values()) == before  # the worker never connected


def assert_usable(client: Client, web: FixtureServer) -> None:
    result = completed(client, feed(web.url("/feeds/rss091.xml")))
    assert result["totalItems"] > 0


def test_a_server_dripping_its_headers_gets_a_failed_reply_at_the_fetch_deadline(
    client: Client,
) -> None:
    # One header byte every 0.5 s: each recv is quick, the whole answer would take 35 min.
    from ..connectors.slowpeers import TrickleServer

    drip = TrickleServer(interval=0.5)
    try:
        url = f"http://127.0.0.1:{drip.port}/feed.xml"
        started = time.monotonic()
        error = failed(client, feed(url), "upstream-timeout")
        elapsed = time.monotonic() - started
        limit = float(FETCH["SOCKETHUB_FETCH_TIMEOUT"])
        assert limit - 0.5 <= elapsed <= limit + 3, elapsed  # not the verb's 30 s
        assert "total limit" in error["message"]
    finally:
        drip.stop()


def test_a_huge_feed_comes_back_bounded(client: Client, web: FixtureServer) -> None:
    reply = client.request(feed(web.url("/huge-feed")), timeout=40)
    assert reply["status"] == "completed", reply.get("error")
    result = reply["result"]
    assert result["totalItems"] == Settings().feed_items
    assert all(i["object"].get("truncated") for i in result["items"])
    assert len(json.dumps(reply)) < Settings().max_reply_bytes


def test_a_reply_over_the_cap_is_one_failed_reply_naming_it(web: FixtureServer) -> None:
    env = {**FETCH, "SOCKETHUB_MAX_REPLY_BYTES": "20000"}
    s = Stack(platforms=("feeds",), env_overrides=env).start()
    try:
        c = Client(s.ws_url)
        reply = c.request(feed(web.url("/huge-feed"), limit=10), timeout=40)
        assert reply["status"] == "failed", reply.get("result", {}).get("totalItems")
        error = reply["error"]
        assert error["code"] == "too-large"
        assert "20000" in error["message"] and "SOCKETHUB_MAX_REPLY_BYTES" in error["message"]
        # The session goes on: a small answer still comes back whole.
        assert c.request(feed(web.url("/feeds/rss20.xml")), timeout=40)["status"] == "completed"
        c.close()
    finally:
        s.stop()
