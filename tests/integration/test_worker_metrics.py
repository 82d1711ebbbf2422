"""Worker metrics, gathered through Redis and served at the gateway's ``/metrics``: real
ngircd, two real Celery workers, one SIGKILLed (envelopes/workermetrics.py)."""

from __future__ import annotations

import time

import pytest

from ..stack import Stack
from .test_irc import FAST_LEASE, _owner, ircd, joined  # noqa: F401  (ircd: the fixture)
from .test_metrics import scrape

pytestmark = pytest.mark.integration


def _until(stack: Stack, pred, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        seen = scrape(stack)
        if pred(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {sorted(seen)}")
        time.sleep(0.2)


def _series(node: str, name: str = "sockethub_worker_connections") -> str:
    return f'{name}{{node="{node}@127.0.0.1",platform="irc"}}'


def test_connections_per_node_a_dead_workers_series_lapse_and_a_takeover_counts(ircd):  # noqa: F811
    env = {
        "SOCKETHUB_IRC_FLOOD_RATE": "0",
        "SOCKETHUB_REQUEST_TIMEOUT": "40",
        "SOCKETHUB_LEASE_SECONDS": FAST_LEASE,
    }
    s = Stack(platforms=("irc",), env_overrides=env).start()
    try:
        s.start_worker("irc", name="worker-irc-2")
        with joined(s, ircd, "wm", "#metrics", "counted") as (w, b):
            owner = _owner(s, b).split("@")[0]
            other = "worker-irc-2" if owner == "worker-irc" else "worker-irc"
            seen = _until(s, lambda m: m.get(_series(owner)) == 1 and _series(other) in m, 10)
            assert seen[_series(other)] == 0
            wait = _series(owner, "sockethub_worker_queue_wait_seconds_count")
            assert seen[wait] >= 2  # connect and join
            assert seen[_series(owner, "sockethub_worker_queue_wait_seconds_sum")] < 10
            latency = f'sockethub_worker_redis_latency_seconds{{node="{owner}@127.0.0.1"}}'
            assert 0 < seen[latency] < 2
            assert seen[_series(other, "sockethub_worker_takeovers_total")] == 0
            s.kill(owner)  # SIGKILL: nothing cleans up; the TTL does
            seen = _until(
                s,
                lambda m: m.get(_series(other)) == 1 and _series(owner) not in m,
                int(float(FAST_LEASE)) * 3 + 15,
            )
            assert seen[_series(other, "sockethub_worker_takeovers_total")] == 1
            assert not [k for k in seen if f'node="{owner}@' in k], "the dead node's series"
            b.close()
    finally:
        s.stop()
