"""What one feed can make a reply hold: a default and a maximum item count, and a cap on
every item's text, marked where it was cut.

A 4.6 MB feed that gzips to 12 kB (``/huge-feed``: 300 items of 15,000 characters each)
once produced a multi-megabyte reply; the real connector, cache and client fetch it here.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from connectors.base import Job
from connectors.feeds import FeedsConnector
from envelopes.context import context_for
from envelopes.errors import SockethubError
from envelopes.registry import default_registry
from envelopes.settings import Settings
from tests.connectors.fixtureserver import HUGE_ITEMS, FixtureServer

FEEDS = default_registry().get("feeds")
DEFAULTS = Settings()


def feeds(redis_url: str, **overrides: Any) -> FeedsConnector:
    assert FEEDS is not None
    base = Settings(redis_url=redis_url, allow_private_addresses=True)
    return FeedsConnector(FEEDS, replace(base, **overrides))


def job(url: str, **obj: Any) -> Job:
    act: dict[str, Any] = {
        "@context": context_for("feeds"),
        "type": "fetch",
        "actor": {"id": url, "type": "feed"},
    }
    if obj:
        act["object"] = obj
    return Job(verb="fetch", activity=act, deadline=time.time() + 20)


def test_a_huge_feed_gets_the_default_item_count_and_capped_items(
    redis_client: Any, redis_url: str, web: FixtureServer
) -> None:
    out = feeds(redis_url).handle(job(web.url("/huge-feed")))
    assert HUGE_ITEMS > DEFAULTS.feed_items
    assert out["totalItems"] == len(out["items"]) == DEFAULTS.feed_items
    cap = DEFAULTS.feed_item_max_chars
    for item in out["items"]:
        obj = item["object"]
        assert len(obj["content"]) <= cap
        assert obj["truncated"] is True
        assert obj["content"].endswith("…")
    # What the reply then weighs: bounded by the settings, not by the feed.
    assert len(json.dumps(out)) < DEFAULTS.feed_items * (cap + 2000)


def test_a_request_may_ask_for_more_up_to_the_maximum(
    redis_client: Any, redis_url: str, web: FixtureServer
) -> None:
    conn = feeds(redis_url, feed_items=5, feed_max_items=40, feed_item_max_chars=100)
    assert conn.handle(job(web.url("/huge-feed"), limit=3))["totalItems"] == 3
    assert conn.handle(job(web.url("/huge-feed"), limit=40))["totalItems"] == 40
    with pytest.raises(SockethubError) as refused:
        conn.handle(job(web.url("/huge-feed"), limit=41))
    assert refused.value.code == "invalid-envelope"
    assert refused.value.path == "object.limit"
    assert "40" in refused.value.message and "SOCKETHUB_FEED_MAX_ITEMS" in refused.value.message


def test_short_items_are_left_whole(redis_client: Any, redis_url: str, web: FixtureServer) -> None:
    out = feeds(redis_url).handle(job(web.url("/feeds/rss20.xml")))
    assert out["items"] and not any("truncated" in i["object"] for i in out["items"])
