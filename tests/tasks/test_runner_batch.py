"""A gateway's batch in the worker (gateway/enqueue.py): the Celery task of a batchable
platform given a list, with a real Redis: claims in one round trip, replies in one more,
each request answered once, each under its own time limit."""

from __future__ import annotations

import sys
import threading
import time
import types
from typing import Any

import redis

from connectors.dummy import DummyConnector
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.registry import Platform, Registry, Verb, default_registry
from envelopes.schema import MessageObjectSchema
from envelopes.settings import Settings
from gateway.sessions import SessionStore
from tasks.app import make_celery
from tasks.limits import Watchdog, run_limited_many
from tasks.runner import Runner

from .test_runner import SECRET, _frames, _payload


class Counting(redis.Redis):
    """Counts round trips: each command sent alone, each pipeline sent."""

    trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        execute = pipe.execute

        def counted(*a: Any, **k: Any) -> Any:
            self.trips += 1
            return execute(*a, **k)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


def batch_task(redis_url: str, registry: Registry, platform: str) -> tuple[Any, Any]:
    settings = Settings(redis_url=redis_url, secret=SECRET, task_time_limit_grace=5.0)
    app = make_celery(settings, registry)
    return app, app.tasks[registry.get(platform).task_name]  # type: ignore[union-attr]


def sealed(r: Any, sid: str, rid: str, verb: str, marker: bytes = b"p{}", **kw: Any) -> Any:
    r.set(keys.request(sid, rid), marker)
    return AtRest(r, sealing.server_key(SECRET)).seal_task({**_payload(sid, rid, verb), **kw})


def test_a_batch_is_claimed_in_one_round_trip_and_answered_in_one_more(redis_url):
    r = Counting.from_url(redis_url)
    r.flushdb()
    registry = default_registry()
    runner = Runner(Settings(secret=SECRET), registry, r)
    dummy = registry.get("dummy")
    assert dummy is not None and dummy.batchable
    sid = SessionStore(r, sealing.server_key(SECRET), 60).create("gw").sid
    runner.run("dummy", sealed(r, sid, "warm", "echo"))  # the session key is cached now
    batch = [
        sealed(r, sid, "1", "echo"),
        sealed(r, sid, "2", "fail"),
        sealed(r, sid, "3", "echo", marker=b"done"),  # answered already: never run
        sealed(r, sid, "4", "echo", deadline=time.time() - 1),  # past its deadline
        sealed(r, sid, "5", "greet"),
    ]
    r.trips = 0
    run_limited_many(runner, Watchdog(5.0), dummy, batch, 30.0)
    assert r.trips == 2  # before: a claim and a reply per request (8 here)
    frames = {f["id"]: f for f in _frames(r, sid)}
    assert sorted(frames) == ["1", "2", "5", "warm"]
    assert [frames[i]["status"] for i in ("1", "2", "5")] == ["completed", "failed", "completed"]
    assert r.get(keys.request(sid, "3")) == b"done"


class Slow(DummyConnector):
    def spin(self, job: Any) -> dict[str, Any]:
        until = time.time() + 10
        while time.time() < until:  # Python code: the soft limit can stop it
            time.sleep(0.01)
        return {"type": "spin"}


def test_each_request_of_a_batch_keeps_its_own_time_limit(redis_client, redis_url):
    mod = types.ModuleType("slowbatchmod")
    mod.Slow = Slow  # type: ignore[attr-defined]
    sys.modules["slowbatchmod"] = mod
    verbs = {v: Verb(v, object=MessageObjectSchema) for v in ("spin", "echo")}
    registry = Registry([Platform("slowbatch", "slowbatchmod:Slow", verbs, batchable=True)])
    r = redis_client
    app, task = batch_task(redis_url, registry, "slowbatch")
    sid = SessionStore(r, sealing.server_key(SECRET), 60).create("gw").sid
    batch = [
        sealed(r, sid, "1", "echo"),
        sealed(r, sid, "2", "spin", deadline=time.time() + 1.5),
        sealed(r, sid, "3", "echo"),
    ]
    done = threading.Event()
    threading.Thread(target=lambda: (task(batch), done.set()), daemon=True).start()
    assert done.wait(8), "the spinning request was stopped at its soft limit"
    frames = {f["id"]: f for f in _frames(r, sid)}
    assert frames["2"]["status"] == "failed"
    assert frames["2"]["error"]["code"] == "upstream-timeout"
    assert frames["1"]["status"] == frames["3"]["status"] == "completed"
    assert len(_frames(r, sid)) == 3  # one reply each
    app.sockethub.close()
