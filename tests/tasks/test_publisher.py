"""The publisher takes events off the loop: emit never waits, Redis failures are retried in
order, overflow becomes one gap event, a reply can wait for the events before it."""

from __future__ import annotations

import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError

from tasks.publisher import TURN, Item, Publisher


class Sink:
    """A ``deliver`` that writes into a list; it can be held, or made to fail."""

    def __init__(self) -> None:
        self.written: list[tuple[str, object]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.failures = 0  # raise a Redis connection error this many times first
        self.calls = 0

    def deliver(self, items: list[Item]) -> None:
        self.calls += 1
        self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Redis is paused")
        for item in items:
            if item.sessions is None:
                item.sessions = ["s"]
            if item.done < len(item.sessions):
                if item.activity.get("boom"):
                    raise ValueError("cannot encode")
                self.written.append((item.key, item.activity.get("n", item.activity)))
                item.done = 1


def gap(key: str, count: int) -> dict:
    return {"gap": count}


def publisher(sink: Sink, max_events: int = 1000, max_bytes: int = 10**6) -> Publisher:
    return Publisher(sink.deliver, gap, max_events=max_events, max_bytes=max_bytes)


def wait_until(pred, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_emit_never_waits_and_order_survives_redis_failures():
    sink = Sink()
    sink.gate.clear()  # Redis hangs
    sink.failures = 3  # then fails three times
    p = publisher(sink)
    started = time.monotonic()
    for n in range(300):
        p.emit(f"k{n % 3}", {"n": n})
    assert time.monotonic() - started < 0.5  # nothing waited for Redis
    sink.gate.set()
    assert all(p.settle(f"k{k}", 10) for k in range(3))
    assert sink.failures == 0
    for k in range(3):
        assert [n for key, n in sink.written if key == f"k{k}"] == list(range(k, 300, 3))
    assert len(sink.written) == 300  # each once: progress survives the retries
    p.close()


def test_overflow_drops_new_events_and_says_so_once():
    sink = Sink()
    sink.gate.clear()
    p = publisher(sink, max_events=5)
    p.emit("a", {"n": 0})
    wait_until(lambda: sink.calls == 1)  # the publisher holds it, Redis hangs
    for n in range(1, 12):
        p.emit("a", {"n": n})  # 1-4 fit beside it, 5-11 are dropped
    sink.gate.set()
    wait_until(lambda: len(sink.written) >= 5)
    p.emit("a", {"n": 99})
    wait_until(lambda: sink.written[-1][1] == 99)
    assert [n for _key, n in sink.written] == [0, 1, 2, 3, 4, {"gap": 7}, 99]
    p.close()


def test_a_gap_is_told_even_without_a_later_event():
    sink = Sink()
    sink.gate.clear()
    p = publisher(sink, max_events=2)
    p.emit("b", {"n": 0})
    wait_until(lambda: sink.calls == 1)
    for n in range(1, 5):
        p.emit("b", {"n": n})
    sink.gate.set()
    wait_until(lambda: len(sink.written) == 3)
    assert sink.written == [("b", 0), ("b", 1), ("b", {"gap": 3})]
    p.close()


def test_a_flooding_connection_does_not_hold_back_the_others():
    sink = Sink()
    sink.gate.clear()
    p = publisher(sink, max_events=10_000)
    for n in range(5000):
        p.emit("flood", {"n": n})
    p.emit("quiet", {"n": "hello"})
    sink.gate.set()
    assert p.settle("quiet", 5)
    before = [k for k, _n in sink.written[: sink.written.index(("quiet", "hello"))]]
    assert len(before) <= 2 * TURN, f"{len(before)} flood events were written first"
    assert p.settle("flood", 10)
    assert [n for k, n in sink.written if k == "flood"] == list(range(5000))
    p.close()


def test_an_event_that_cannot_be_written_does_not_hold_back_the_rest():
    sink = Sink()
    p = publisher(sink)
    p.emit("c", {"n": 1})
    p.emit("c", {"boom": True})
    p.emit("c", {"n": 3})
    assert p.settle("c", 5)
    assert sink.written == [("c", 1), ("c", 3)]
    p.close()


def test_settle_waits_for_what_was_queued_before():
    sink = Sink()
    sink.gate.clear()
    p = publisher(sink)
    p.emit("d", {"n": 1})
    assert not p.settle("d", 0.2)  # Redis holds it: the caller goes on after its timeout
    assert p.settle("other", 0)  # nothing of another connection is waited for
    threading.Timer(0.2, sink.gate.set).start()
    assert p.settle("d", 5)
    assert sink.written == [("d", 1)]
    p.close()
