"""Following feeds through the whole system: WebSocket → gateway → Celery → the feeds
worker's poller → a local feed server whose feeds change while the test runs → events.

Real Redis, a real ``sockethub worker feeds`` and ``sockethub web``; the feeds come from
``tests/servers/feedserver.py`` on 127.0.0.1. Polls are every second here
(``SOCKETHUB_FOLLOW_MIN_INTERVAL`` = ``_MAX_INTERVAL`` = 1) and the shared cache's fresh
window is off, so every poll is an upstream request the server counts.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.feeds.follows import feed_id
from envelopes import keys

from ..servers.feedserver import FeedServer
from ..stack import Stack
from ..wsclient import Client, activity
from .test_at_rest import leaks

pytestmark = pytest.mark.integration

ENV = {
    "SOCKETHUB_FOLLOW_MIN_INTERVAL": "1",
    "SOCKETHUB_FOLLOW_MAX_INTERVAL": "1",
    "SOCKETHUB_FETCH_FRESH": "0",
    "SOCKETHUB_FETCH_TIMEOUT": "3",
    "SOCKETHUB_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(platforms=("feeds",), env_overrides=dict(ENV)).start()
    yield s
    s.stop()


@pytest.fixture
def clients(stack: Stack) -> Iterator[list[Client]]:
    made: list[Client] = []

    class Make(list):  # type: ignore[type-arg]
        def new(self) -> Client:
            c = Client(stack.ws_url)
            made.append(c)
            return c

    yield Make()  # type: ignore[misc]
    for c in made:
        c.close()


def follow(url: str, verb: str = "follow") -> dict[str, Any]:
    return activity("feeds", verb, actor={"id": url, "type": "feed"})


def completed(client: Client, act: dict[str, Any]) -> dict[str, Any]:
    reply = client.request(act, timeout=40)
    assert reply["status"] == "completed", reply
    return reply["result"]


def titles(frames: list[dict[str, Any]]) -> list[str]:
    return [
        f["activity"]["object"]["title"]
        for f in frames
        if f.get("kind") == "event" and f["activity"].get("type") == "post"
    ]


def events_for(client: Client, seconds: float) -> list[str]:
    """The titles of the items that arrived as events within ``seconds`` (and before)."""
    deadline = time.time() + seconds
    while (left := deadline - time.time()) > 0:
        try:
            client.recv(left)
        except Exception:  # the socket's timeout: nothing more came
            break
    return titles(client.frames)


def wait_title(client: Client, title: str, timeout: float = 20) -> None:
    client.wait(
        lambda f: f.get("kind") == "event" and f["activity"]["object"].get("title") == title,
        timeout,
    )


def feed_state(stack: Stack, url: str) -> dict[str, str]:
    raw = stack.redis().hgetall(keys.follow_feed(feed_id(url)))
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_each_new_item_arrives_once_at_every_follower_with_one_poll_per_interval(
    stack: Stack, server: FeedServer, clients: Any
) -> None:
    server.feed("a")
    server.add("a", "a1", "First of a")
    one, two = clients.new(), clients.new()
    result = completed(one, follow(server.url("a")))
    assert [i["object"]["title"] for i in result["items"]] == ["First of a"]
    assert result["actor"]["id"] == server.url("a")
    completed(two, follow(server.url("a")))
    secret = "Second of a " + secrets.token_hex(6)
    server.add("a", "a2", secret)
    wait_title(one, secret)
    wait_title(two, secret)
    before = server.hits["a"]
    time.sleep(6)
    polls = server.hits["a"] - before
    # One poller for both followers: about one request a second, not two.
    assert 3 <= polls <= 9, polls
    for c in (one, two):
        assert events_for(c, 0.5) == [secret], c.frames
    # The item's text travelled sealed: following stored none of it (the shared cache's
    # copy of the public feed is compressed, and no part of this rule).
    assert leaks(stack.redis(), {"title": secret}) == []


def test_a_feed_changing_its_guids_on_every_fetch_does_not_resend(
    server: FeedServer, clients: Any
) -> None:
    server.feed("c", changing_guids=True)
    server.add("c", "c1", "One of c")
    server.add("c", "c2", "Two of c")
    c = clients.new()
    completed(c, follow(server.url("c")))
    server.add("c", "c3", "Three of c")
    wait_title(c, "Three of c")
    served = server.feeds["c"].served
    got = events_for(c, 5)
    assert server.feeds["c"].served >= served + 3  # polled, with new GUIDs each time
    assert got == ["Three of c"], got


def test_a_not_modified_answer_costs_no_parse(
    stack: Stack, server: FeedServer, clients: Any
) -> None:
    server.feed("d")
    server.add("d", "d1", "One of d")
    c = clients.new()
    completed(c, follow(server.url("d")))
    deadline = time.time() + 20
    while server.statuses["d"][304] < 2 and time.time() < deadline:
        time.sleep(0.2)
    parsed = int(feed_state(stack, server.url("d"))["parses"])
    seen_304 = server.statuses["d"][304]
    time.sleep(4)
    assert server.statuses["d"][304] >= seen_304 + 2
    assert int(feed_state(stack, server.url("d"))["parses"]) == parsed
    server.add("d", "d2", "Two of d")  # a 200 with a new body is parsed
    wait_title(c, "Two of d")
    assert int(feed_state(stack, server.url("d"))["parses"]) == parsed + 1


def test_unfollow_stops_delivery_and_polling(server: FeedServer, clients: Any) -> None:
    server.feed("e")
    server.add("e", "e1", "One of e")
    c = clients.new()
    completed(c, follow(server.url("e")))
    completed(c, follow(server.url("e"), "unfollow"))
    time.sleep(1.5)
    before = server.hits["e"]
    server.add("e", "e2", "Two of e")
    assert events_for(c, 4) == []
    assert server.hits["e"] <= before + 1  # at most a poll already under way


def test_following_a_page_follows_the_feed_it_names(server: FeedServer, clients: Any) -> None:
    server.feed("p")
    server.add("p", "p1", "One of p")
    c = clients.new()
    result = completed(c, follow(server.url("p", kind="page")))
    assert result["actor"]["id"] == server.url("p")
    server.add("p", "p2", "Two of p")
    wait_title(c, "Two of p")


def test_opml_import_then_export(server: FeedServer, clients: Any) -> None:
    for name in ("o1", "o2"):
        server.feed(name)
        server.add(name, f"{name}-1", f"One of {name}")
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>'
        f'<outline text="first" type="rss" xmlUrl="{server.url("o1")}"/>'
        f'<outline text="folder"><outline text="second" xmlUrl="{server.url("o2")}"/>'
        "</outline></body></opml>"
    )
    c = clients.new()
    imported = completed(
        c, activity("feeds", "opml-import", object={"type": "opml", "content": opml})
    )
    assert sorted(i["id"] for i in imported["items"]) == [server.url("o1"), server.url("o2")]
    exported = completed(c, activity("feeds", "opml-export"))
    assert exported["type"] == "opml"
    for name in ("o1", "o2"):
        assert f'xmlUrl="{server.url(name)}"' in exported["content"]
    time.sleep(2.5)  # the first poll takes what is there as seen
    server.add("o2", "o2-2", "Two of o2")
    wait_title(c, "Two of o2")
    assert "One of o2" not in events_for(c, 0.5)


def test_two_workers_still_poll_each_feed_once_per_interval(
    stack: Stack, server: FeedServer, clients: Any
) -> None:
    stack.start_worker("feeds", name="worker-feeds-2")
    try:
        server.feed("t")
        server.add("t", "t1", "One of t")
        c = clients.new()
        completed(c, follow(server.url("t")))
        time.sleep(2)
        before = server.hits["t"]
        time.sleep(6)
        polls = server.hits["t"] - before
        assert 3 <= polls <= 9, polls  # one a second, whichever worker polls it
        server.add("t", "t2", "Two of t")
        wait_title(c, "Two of t")
        assert events_for(c, 2) == ["Two of t"]
    finally:
        stack.kill("worker-feeds-2", signal.SIGTERM)


def test_follows_survive_a_worker_restart(stack: Stack, server: FeedServer, clients: Any) -> None:
    server.feed("r")
    server.add("r", "r1", "One of r")
    c = clients.new()
    completed(c, follow(server.url("r")))
    stack.kill("worker-feeds")
    stack.start_worker("feeds")
    server.add("r", "r2", "Two of r")
    wait_title(c, "Two of r", timeout=40)
    assert events_for(c, 2) == ["Two of r"]
