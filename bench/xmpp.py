"""XMPP through the whole stack against a local Prosody (TLS), in one run.

    python bench/xmpp.py [--sessions 200] [--sends 300]

Everything goes the way a browser's requests go: WebSocket → gateway → Redis/Celery →
ONE XMPP worker process (``sockethub worker xmpp``, its asyncio loop) → Prosody.

Prints one JSON line:
- sessions, kib_per_session: XMPP sessions (distinct accounts, STARTTLS with certificate
  verification, logged in, roster fetched, initial presence sent) opened through the
  gateway and held by that one worker process, and the growth of its resident memory per
  session;
- send_p50_ms, send_p99_ms: from a browser's ``send`` (a chat message) leaving the
  WebSocket to the message arriving at an independent XMPP client (plain slixmpp, on its
  own loop), with all the sessions above still connected.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import Client, Stack, activity, bench_stack, latency, log_in, ramp, report

from tests.servers.prosody import XmppServer, run_prosody
from tests.servers.xmpppeer import PlainClient


def actor(server: XmppServer, user: str) -> dict:
    return {"id": server.jid(user), "type": "person", "name": user}


def creds(server: XmppServer, user: str) -> dict:
    return {
        "type": "credentials",
        "userAddress": server.jid(user),
        "password": server.password(user),
        "resource": "bench",
        "server": server.host,
        "port": server.port,
    }


def sessions(stack: Stack, server: XmppServer, users: list[str]) -> tuple[int, float]:
    """Log every user in from one browser session; count the sessions that came up."""
    c = Client(stack.ws_url)
    warm = users[0]  # the first login loads what every later one shares (TLS context...)
    reply = log_in(c, "xmpp", actor(server, warm), creds(server, warm), timeout=60)
    assert reply["status"] == "completed"
    logins = [(actor(server, user), creds(server, user)) for user in users[1:]]
    up, kib = ramp(stack, c, "xmpp", logins)
    c.close()
    return up + 1, kib


def send_latency(stack: Stack, server: XmppServer, sender: str, count: int) -> list[float]:
    c = Client(stack.ws_url)
    a = actor(server, sender)
    log_in(c, "xmpp", a, creds(server, sender), timeout=60)
    sink = PlainClient(server, "sink", "bench")
    arrived: dict[str, float] = {}
    cond = threading.Condition()

    def seen(msg: object) -> None:
        with cond:
            arrived[str(msg["body"])] = time.perf_counter()  # type: ignore[index]
            cond.notify_all()

    sink.do(lambda: sink.xmpp.add_event_handler("message", seen))
    target = {"id": server.jid("sink"), "type": "person"}
    times = []
    try:
        for i in range(count + 20):  # the first 20 warm up
            text = f"m{i}"
            t = time.perf_counter()
            c.send(
                activity(
                    "xmpp",
                    "send",
                    actor=a,
                    target=target,
                    object={"type": "message", "content": text},
                )
            )
            with cond:
                if not cond.wait_for(lambda text=text: text in arrived, timeout=10):
                    raise TimeoutError(f"{text} did not arrive")
            if i >= 20:
                times.append(arrived[text] - t)
    finally:
        sink.close()
        c.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    users = [f"bench{i}" for i in range(args.sessions)]
    with run_prosody(pathlib.Path(tempfile.mkdtemp()), users=("sink", "sender")) as server:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(server.register, users))
        stack = bench_stack(
            ("xmpp",), SSL_CERT_FILE=str(server.ca_file), SOCKETHUB_REQUEST_TIMEOUT="120"
        )
        try:
            up, kib = sessions(stack, server, users)
            sends = send_latency(stack, server, "sender", args.sends)
        finally:
            stack.stop()
    report({"sessions": up, "kib_per_session": round(kib, 1), **latency("send_", sends)})


if __name__ == "__main__":
    main()
