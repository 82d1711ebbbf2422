"""Worker metrics through Redis (envelopes/workermetrics.py): written per process with a
time to live, read back labelled, lapsed processes dropped. Real Redis."""

from __future__ import annotations

import time

from envelopes import keys
from envelopes.workermetrics import WorkerStats, read, render


def test_two_processes_are_served_labelled_and_a_lapsed_one_drops_out(redis_client):
    r = redis_client
    a = WorkerStats(r, "irc-1@host", beat=0.1)
    a.connections("irc", lambda: 3)
    a.inc("sockethub_worker_reconnects_total", "irc", 2)
    a.waited("irc", 0.5)
    a.waited("irc", -1.0)  # clocks apart: never a negative wait
    a.publish()
    b = WorkerStats(r, 'x"y@host', beat=5)
    b.connections("xmpp", lambda: 1)
    b.publish()
    text = render(read(r))
    assert 'sockethub_worker_connections{node="irc-1@host",platform="irc"} 3' in text
    assert 'sockethub_worker_reconnects_total{node="irc-1@host",platform="irc"} 2' in text
    assert 'sockethub_worker_queue_wait_seconds_sum{node="irc-1@host",platform="irc"} 0.5' in text
    assert 'sockethub_worker_queue_wait_seconds_count{node="irc-1@host",platform="irc"} 2' in text
    assert 'sockethub_worker_connections{node="xy@host",platform="xmpp"} 1' in text
    assert 'sockethub_worker_redis_latency_seconds{node="irc-1@host"}' in text
    assert 0 < r.pttl(keys.worker_metrics(a.process)) <= 300  # three beats
    deadline = time.monotonic() + 5
    while r.exists(keys.worker_metrics(a.process)) and time.monotonic() < deadline:
        time.sleep(0.05)
    text = render(read(r))
    assert "irc-1@host" not in text
    assert r.smembers(keys.worker_metrics_index()) == {b.process.encode()}  # pruned
    b.stop()  # a clean stop leaves at once
    assert "xy@host" not in render(read(r))
    assert not r.exists(keys.worker_metrics_index())


def test_the_in_memory_twin_counts_and_writes_nothing():
    s = WorkerStats()
    s.inc("sockethub_worker_takeovers_total", "irc")
    assert s.value("sockethub_worker_takeovers_total", "irc") == 1
    s.start()
    s.stop()
