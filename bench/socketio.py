"""Echo through Socket.IO (websocket transport) against our raw WebSocket, in one run.

    python bench/socketio.py [--requests 1000] [--clients 20] [--per-client 200]

Starts its own stack (private Redis, a dummy worker, one gateway) and prints one JSON line:
sio_p50_ms, sio_p99_ms (sequential echo acks through python-socketio's client over the
websocket transport), ws_p50_ms (the same echo through our raw WebSocket, same stack,
taken in turns with the Socket.IO ones so both see the same machine),
sio_throughput_per_s and lost (20 concurrent Socket.IO clients, up to 10 acks
outstanding each), and sio_over_ws (the p50 ratio; the goal is 1.3 or less).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

# This file's own folder first on sys.path would make ``import socketio`` import this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import socketio  # noqa: E402  (python-socketio, the library)

sys.path.insert(0, _HERE)
from common import bench_stack, connect, latency, ms, pct, race, report  # noqa: E402
from echo import frame  # noqa: E402

from envelopes.context import context_for  # noqa: E402

CTX = context_for("dummy")


def activity(content: str) -> dict[str, Any]:
    return {
        "@context": CTX,
        "type": "echo",
        "actor": {"id": "bench", "type": "person"},
        "object": {"type": "message", "content": content},
    }


def client(base: str) -> socketio.Client:
    c = socketio.Client(reconnection=False)
    c.connect(base, socketio_path="sockethub", transports=["websocket"], wait_timeout=30)
    return c


def paired(ws_url: str, base: str, n: int) -> tuple[list[float], list[float]]:
    """Sequential echo round trips, one through each protocol in turn, so that the load
    of a shared machine falls on both alike; returns (Socket.IO, raw WebSocket) times."""
    c = client(base)
    ws = connect(ws_url, 30)
    for i in range(50):  # warm up both
        c.call("message", activity(f"w{i}"), timeout=10)
        ws.send(frame(f"w{i}"))
        ws.recv()
    sio_times, ws_times = [], []
    for i in range(n):
        t = time.perf_counter()
        ack = c.call("message", activity(str(i)), timeout=10)
        sio_times.append(time.perf_counter() - t)
        assert ack["object"]["content"] == str(i) and "error" not in ack, ack
        t = time.perf_counter()
        ws.send(frame(str(i)))
        reply = json.loads(ws.recv())
        ws_times.append(time.perf_counter() - t)
        assert reply["id"] == str(i) and reply["status"] == "completed", reply
    c.disconnect()
    ws.close()
    return sio_times, ws_times


def sio_concurrent(base: str, clients: int, per_client: int) -> tuple[float, int]:
    """Each client keeps up to 10 acks outstanding; returns (acks/s, lost)."""
    got = [0]
    lock = threading.Lock()
    socks = [client(base) for _ in range(clients)]

    def run(c: socketio.Client, n: int) -> None:
        window = threading.Semaphore(10)
        done = threading.Event()
        seen: set[str] = set()
        mine = threading.Lock()

        def acked(ack: Any) -> None:
            with mine:
                if isinstance(ack, dict) and "error" not in ack:
                    seen.add(ack["object"]["content"])
                if len(seen) >= per_client:
                    done.set()
            window.release()

        for i in range(per_client):
            if not window.acquire(timeout=15):
                break
            c.emit("message", activity(f"{n}-{i}"), callback=acked)
        done.wait(15)
        with lock:
            got[0] += len(seen)
        c.disconnect()

    elapsed = race(run, socks)
    return got[0] / elapsed, clients * per_client - got[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=200)
    args = parser.parse_args()
    stack = bench_stack()
    try:
        sio, ws = paired(stack.ws_url, stack.url, args.requests)
        throughput, lost = sio_concurrent(stack.url, args.clients, args.per_client)
    finally:
        stack.stop()
    report(
        {
            **latency("sio_", sio),
            "ws_p50_ms": ms(pct(ws, 50)),
            "sio_throughput_per_s": round(throughput, 1),
            "lost": lost,
            "sio_over_ws": round(pct(sio, 50) / pct(ws, 50), 2),
        }
    )


if __name__ == "__main__":
    main()
