"""WebSockets held by one gateway process, and what each costs.

    python bench/sockets.py [--sockets 2000]

Opens ``--sockets`` WebSockets (each with its own session) to ONE gateway process
(gunicorn, gevent worker), checks that every one of them still answers an echo, and
prints one JSON line: sockets, kib_per_socket (the gateway process's resident memory
growth per socket), open_per_s, echo_p50_ms and echo_p99_ms measured with all sockets
open.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time

from common import bench_stack, connect, latency, report, rss_kib

from envelopes.context import context_for

ECHO = {
    "@context": context_for("dummy"),
    "type": "echo",
    "actor": {"id": "bench", "type": "person"},
    "object": {"type": "message", "content": "ping"},
}


def gateway_worker_pid(master: int) -> int:
    """The gunicorn worker (the process holding the sockets) under ``master``."""
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=2000)
    args = parser.parse_args()
    # every socket is a descriptor here and in the gateway (which inherits this limit)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack = bench_stack(SOCKETHUB_LOG_LEVEL="WARNING")
    try:
        pid = gateway_worker_pid(stack.procs["web0"].pid)
        time.sleep(1)
        before = rss_kib(pid)
        sockets = []
        start = time.perf_counter()
        for _ in range(args.sockets):
            sockets.append(connect(stack.ws_url, timeout=30))
        opened = time.perf_counter() - start
        time.sleep(2)
        after = rss_kib(pid)
        times = []
        step = max(1, len(sockets) // 500)
        for i, ws in enumerate(sockets[::step]):
            t = time.perf_counter()
            ws.send(json.dumps({"kind": "request", "id": f"e{i}", "activity": ECHO}))
            reply = json.loads(ws.recv())
            times.append(time.perf_counter() - t)
            assert reply["status"] == "completed", reply
        for ws in sockets:
            ws.close()
    finally:
        stack.stop()
    report(
        {
            "sockets": len(sockets),
            "kib_per_socket": round((after - before) / len(sockets), 1),
            "open_per_s": round(len(sockets) / opened, 1),
            **latency("echo_", times),
        }
    )


if __name__ == "__main__":
    main()
