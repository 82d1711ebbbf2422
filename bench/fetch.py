"""Feed fetches through the whole stack, with the shared cache warm and cold, in one run.

    python bench/fetch.py [--requests 2000] [--cold-requests 400] [--clients 20]

Prints one JSON line: warm_per_s (one feed, already cached: answered from Redis without
asking upstream), cold_per_s (a different URL each time: every fetch goes upstream, to a
local web server), upstream_requests_for_100_sessions (100 WebSocket sessions asking for
one uncached feed at once; the goal is 1), with p50 latencies of each phase.
It starts its own stack (private Redis, a feeds worker, one gateway) and a local web
server on 127.0.0.1 serving the test fixtures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections.abc import Callable

import websocket
from common import bench_stack, connect, ms, pct, race, report

from envelopes.context import context_for
from tests.connectors.fixtureserver import FixtureServer

CTX = context_for("feeds")
FEED = "/feeds/v/{n}/rss20.xml"


def frame(rid: str, url: str) -> str:
    return json.dumps(
        {
            "kind": "request",
            "id": rid,
            "activity": {"@context": CTX, "type": "fetch", "actor": {"id": url, "type": "feed"}},
        }
    )


def run(ws_url: str, clients: int, total: int, url_for: Callable[[int], str]) -> dict:
    """``total`` fetches over ``clients`` sessions, each with up to 8 in flight."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    sockets = [connect(ws_url, 60) for _ in range(clients)]

    def client(ws: websocket.WebSocket, c: int) -> None:
        sent_at: dict[str, float] = {}
        done = False
        while True:
            while not done and len(sent_at) < 8:
                with lock:
                    i = next(counter)
                if i >= total:
                    done = True
                    break
                rid = f"{c}-{i}"
                sent_at[rid] = time.perf_counter()
                ws.send(frame(rid, url_for(i)))
            if not sent_at:
                break
            reply = json.loads(ws.recv())
            if reply.get("kind") != "reply":
                continue
            started = sent_at.pop(reply["id"])
            with lock:
                latencies.append(time.perf_counter() - started)
                if reply["status"] != "completed":
                    failures.append(reply["error"]["code"])
        ws.close()

    elapsed = race(client, sockets)
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": ms(pct(latencies, 50)),
        "failed": len(failures),
        "codes": sorted(set(failures)),
    }


def stampede(ws_url: str, web: FixtureServer, sessions: int) -> int:
    """``sessions`` sessions ask for one uncached (and slow: 0.3 s) feed at the same time."""
    path = FEED.format(n="stampede")
    url = web.url(path + "?delay=0.3")
    sockets = [connect(ws_url, 60) for _ in range(sessions)]
    ok = [0]
    lock = threading.Lock()

    def one(ws: websocket.WebSocket, i: int) -> None:
        ws.send(frame(f"s{i}", url))
        while True:
            reply = json.loads(ws.recv())
            if reply.get("kind") == "reply":
                break
        with lock:
            ok[0] += reply["status"] == "completed"
        ws.close()

    race(one, sockets)
    assert ok[0] == sessions, f"only {ok[0]} of {sessions} sessions got their feed"
    return web.hits[path]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="warm fetches")
    parser.add_argument("--cold-requests", type=int, default=400, help="cold fetches")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    web = FixtureServer()
    stack = bench_stack(("feeds",))
    try:
        warm_url = web.url(FEED.format(n="warm"))
        run(stack.ws_url, 1, 1, lambda i: warm_url)  # fill the cache
        run(stack.ws_url, args.clients, 200, lambda i: warm_url)  # warm up the workers
        warm = run(stack.ws_url, args.clients, args.requests, lambda i: warm_url)
        cold = run(
            stack.ws_url,
            args.clients,
            args.cold_requests,
            lambda i: web.url(FEED.format(n=f"cold-{i}")),
        )
        cold_upstream = sum(n for p, n in web.hits.items() if "/cold-" in p)
        upstream = stampede(stack.ws_url, web, args.sessions)
    finally:
        stack.stop()
        web.stop()
    report(
        {
            "warm_per_s": warm["per_s"],
            "cold_per_s": cold["per_s"],
            "upstream_requests_for_100_sessions": upstream,
            "warm_p50_ms": warm["p50_ms"],
            "cold_p50_ms": cold["p50_ms"],
            "cold_upstream_requests": cold_upstream,
            "failed": warm["failed"] + cold["failed"],
            "requests": args.requests,
            "cold_requests": args.cold_requests,
            "clients": args.clients,
            "sessions": args.sessions,
            "worker_concurrency": 4,
        }
    )


if __name__ == "__main__":
    main()
