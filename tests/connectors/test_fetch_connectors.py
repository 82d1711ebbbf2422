"""The feeds and metadata connectors: a Job in, Sockethub's result (or error) out.

Real Redis (the shared cache), a real local web server serving the fixtures, the real
guarded client. Names that must look public resolve through ``StaticResolver``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.base import Job
from connectors.feeds import FeedsConnector
from connectors.metadata import MetadataConnector
from connectors.net.cache import CacheConfig, DirectFetch, HttpCache
from connectors.net.guard import RoutedDial, StaticResolver
from envelopes.context import context_for
from envelopes.errors import SockethubError
from envelopes.registry import Platform, default_registry
from envelopes.settings import Settings
from tests.connectors.fixtureserver import FixtureServer


def platform(name: str) -> Platform:
    found = default_registry().get(name)
    assert found is not None
    return found


FEEDS, METADATA = platform("feeds"), platform("metadata")


def settings(redis_url: str, private: bool = True) -> Settings:
    return Settings(redis_url=redis_url, allow_private_addresses=private)


@pytest.fixture
def feeds(redis_client: Any, redis_url: str) -> FeedsConnector:
    return FeedsConnector(FEEDS, settings(redis_url))


@pytest.fixture
def metadata(redis_client: Any, redis_url: str) -> MetadataConnector:
    return MetadataConnector(METADATA, settings(redis_url))


def feed_job(url: str, within: float = 10, **obj: Any) -> Job:
    act: dict[str, Any] = {
        "@context": context_for("feeds"),
        "type": "fetch",
        "id": "req-1",
        "actor": {"id": url, "type": "feed"},
    }
    if obj:
        act["object"] = obj
    return Job(verb="fetch", activity=act, deadline=time.time() + within)


def page_job(url: str, within: float = 10) -> Job:
    act = {
        "@context": context_for("metadata"),
        "type": "fetch",
        "actor": {"id": url, "type": "website"},
    }
    return Job(verb="fetch", activity=act, deadline=time.time() + within)


def failure(conn: Any, job: Job) -> SockethubError:
    with pytest.raises(SockethubError) as err:
        conn.handle(job)
    assert job.activity["actor"]["id"] in err.value.message  # every message names the URL
    return err.value


FORMATS = [
    ("rss20.xml", "Kettle & Copper: a Workshop Diary", 4),
    ("atom.xml", "Tide Tables & Other Stories", None),
    ("rss10.rdf", None, None),
    ("rss091.xml", None, None),
    ("latin1.xml", "Le Café de la Gare", None),
]


@pytest.mark.parametrize("name,title,count", FORMATS, ids=[f[0] for f in FORMATS])
def test_each_feed_format_comes_back_as_a_collection(
    feeds: FeedsConnector, web: FixtureServer, name: str, title: str | None, count: int | None
) -> None:
    url = web.url(f"/feeds/{name}")
    out = feeds.handle(feed_job(url))
    assert out["type"] == "collection"
    assert out["@context"] == context_for("feeds") and out["id"] == "req-1"
    assert out["actor"]["id"] == url and out["actor"]["type"] == "feed"
    assert out["totalItems"] == len(out["items"]) > 0
    if title:
        assert out["summary"] == title
    if count:
        assert out["totalItems"] == count
    for item in out["items"]:
        assert item["type"] == "post" and item["object"]["title"] and item["object"]["url"]
        assert item["object"]["url"].startswith(("http://", "https://"))
        assert "<script" not in item["object"]["content"]


def test_since_and_limit_narrow_the_shared_answer(
    feeds: FeedsConnector, web: FixtureServer
) -> None:
    url = web.url("/feeds/v/since/rss20.xml")
    everything = feeds.handle(feed_job(url))
    dated = [i["object"]["published"] for i in everything["items"] if "published" in i["object"]]
    assert dated == sorted(dated, reverse=True) and len(dated) >= 3
    cutoff = dated[1]  # keep only the newest item: strictly after the second's date
    newer = feeds.handle(feed_job(url, since=cutoff))
    assert [i["object"]["published"] for i in newer["items"]] == [dated[0]]
    two = feeds.handle(feed_job(url, limit=2, type="parameters"))
    assert two["totalItems"] == 2 and two["items"] == everything["items"][:2]
    assert everything["totalItems"] == 4  # narrowing a copy did not narrow the cache
    assert web.hits["/feeds/v/since/rss20.xml"] == 1


def test_conditional_get_gives_the_same_items(
    feeds: FeedsConnector, web: FixtureServer, redis_client: Any
) -> None:
    feeds.cache = HttpCache(redis_client, CacheConfig(fresh=0))
    url = web.url("/feeds/v/conditional/atom.xml")
    first = feeds.handle(feed_job(url))
    second = feeds.handle(feed_job(url))
    assert web.statuses("/feeds/v/conditional/atom.xml") == [200, 304]
    assert second["items"] == first["items"] and second["summary"] == first["summary"]


def test_parsed_feeds_are_remembered_by_digest(
    feeds: FeedsConnector, web: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.feeds as module

    calls = []
    real = module.parse_feed
    monkeypatch.setattr(module, "parse_feed", lambda *a, **k: calls.append(1) or real(*a, **k))
    url = web.url("/feeds/rss10.rdf?for=memo")
    for _ in range(3):
        feeds.handle(feed_job(url))
    assert len(calls) == 1


def test_page_with_opengraph(metadata: MetadataConnector, web: FixtureServer) -> None:
    url = web.url("/pages/opengraph.html")
    out = metadata.handle(page_job(url))
    assert out["type"] == "fetch" and out["@context"] == context_for("metadata")
    # The fixture's <base> and og:url point at the theatre's own site.
    assert out["actor"] == {
        "id": "https://www.riverside-theatre.example/whats-on/the-tempest?utm_source=og",
        "type": "website",
        "name": "Riverside Theatre",
    }
    page = out["object"]
    assert page["type"] == "page" and page["title"] == "The Tempest, by William Shakespeare"
    assert page["language"] == "en-GB"
    assert page["image"][0]["width"] == 1200 and page["image"][0]["type"] == "image/jpeg"
    assert page["openGraph"]["site_name"] == "Riverside Theatre"
    assert page["twitter"]["card"] == "summary_large_image"


def test_page_without_opengraph(metadata: MetadataConnector, web: FixtureServer) -> None:
    url = web.url("/pages/plain.html")
    out = metadata.handle(page_job(url))
    assert out["actor"] == {"id": url, "type": "website"}  # no og:url, no site name
    page = out["object"]
    assert page["title"] == "Parish Council Minutes, March 2025"
    assert page["description"].startswith("Minutes of the monthly meeting")
    assert page["favicon"] == web.url("/pages/favicon.ico")
    assert page["openGraph"] == {} and page["charset"] == "utf-8"


def test_page_in_a_legacy_charset(metadata: MetadataConnector, web: FixtureServer) -> None:
    page = metadata.handle(page_job(web.url("/pages/cp1251.html")))["object"]
    assert page["charset"] == "windows-1251"
    assert any("\u0400" <= ch <= "\u04ff" for ch in page["title"])  # Cyrillic, decoded


ERRORS = [
    ("/status/404", "not-found"),
    ("/status/410", "not-found"),
    ("/big", "too-large"),
    ("/feeds/not-a-feed.html", "not-a-feed"),
    ("/feeds/garbage.xml", "not-a-feed"),
    ("/status/403", "refused"),
    ("/status/500", "upstream-error"),
]


@pytest.mark.parametrize("path,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_feed_errors_have_their_own_codes(
    feeds: FeedsConnector, web: FixtureServer, path: str, code: str
) -> None:
    assert failure(feeds, feed_job(web.url(path))).code == code


def test_a_server_that_never_answers_is_an_upstream_timeout(
    feeds: FeedsConnector, web: FixtureServer
) -> None:
    started = time.monotonic()
    err = failure(feeds, feed_job(web.url("/hang"), within=2))
    assert err.code == "upstream-timeout"
    assert time.monotonic() - started < 3  # bounded by the job's deadline


def test_tls_failure_is_a_tls_error(feeds: FeedsConnector, tls_web: FixtureServer) -> None:
    err = failure(feeds, feed_job(tls_web.url("/feeds/rss20.xml")))  # self-signed
    assert err.code == "tls-error"
    assert "certificate" in err.message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/feed", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"],
)
def test_private_addresses_are_blocked_unless_allowed(redis_url: str, url: str) -> None:
    conn = FeedsConnector(FEEDS, settings(redis_url, private=False))
    assert failure(conn, feed_job(url)).code == "blocked-address"


def test_a_public_name_resolving_to_a_private_address_is_blocked(
    redis_url: str, web: FixtureServer
) -> None:
    conn = MetadataConnector(METADATA, settings(redis_url, private=False))
    conn.resolver = StaticResolver({"intranet.example": ["10.1.2.3"]})
    err = failure(conn, page_job("http://intranet.example/"))
    assert err.code == "blocked-address" and "10.1.2.3" in err.message


def test_a_public_page_redirecting_to_a_private_one_is_blocked(
    redis_url: str, web: FixtureServer
) -> None:
    conn = MetadataConnector(METADATA, settings(redis_url, private=False))
    conn.resolver = StaticResolver({"public.example": ["93.184.216.34"]})
    conn.dial = RoutedDial({"93.184.216.34": ("127.0.0.1", web.port)})
    ok = conn.handle(page_job(f"http://public.example:{web.port}/pages/plain.html"))
    assert ok["object"]["title"].startswith("Parish Council")
    private = web.url("/pages/plain.html")
    away = f"http://public.example:{web.port}/redirect?to={private}"
    err = failure(conn, page_job(away))
    assert err.code == "blocked-address" and private in err.message


def test_without_redis_fetches_go_straight_upstream(web: FixtureServer) -> None:
    conn = FeedsConnector(FEEDS, Settings(allow_private_addresses=True))
    assert isinstance(conn.cache, DirectFetch)
    assert conn.handle(feed_job(web.url("/feeds/rss091.xml?direct=1")))["totalItems"] > 0
