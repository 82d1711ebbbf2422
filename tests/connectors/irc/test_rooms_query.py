"""The channel list query on the task thread: the shared cache first, one fetch per server
(the lease), waiting for another's fetch, and a lease given back when no fetch started."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.base import Job
from connectors.irc.queries import rooms_query
from connectors.irc.roomcache import MemoryRoomCache, server_name
from connectors.irc.rooms import Snapshot
from envelopes.errors import UpstreamUnavailable
from envelopes.settings import Settings

SERVER = server_name("irc.test", 6667)
SNAP = Snapshot(42, [("#busy", 9, "lots"), ("#quiet", 1, "few")])


class Runtime:
    """Runs a verb's coroutine on a loop of its own; or fails before it runs, as the real
    runtime does when the connection is gone."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls = 0

    def call(self, job: Job, coro: Any) -> Any:
        self.calls += 1
        if self.fail is not None:
            coro.close()
            raise self.fail
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()


def query(runtime: Runtime, cache: MemoryRoomCache, wait: float = 0.5, **obj: Any) -> Any:
    up = SimpleNamespace(
        host="irc.test", port=6667, settings=Settings(irc_list_wait=wait), listing=None
    )
    activity = {
        "type": "query",
        "target": {"type": "service", "id": "irc.test"},
        "object": {"type": "rooms", **obj},
    }
    return rooms_query(runtime, up, cache, Job("query", activity))  # type: ignore[arg-type]


def test_a_cached_list_is_answered_without_the_connection():
    cache, runtime = MemoryRoomCache(), Runtime()
    cache.put(SERVER, SNAP, 60)
    got = query(runtime, cache, search="few")["object"]
    assert got["totalItems"] == 1 and got["items"][0]["id"] == "#quiet@irc.test"
    assert runtime.calls == 0


def test_while_another_worker_fetches_the_query_waits_for_its_list():
    cache = MemoryRoomCache()
    assert cache.lease(SERVER)  # another worker runs the LIST
    threading.Timer(0.2, cache.put, (SERVER, SNAP, 60)).start()
    started = time.monotonic()
    got = query(Runtime(), cache, wait=5)["object"]
    assert got["totalItems"] == 2 and time.monotonic() - started < 3


def test_a_fetch_that_takes_longer_answers_fetching_and_frees_the_lane():
    cache = MemoryRoomCache()
    assert cache.lease(SERVER)
    started = time.monotonic()
    got = query(Runtime(), cache, wait=0.3)["object"]
    assert got == {"type": "collection", "totalItems": 0, "items": [], "next": None,
                   "fetching": True}  # fmt: skip
    assert time.monotonic() - started < 2


def test_a_lease_is_given_back_when_the_fetch_never_started():
    cache = MemoryRoomCache()
    with pytest.raises(UpstreamUnavailable):
        query(Runtime(fail=UpstreamUnavailable("connection lost")), cache)
    assert cache.lease(SERVER) is not None  # the next asker may fetch at once


def test_another_workers_fetch_is_reported_with_its_count_so_far():
    cache = MemoryRoomCache()
    token = cache.lease(SERVER)
    assert token is not None
    cache.renew(SERVER, token, 1200)
    got = query(Runtime(), cache, wait=0.2)["object"]
    assert got["fetching"] is True and got["totalItems"] == 1200
