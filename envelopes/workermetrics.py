"""Worker metrics gathered through Redis and served by the gateway's ``/metrics``.

Each worker process counts into a ``WorkerStats``; its stats beat (every third of
``SOCKETHUB_LEASE_SECONDS``) writes them into one small hash per process
(``keys.worker_metrics``) with a time to live of three beats, so a dead process's series
lapse with it. The gateway reads every live hash at scrape time (``render``) and labels
each series with the process's ``node`` and the ``platform``. The metric set is fixed
(``WORKER_METRICS``): nothing a browser sends names a series.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import keys

__all__ = ["WORKER_METRICS", "WorkerStats", "read", "render"]

log = logging.getLogger("sockethub.metrics")

# name -> (kind, help); the per-platform ones are labelled {node, platform}, the rest {node}.
WORKER_METRICS: dict[str, tuple[str, str]] = {
    "sockethub_worker_connections": ("gauge", "IRC/XMPP connections this process holds."),
    "sockethub_worker_reconnects_total": (
        "counter",
        "Upstream connections that dropped and reconnect.",
    ),
    "sockethub_worker_takeovers_total": (
        "counter",
        "Connections taken over from a node that died or stopped (lease takeovers).",
    ),
    "sockethub_worker_queue_wait_seconds_sum": (
        "counter",
        "Seconds tasks waited between the gateway's enqueue and a worker starting them.",
    ),
    "sockethub_worker_queue_wait_seconds_count": ("counter", "Tasks started (queue wait's count)."),
    "sockethub_worker_paced_connects_total": (
        "counter",
        "Upstream connects that waited for their turn (SOCKETHUB_UPSTREAM_CONNECT_RATE).",
    ),
    "sockethub_worker_paced_wait_seconds_sum": (
        "counter",
        "Seconds upstream connects waited for their turn, in total.",
    ),
    "sockethub_worker_connect_refusals_total": (
        "counter",
        "Upstream connects refused, by reason: our caps (too-many-connections), a pause "
        "(throttled), a turn too far (paced), or the server's answer (banned, throttled, "
        "too-many-connections).",
    ),
    "sockethub_worker_redis_latency_seconds": (
        "gauge",
        "Round trip of a PING to Redis, last beat.",
    ),
}
_NODE_ONLY = {"sockethub_worker_redis_latency_seconds"}
# Labelled {node, platform, reason} too; reasons are the fixed words of tasks/admission.py.
_REASONED = {"sockethub_worker_connect_refusals_total"}
# field: "<metric>|<platform>" or "<metric>|<platform>|<reason>"; platform names are
# registry names (no "|").
_SEP = "|"


class WorkerStats:
    """One process's figures; ``redis=None`` is the in-memory twin (counts, never writes)."""

    def __init__(self, redis: Any = None, node: str = "", beat: float = 5.0):
        self.redis = redis
        self.node = node
        self.process = f"{node}:{os.getpid()}"
        self.beat = beat
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], float] = {}
        self._gauges: dict[str, Callable[[], int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def inc(self, name: str, platform: str, amount: float = 1.0, reason: str = "") -> None:
        if reason:
            platform = f"{platform}{_SEP}{reason}"
        with self._lock:
            self._values[(name, platform)] = self._values.get((name, platform), 0.0) + amount

    def waited(self, platform: str, seconds: float) -> None:
        self.inc("sockethub_worker_queue_wait_seconds_sum", platform, max(0.0, seconds))
        self.inc("sockethub_worker_queue_wait_seconds_count", platform)

    def connections(self, platform: str, count: Callable[[], int]) -> None:
        """Read ``count`` at every beat for the platform's connections gauge."""
        self._gauges[platform] = count
        for name in ("sockethub_worker_reconnects_total", "sockethub_worker_takeovers_total"):
            self.inc(name, platform, 0)  # present from the start: rate() needs a first point

    def value(self, name: str, platform: str = "", reason: str = "") -> float:
        if reason:
            platform = f"{platform}{_SEP}{reason}"
        with self._lock:
            return self._values.get((name, platform), 0.0)

    def start(self) -> None:
        if self.redis is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sockethub-stats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.redis is not None:
            try:  # a clean stop leaves at once; a killed one lapses with its TTL
                self.redis.delete(keys.worker_metrics(self.process))
                self.redis.srem(keys.worker_metrics_index(), self.process)
            except Exception:
                pass

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish()
            except Exception as exc:  # Redis away: the next beat writes again
                log.warning("writing worker metrics failed: %s", exc)
            self._stop.wait(self.beat)

    def publish(self) -> None:
        started = time.perf_counter()
        self.redis.ping()
        latency = time.perf_counter() - started
        for platform, count in list(self._gauges.items()):
            with self._lock:
                self._values[("sockethub_worker_connections", platform)] = float(count())
        with self._lock:
            fields = {f"{n}{_SEP}{p}": repr(v) for (n, p), v in self._values.items()}
        fields[f"sockethub_worker_redis_latency_seconds{_SEP}"] = repr(latency)
        fields["node"] = self.node
        key = keys.worker_metrics(self.process)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=fields)
        pipe.pexpire(key, int(self.beat * 3 * 1000))
        pipe.sadd(keys.worker_metrics_index(), self.process)
        pipe.execute()


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def read(redis: Any) -> list[tuple[str, str, str, float]]:
    """Every live process's series: (metric, node, platform, value); lapsed ones leave the
    index here."""
    members = sorted(_text(m) for m in redis.smembers(keys.worker_metrics_index()))
    pipe = redis.pipeline(transaction=False)
    for member in members:
        pipe.hgetall(keys.worker_metrics(member))
    rows: list[tuple[str, str, str, float]] = []
    gone = []
    for member, raw in zip(members, pipe.execute(), strict=True):
        if not raw:
            gone.append(member)
            continue
        fields = {_text(k): _text(v) for k, v in raw.items()}
        node = fields.pop("node", member.rsplit(":", 1)[0])
        for field, value in fields.items():
            name, _, platform = field.partition(_SEP)
            if name in WORKER_METRICS:
                rows.append((name, node, platform, float(value)))
    if gone:
        redis.srem(keys.worker_metrics_index(), *gone)
    return rows


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', "")


def render(rows: list[tuple[str, str, str, float]]) -> str:
    """The text format; two processes of one node (a restart's overlap) are summed."""
    summed: dict[tuple[str, str, str], float] = {}
    for name, node, platform, value in rows:
        key = (name, node, platform)
        if name in _NODE_ONLY:  # a gauge of the node: its worst process
            summed[key] = max(summed.get(key, 0.0), value)
        else:
            summed[key] = summed.get(key, 0.0) + value
    lines: list[str] = []
    for name, (kind, text) in WORKER_METRICS.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for (metric, node, platform), value in sorted(summed.items()):
            if metric != name:
                continue
            labels = f'node="{_esc(node)}"'
            if name not in _NODE_ONLY:
                platform, _, reason = platform.partition(_SEP)
                labels += f',platform="{_esc(platform)}"'
                if reason:
                    labels += f',reason="{_esc(reason)}"'
            lines.append(f"{name}{{{labels}}} {value:g}")
    return "\n".join(lines) + "\n"
