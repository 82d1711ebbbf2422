"""Counters of one gateway process, served at ``/metrics`` in Prometheus' text format.

Per process: scrape every gateway process (or sum them) for the deployment's figures.
Queue depths come from Redis at scrape time, so they are the deployment's own.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

__all__ = ["Metrics", "GAUGES", "metric_names"]

_HELP = {
    "sockethub_requests_total": ("counter", "Requests handed to a platform's workers."),
    "sockethub_refusals_total": ("counter", "Frames answered with a failed reply by the gateway."),
    "sockethub_frames_sent_total": ("counter", "Replies and events sent to browsers."),
    "sockethub_sessions_started_total": ("counter", "New sessions."),
    "sockethub_sessions_resumed_total": ("counter", "Sessions resumed after a dropped socket."),
    "sockethub_sessions_ended_total": ("counter", "Sessions ended by their browser (`end`)."),
    "sockethub_sockets_behind_total": (
        "counter",
        "Sockets closed with 4008: too far behind (SOCKETHUB_SEND_BUFFER_BYTES).",
    ),
    "sockethub_frames_dropped_total": (
        "counter",
        "Frames dropped without a reply, by reason (rate-limited: deep over the limit).",
    ),
    "sockethub_http_actions_total": (
        "counter",
        "HTTP actions answered (POST, GET replays, refusals), by status code.",
    ),
    "sockethub_sockets_refused_total": (
        "counter",
        "Sockets closed with 1008 before they got a session, by reason.",
    ),
}

# Read at scrape time by ``Hub.metrics_text``.
GAUGES = {
    "sockethub_up": "1 while this gateway reaches Redis.",
    "sockethub_sessions": "Sockets open on this gateway process.",
    "sockethub_redis_latency_seconds": "The gateway's Redis round trip, at scrape time.",
    "sockethub_queue_depth": "Tasks waiting in each platform's queue.",
}


def metric_names() -> set[str]:
    """Every series name ``/metrics`` can serve (deploy/'s dashboard and alerts use these)."""
    from envelopes.workermetrics import WORKER_METRICS

    return set(_HELP) | set(GAUGES) | set(WORKER_METRICS)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), "")}"' for k, v in pairs
    )
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] += amount

    def value(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._counts[(name, tuple(sorted(labels.items())))]

    def render(self, gauges: dict[str, list[tuple[dict[str, str], float]]]) -> str:
        """The text exposition format; ``gauges`` are read at scrape time by the caller."""
        with self._lock:
            counts = dict(self._counts)
        lines: list[str] = []
        for name, (kind, text) in _HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            rows = [(labels, n) for (metric, labels), n in counts.items() if metric == name]
            for labels, n in sorted(rows) or [((), 0)]:
                lines.append(f"{name}{_labels(labels)} {n}")
        for gauge, values in gauges.items():
            lines.append(f"# TYPE {gauge} gauge")
            for names, value in values:
                lines.append(f"{gauge}{_labels(names.items())} {value:g}")
        return "\n".join(lines) + "\n"
