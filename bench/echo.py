"""Echo through the whole stack, against the bare Celery and Redis floors, in one run.

    python bench/echo.py [--requests 1000] [--clients 20] [--per-client 200] [--ws URL]

Prints one JSON line: p50_ms, p99_ms (sequential echo round trips through the WebSocket),
throughput_per_s and lost (20 concurrent clients), celery_p50_ms (a trivial task's send,
run and result), redis_p50_ms (a PING round trip), and our ratio to each.
Without --ws it starts its own stack (private Redis, a dummy worker, one gateway) and also
prints the server CPU time one request of the throughput phase cost, from /proc (user plus
system, every thread and child process): gateway_cpu_ms, worker_cpu_ms, redis_cpu_ms and
their sum cpu_ms_per_request. bench/profile.md says where that time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import redis
import websocket
from common import (
    bench_stack,
    connect,
    cpu_seconds,
    latency,
    ms,
    pct,
    race,
    report,
    server_pids,
)
from profiling import Profiler

from envelopes.context import context_for

CTX = context_for("dummy")


def frame(rid: str) -> str:
    return json.dumps(
        {
            "kind": "request",
            "id": rid,
            "activity": {
                "@context": CTX,
                "type": "echo",
                "actor": {"id": "bench", "type": "person"},
                "object": {"type": "message", "content": "ping"},
            },
        }
    )


def sequential(url: str, n: int) -> list[float]:
    ws = connect(url, 30)
    for i in range(50):  # warm up
        ws.send(frame(f"w{i}"))
        ws.recv()
    times = []
    for i in range(n):
        t = time.perf_counter()
        ws.send(frame(str(i)))
        reply = json.loads(ws.recv())
        times.append(time.perf_counter() - t)
        assert reply["id"] == str(i) and reply["status"] == "completed", reply
    ws.close()
    return times


def concurrent(url: str, clients: int, per_client: int) -> tuple[float, int]:
    """Each client pipelines up to 10 requests in flight; returns (replies/s, lost)."""
    lost = [0]
    got = [0]
    lock = threading.Lock()
    sockets = [connect(url, 30) for _ in range(clients)]

    def run(ws: websocket.WebSocket, c: int) -> None:
        sent = received = 0
        seen = set()
        ws.settimeout(15)
        while received < per_client:
            while sent < per_client and sent - received < 10:
                ws.send(frame(f"{c}-{sent}"))
                sent += 1
            try:
                reply = json.loads(ws.recv())
            except Exception:
                break
            if reply.get("kind") == "reply" and reply.get("status") == "completed":
                seen.add(reply["id"])
            received += 1
        with lock:
            got[0] += len(seen)
            lost[0] += per_client - len(seen)
        ws.close()

    elapsed = race(run, sockets)
    return got[0] / elapsed, lost[0]


def celery_floor(redis_url: str, n: int) -> list[float]:
    env = dict(os.environ, REDIS_URL=redis_url)
    here = os.path.dirname(os.path.abspath(__file__))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_floor",
            "worker",
            "-P",
            "threads",
            "-c",
            "4",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "-n",
            "floor@%h",
        ],
        cwd=here,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sys.path.insert(0, here)
        os.environ["REDIS_URL"] = redis_url
        import celery_floor as cf

        cf.app.conf.broker_url = cf.app.conf.result_backend = redis_url
        cf.echo.delay(0).get(timeout=60)  # waits for the worker to come up
        for _ in range(50):
            cf.echo.delay(0).get(timeout=10)
        times = []
        for i in range(n):
            t = time.perf_counter()
            cf.echo.delay(i).get(timeout=10)
            times.append(time.perf_counter() - t)
        return times
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def redis_floor(redis_url: str, n: int) -> list[float]:
    r = redis.Redis.from_url(redis_url)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r.ping()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=200)
    parser.add_argument("--ws", default=None, help="use a running gateway at this ws:// URL")
    parser.add_argument("--redis", default=None, help="its REDIS_URL (for the floors)")
    parser.add_argument(
        "--profile", default=None, help="py-spy the throughput phase into this folder"
    )
    args = parser.parse_args()
    stack = None
    cpu: dict[str, float] = {}
    if args.ws:
        url, redis_url = args.ws, args.redis or os.environ.get("REDIS_URL", "")
    else:
        stack = bench_stack()
        url, redis_url = stack.ws_url, stack.redis_url
    try:
        ours = sequential(url, args.requests)
        pids = server_pids(stack) if stack is not None else {}
        spy = Profiler(args.profile, pids, redis_url) if args.profile and pids else None
        if spy is not None:
            spy.start()
        before = {kind: cpu_seconds(p) for kind, p in pids.items()}
        throughput, lost = concurrent(url, args.clients, args.per_client)
        if spy is not None:
            print("profile:", spy.stop(), file=sys.stderr)
        n = args.clients * args.per_client
        cpu = {
            f"{kind}_cpu_ms": round((cpu_seconds(p) - before[kind]) * 1000 / n, 3)
            for kind, p in pids.items()
        }
        floor_celery = celery_floor(redis_url, args.requests)
        floor_redis = redis_floor(redis_url, args.requests)
    finally:
        if stack is not None:
            stack.stop()
    p50, c50, r50 = pct(ours, 50), pct(floor_celery, 50), pct(floor_redis, 50)
    report(
        {
            **latency("", ours),
            "throughput_per_s": round(throughput, 1),
            "lost": lost,
            **({"cpu_ms_per_request": round(sum(cpu.values()), 3), **cpu} if cpu else {}),
            "celery_p50_ms": ms(c50),
            "redis_p50_ms": ms(r50),
            "ratio_vs_celery": round(p50 / c50, 2),
            "ratio_vs_redis": round(p50 / r50, 2),
            "requests": args.requests,
            "clients": args.clients,
        }
    )


if __name__ == "__main__":
    main()
