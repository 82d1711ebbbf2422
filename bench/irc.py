"""IRC through the whole stack against a local ngircd, in one run.

    python bench/irc.py [--connections 500] [--sends 300] [--events 2000]

Prints one JSON line:
- connections, kib_per_connection: IRC connections opened through the gateway and held by
  ONE worker process, and that process's resident memory growth per connection;
- send_p50_ms, send_p99_ms: from a browser ``send`` leaving the WebSocket to the line
  arriving at an independent IRC client (flood control off);
- events_per_s: channel messages from IRC delivered as events to browser sessions.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import threading
import time

from common import Client, Stack, activity, bench_stack, latency, log_in, ramp, report

from tests.servers.ircclient import RawIrcClient
from tests.servers.ircd import run_ngircd


def actor(nick: str, host: str) -> dict:
    return {"id": f"{nick}@{host}", "type": "person", "name": nick}


def creds(nick: str, ircd) -> dict:
    return {
        "type": "credentials",
        "nick": nick,
        "server": ircd.host,
        "port": ircd.port,
        "secure": False,
    }


def connections(stack: Stack, ircd, n: int) -> tuple[int, float]:
    """Open ``n`` connections from one session (one actor each) and count the ones up."""
    c = Client(stack.ws_url)
    nicks = [f"bench{i}" for i in range(n)]
    up, kib = ramp(stack, c, "irc", [(actor(nick, ircd.host), creds(nick, ircd)) for nick in nicks])
    c.close()
    return up, kib


def send_latency(stack: Stack, ircd, count: int) -> list[float]:
    c = Client(stack.ws_url)
    a = actor("sender", ircd.host)
    room = {"id": f"#bench@{ircd.host}", "type": "room", "name": "#bench"}
    log_in(c, "irc", a, creds("sender", ircd), timeout=30)
    times = []
    with RawIrcClient(ircd.host, ircd.port, "listener") as w:
        w.send("JOIN #bench")
        w.wait_for(lambda ln: " 366 " in ln)
        c.request(activity("irc", "join", actor=a, target=room), timeout=30)
        for i in range(count):
            text = f"m{i}"
            t = time.perf_counter()
            c.send(
                activity(
                    "irc", "send", actor=a, target=room, object={"type": "message", "content": text}
                )
            )
            w.wait_for(lambda ln, text=text: ln.endswith(f":{text}"), timeout=10)
            times.append(time.perf_counter() - t)
    c.close()
    return times


def events_rate(stack: Stack, ircd, count: int, sessions: int = 10) -> float:
    clients = []
    room = {"id": f"#events@{ircd.host}", "type": "room", "name": "#events"}
    for i in range(sessions):
        c = Client(stack.ws_url)
        a = actor(f"reader{i}", ircd.host)
        log_in(c, "irc", a, creds(f"reader{i}", ircd), timeout=30)
        c.request(activity("irc", "join", actor=a, target=room), timeout=30)
        clients.append(c)
    got = [0] * sessions
    done = threading.Event()

    def read(i: int, c: Client) -> None:
        c.ws.settimeout(30)
        while got[i] < count:
            frame = json.loads(c.ws.recv())
            if frame.get("kind") == "event" and frame["activity"].get("type") == "send":
                got[i] += 1
        if all(g >= count for g in got):
            done.set()

    threads = [
        threading.Thread(target=read, args=(i, c), daemon=True) for i, c in enumerate(clients)
    ]
    with RawIrcClient(ircd.host, ircd.port, "talker") as w:
        w.send("JOIN #events")
        w.wait_for(lambda ln: " 366 " in ln)
        for t in threads:
            t.start()
        start = time.perf_counter()
        for i in range(count):
            w.send(f"PRIVMSG #events :e{i}")
        done.wait(120)
        elapsed = time.perf_counter() - start
    for c in clients:
        c.close()
    return sum(got) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with run_ngircd(pathlib.Path(tempfile.mkdtemp())) as ircd:
        # A send buffer far above the default: this measures throughput, and the bench's
        # Python readers parse slower than a burst of 2000 events arrives (with the 256 KiB
        # default they are closed with 4008 and would resume; this bench does not).
        stack = bench_stack(
            ("irc",),
            SOCKETHUB_IRC_FLOOD_RATE="0",
            SOCKETHUB_REQUEST_TIMEOUT="120",
            SOCKETHUB_SEND_BUFFER_BYTES=str(16 << 20),
        )
        try:
            up, kib = connections(stack, ircd, args.connections)
            sends = send_latency(stack, ircd, args.sends)
            rate = events_rate(stack, ircd, args.events)
        finally:
            stack.stop()
    report(
        {
            "connections": up,
            "kib_per_connection": round(kib, 1),
            **latency("send_", sends),
            "events_per_s": round(rate, 1),
        }
    )


if __name__ == "__main__":
    main()
