"""The gateway's own task messages and its batches, against a real Redis: kombu reads what
it writes, a lone request goes at once, requests arriving during a publish go together."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

from kombu import Connection

from envelopes import keys
from envelopes.markers import Markers, tag_of
from envelopes.registry import default_registry
from gateway.enqueue import Acceptance, RedisEnqueuer, task_message

DUMMY = default_registry().get("dummy")


def acceptance(rid: str, sid: str = "s1") -> tuple[Acceptance, dict[str, Any]]:
    marker = b"a" + bytes(range(24)) + rid.encode()  # state, a 24-byte "nonce", the rest
    now = time.time()
    a = Acceptance(sid, rid, marker, 60, now + 30, now + 2, now)
    payload = {"session": sid, "request": rid, "verb": "echo", "sealed": "x", "tag": tag_of(marker)}
    return a, payload


def bodies(redis_client: Any, queue: str = "dummy") -> list[Any]:
    """The ``args[0]`` of every message on the queue, oldest first."""
    out = []
    for raw in reversed(redis_client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        out.append(json.loads(base64.b64decode(message["body"]))[0][0])
    return out


def test_kombu_reads_the_message_as_celery_wrote_it(redis_url, redis_client):
    payload = {"session": "s", "request": "1", "verb": "echo", "sealed": "x"}
    redis_client.lpush("dummy", task_message(DUMMY.task_name, payload, "dummy"))
    with Connection(redis_url) as conn:
        message = conn.SimpleQueue("dummy").get(timeout=5)
        args, kwargs, embed = message.decode()
        assert args == [payload] and kwargs == {}
        assert message.headers["task"] == DUMMY.task_name
        assert message.headers["id"] == message.properties["correlation_id"]
        assert message.headers["expires"] is None  # the runner checks the deadline
        assert message.delivery_info["routing_key"] == "dummy"
        assert set(embed) == {"callbacks", "errbacks", "chain", "chord"}
        message.ack()


def test_a_lone_request_is_queued_at_once_with_its_marker_sent(redis_client):
    enq = RedisEnqueuer(Markers(redis_client), batch=32)
    a, payload = acceptance("r1")
    started = time.monotonic()
    assert enq.send(DUMMY, payload, "dummy", a) == 1
    assert time.monotonic() - started < 1
    assert bodies(redis_client) == [payload]  # one task, its payload as it is (no list)
    assert redis_client.get(keys.request("s1", "r1"))[:1] == b"p"
    assert redis_client.zscore(keys.deadlines(), keys.deadline_member("s1", "r1"))
    assert redis_client.zcard(keys.unsent()) == 0


class Gated(Markers):
    """The real scripts; the first publish waits for the gate (a slow round trip)."""

    def __init__(self, redis: Any):
        super().__init__(redis)
        self.gate = threading.Event()
        self.calls: list[int] = []

    def accept_sent(self, requests: Any, *args: Any) -> list[int]:
        self.calls.append(len(requests))
        if len(self.calls) == 1:
            assert self.gate.wait(10)
        return super().accept_sent(requests, *args)


def send_all(enq: RedisEnqueuer, rids: list[str], results: dict[str, Any]) -> list[Any]:
    def one(rid: str) -> None:
        a, payload = acceptance(rid)
        try:
            results[rid] = enq.send(DUMMY, payload, "dummy", a)
        except Exception as exc:
            results[rid] = exc

    threads = [threading.Thread(target=one, args=(rid,)) for rid in rids]
    for t in threads:
        t.start()
        time.sleep(0.05)  # in this order
    return threads


def test_requests_arriving_during_a_publish_go_in_one_message(redis_client):
    markers = Gated(redis_client)
    enq = RedisEnqueuer(markers, batch=32)
    results: dict[str, Any] = {}
    threads = send_all(enq, ["r1", "r2", "r3", "r4"], results)
    time.sleep(0.2)
    assert results == {}  # r1's publish is in flight; the others wait for it
    markers.gate.set()
    for t in threads:
        t.join(10)
    assert results == {"r1": 1, "r2": 1, "r3": 1, "r4": 1}
    assert markers.calls == [1, 3]
    first, batch = bodies(redis_client)
    assert first["request"] == "r1"
    assert [p["request"] for p in batch] == ["r2", "r3", "r4"]  # one task, their order kept
    for rid in ("r1", "r2", "r3", "r4"):
        assert redis_client.get(keys.request("s1", rid))[:1] == b"p"


def test_a_batch_holds_at_most_the_batch_size(redis_client):
    markers = Gated(redis_client)
    enq = RedisEnqueuer(markers, batch=2)
    results: dict[str, Any] = {}
    threads = send_all(enq, ["r1", "r2", "r3", "r4", "r5"], results)
    markers.gate.set()
    for t in threads:
        t.join(10)
    assert results == {f"r{i}": 1 for i in range(1, 6)}
    assert markers.calls == [1, 2, 2]


def test_a_taken_id_in_a_batch_is_refused_and_its_copy_never_runs(redis_client):
    redis_client.set(keys.request("s1", "r3"), b"done")
    markers = Gated(redis_client)
    enq = RedisEnqueuer(markers, batch=32)
    results: dict[str, Any] = {}
    threads = send_all(enq, ["r1", "r2", "r3", "r4"], results)
    markers.gate.set()
    for t in threads:
        t.join(10)
    assert results == {"r1": 1, "r2": 1, "r3": 0, "r4": 1}
    assert redis_client.get(keys.request("s1", "r3")) == b"done"  # left as it was
    _first, batch = bodies(redis_client)
    claims = {p["request"]: markers.claim("s1", p["request"], p["tag"]) for p in batch}
    assert claims == {"r2": True, "r3": False, "r4": True}  # the worker drops r3's copy


def test_a_failed_publish_fails_every_request_it_carried(redis_client):
    class Broken(Gated):
        def accept_sent(self, requests: Any, *args: Any) -> list[int]:
            self.calls.append(len(requests))
            if len(self.calls) == 1:
                assert self.gate.wait(10)
                return Markers.accept_sent(self, requests, *args)
            raise ConnectionError("Redis went away")

    markers = Broken(redis_client)
    enq = RedisEnqueuer(markers, batch=32)
    results: dict[str, Any] = {}
    threads = send_all(enq, ["r1", "r2", "r3"], results)
    markers.gate.set()
    for t in threads:
        t.join(10)
    assert results["r1"] == 1
    assert isinstance(results["r2"], ConnectionError) and isinstance(results["r3"], ConnectionError)
    # ... and the lane is free again: the next request leads a publish of its own (a lane
    # left busy would make it wait for ever).
    (t,) = send_all(enq, ["r9"], results)
    t.join(5)
    assert isinstance(results["r9"], ConnectionError)
    assert markers.calls == [1, 2, 1]
