"""WebSockets held by one gateway process, and what each costs, idle and busy.

    python bench/sockets.py [--sockets 2000] [--rounds 5] [--plain]

Opens ``--sockets`` WebSockets (each with its own session) to ONE gateway process
(gunicorn, gevent worker), after one warm-up echo, and measures the process's resident
memory growth per socket twice: idle (every session opened, nothing since) and busy
(after ``--rounds`` rounds in which every socket sends an echo request and reads its
reply, all sockets in flight at once). The clients negotiate as browsers do (they offer
permessage-deflate, see ``tests/browserws.py``); ``--plain`` uses websocket-client, which
offers no extension. Prints one JSON line: sockets, kib_per_socket_idle,
kib_per_socket_busy, open_per_s, echo_p50_ms and echo_p99_ms (one echo at a time, all
sockets open), and the extensions the gateway accepted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from typing import Any

from common import bench_stack, latency, report, rss_kib

from envelopes.context import context_for
from tests.browserws import BrowserWS

ECHO = {
    "@context": context_for("dummy"),
    "type": "echo",
    "actor": {"id": "bench", "type": "person"},
    "object": {"type": "message", "content": "ping " * 40},
}


def gateway_worker_pid(master: int) -> int:
    """The gunicorn worker (the process holding the sockets) under ``master``."""
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def open_socket(url: str, plain: bool) -> Any:
    if plain:
        import websocket

        ws: Any = websocket.create_connection(url, timeout=30, suppress_origin=True)
    else:
        ws = BrowserWS(url, timeout=30)
    ws.send('{"kind":"hello"}')
    json.loads(ws.recv())
    return ws


def warm_up(url: str, plain: bool) -> None:
    """One echo on one socket: gunicorn loads the app in its worker only when the first
    request comes (after the port opens), and those imports are no socket's cost."""
    ws = open_socket(url, plain)
    echo_round([ws], "warm")
    ws.close()


def echo_round(sockets: list[Any], tag: str) -> None:
    """One echo on every socket, all sent before any reply is read."""
    for i, ws in enumerate(sockets):
        ws.send(json.dumps({"kind": "request", "id": f"{tag}-{i}", "activity": ECHO}))
    for ws in sockets:
        reply = json.loads(ws.recv())
        assert reply.get("status") == "completed", reply


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="websocket-client, no deflate")
    args = parser.parse_args()
    # every socket is a descriptor here and in the gateway (which inherits this limit)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack = bench_stack(SOCKETHUB_LOG_LEVEL="WARNING")
    try:
        pid = gateway_worker_pid(stack.procs["web0"].pid)
        warm_up(stack.ws_url, args.plain)
        time.sleep(1)
        before = rss_kib(pid)
        sockets = []
        start = time.perf_counter()
        for _ in range(args.sockets):
            sockets.append(open_socket(stack.ws_url, args.plain))
        opened = time.perf_counter() - start
        time.sleep(2)
        idle = rss_kib(pid)
        for r in range(args.rounds):
            echo_round(sockets, f"b{r}")
        time.sleep(2)
        busy = rss_kib(pid)
        times = []
        step = max(1, len(sockets) // 500)
        for i, ws in enumerate(sockets[::step]):
            t = time.perf_counter()
            ws.send(json.dumps({"kind": "request", "id": f"e{i}", "activity": ECHO}))
            reply = json.loads(ws.recv())
            times.append(time.perf_counter() - t)
            assert reply["status"] == "completed", reply
        extensions = getattr(sockets[0], "extensions", [])
        for ws in sockets:
            ws.close()
    finally:
        stack.stop()
    n = len(sockets)
    report(
        {
            "sockets": n,
            "kib_per_socket_idle": round((idle - before) / n, 1),
            "kib_per_socket_busy": round((busy - before) / n, 1),
            "open_per_s": round(n / opened, 1),
            **latency("echo_", times),
            "extensions": extensions,
        }
    )


if __name__ == "__main__":
    main()
