"""Shared bits of the benchmarks: the stack they run against, sessions through it, worker
memory, percentiles and the one JSON line each prints."""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import websocket  # noqa: E402

from tests.stack import Stack  # noqa: E402
from tests.wsclient import Client, activity  # noqa: E402

__all__ = [
    "Client",
    "Stack",
    "activity",
    "bench_stack",
    "connect",
    "cpu_seconds",
    "descendants",
    "latency",
    "log_in",
    "ms",
    "pct",
    "race",
    "ramp",
    "report",
    "rss_kib",
    "server_pids",
]

# The gateway's per-session rate limit is for browsers, not for a benchmark.
UNLIMITED = {
    "SOCKETHUB_RATE_LIMIT": "100000",
    "SOCKETHUB_RATE_BURST": "100000",
    "SOCKETHUB_MAX_SOCKETS_PER_ADDRESS": "0",
    "SOCKETHUB_NEW_SESSIONS_PER_MINUTE": "0",
    "SOCKETHUB_LOG_LEVEL": "WARNING",
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


median = statistics.median


def latency(prefix: str, times: list[float]) -> dict[str, float]:
    """``{prefix}p50_ms`` and ``{prefix}p99_ms`` of ``times`` (seconds)."""
    return {f"{prefix}p50_ms": ms(pct(times, 50)), f"{prefix}p99_ms": ms(pct(times, 99))}


def report(figures: dict[str, Any]) -> None:
    """Print the run's figures: one JSON line."""
    print(json.dumps(figures))


def bench_stack(
    platforms: tuple[str, ...] = ("dummy",), workers: tuple[str, ...] | None = None, **env: str
) -> Stack:
    """A started stack (private Redis, a worker per platform of ``workers``, default all,
    one gateway serving every platform), unthrottled.

    Workers log at WARNING unless ``env`` says otherwise, as ``sockethub`` runs them:
    Celery's per-task INFO lines would be part of every CPU figure."""
    from gateway.cli import start_private_redis

    stack = Stack(platforms=platforms, env_overrides={**UNLIMITED, **env}, quiet_workers=True)
    stack._redis_proc, stack.redis_url, _ = start_private_redis()
    try:
        for platform in platforms if workers is None else workers:
            stack.start_worker(platform)
        stack.start_gateway()
    except BaseException:
        stack.stop()
        raise
    return stack


def connect(url: str, timeout: float) -> websocket.WebSocket:
    """A raw WebSocket to the gateway, its session opened (hello answered)."""
    ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
    ws.send('{"kind":"hello"}')
    json.loads(ws.recv())
    return ws


def race(work: Callable[[websocket.WebSocket, int], None], sockets: Sequence[Any]) -> float:
    """``work(ws, i)`` in a thread per socket, all let go at once; returns the seconds from
    then until the last one has finished."""
    barrier = threading.Barrier(len(sockets) + 1)

    def run(ws: websocket.WebSocket, i: int) -> None:
        barrier.wait()
        work(ws, i)

    threads = [threading.Thread(target=run, args=(ws, i)) for i, ws in enumerate(sockets)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid``, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


_TICK = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (gunicorn's worker, a Celery pool's
    children), found by each process's parent in /proc."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone since listed
        parents.setdefault(ppid, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, ()))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU time of ``pids`` so far, every thread of each included (the
    kernel sums a process's threads in /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited: its time is lost to the figure, not double counted
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICK


def server_pids(stack: Stack) -> dict[str, list[int]]:
    """The stack's server processes by kind: ``gateway``, ``worker``, ``redis``."""
    kinds: dict[str, list[int]] = {"gateway": [], "worker": [], "redis": []}
    for name, proc in stack.procs.items():
        kind = "worker" if name.startswith("worker") else "gateway"
        kinds[kind].extend(descendants(proc.pid))
    if stack._redis_proc is not None:
        kinds["redis"].append(stack._redis_proc.pid)
    return kinds


def log_in(c: Client, platform: str, actor: dict, creds: dict, timeout: float) -> dict:
    """Store ``creds`` for ``actor``, then connect; returns the connect reply."""
    c.request(activity(platform, "credentials", actor=actor, object=creds))
    return c.request(activity(platform, "connect", actor=actor), timeout=timeout)


def ramp(
    stack: Stack, c: Client, platform: str, logins: Iterable[tuple[dict, dict]]
) -> tuple[int, float]:
    """Connect every (actor, credentials) of ``logins`` from the session ``c``, all sent
    before any reply is awaited; returns how many came up, and the growth of the
    platform's worker's resident memory per connection (KiB)."""
    pid = stack.procs[f"worker-{platform}"].pid
    time.sleep(1)
    before = rss_kib(pid)
    rids = []
    for a, creds in logins:
        c.send(activity(platform, "credentials", actor=a, object=creds))
        rids.append(c.send(activity(platform, "connect", actor=a)))
    replies = [c.reply(r, timeout=120) for r in rids]
    up = sum(1 for r in replies if r["status"] == "completed")
    failed = [r for r in replies if r["status"] != "completed"]
    if failed:
        print("first failure:", json.dumps(failed[0]["error"]), file=sys.stderr)
    time.sleep(2)
    after = rss_kib(pid)
    return up, (after - before) / max(1, up)
