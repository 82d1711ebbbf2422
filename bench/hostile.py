"""The gateway and a worker under hostile peers, in one run of about a minute.

    python bench/hostile.py (needs ngircd)

Three phases against one stack (private Redis, one IRC worker process, gateways), all on
127.0.0.1, each bounded in time:

1. A scripted hostile IRC server (``tests/servers/hostileirc.py``) floods three
   connections of the IRC worker (16 MB without a newline, 353s without end, NOTICEs
   without end) while a good connection of the same worker, to a real ngircd, sends a
   line every 0.1 s: its send-to-arrival at an independent IRC client, and the worker's
   resident memory growth.
2. 100 WebSockets that never read (4 KiB receive buffers, 1460-byte segments) while their
   sessions get events: the gateway process's resident memory growth.
3. One session sends poison frames (lone surrogates in content and id, junk text, binary
   junk, frames of 2 and 10 MiB) while 20 other sessions send requests no worker answers
   (no dummy worker runs; a 1 s request timeout): how late their ``timeout`` replies come.

Prints one JSON line: good_send_p50_ms, good_send_p99_ms, worker_rss_growth_mib,
gateway_rss_growth_mib, sweeper_stall_s (the longest lateness of a timeout reply past its
deadline beyond ``SWEEP_SLACK``: the sweeper's 0.25 s period and a loaded machine's
scheduling), and timeout_late_max_s (that lateness as measured).
"""

from __future__ import annotations

import json
import pathlib
import socket
import tempfile
import threading
import time
from typing import Any

import psutil
import websocket
from common import Client, Stack, activity, bench_stack, latency, log_in, report

from tests.servers.hostileirc import HostileIrcServer
from tests.servers.ircclient import RawIrcClient
from tests.servers.ircd import run_ngircd

FLOOD_SECONDS = 15.0
NEVER_READ = 100
POISON_SECONDS = 10.0
VICTIMS = 20
SWEEP_SLACK = 1.0  # lateness any timeout reply may have: 4 sweeper periods
SLOW = [
    (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
    (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460),
]


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (gunicorn's master and worker)."""
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def irc_actor(nick: str) -> dict[str, Any]:
    return {"id": f"{nick}@127.0.0.1", "type": "person", "name": nick}


def irc_creds(nick: str, port: int) -> dict[str, Any]:
    return {
        "type": "credentials",
        "nick": nick,
        "server": "127.0.0.1",
        "port": port,
        "secure": False,
    }


def drain(c: Client, stop: threading.Event) -> None:
    """Read and drop what a session gets, until ``stop`` or the socket closes."""
    c.ws.settimeout(0.5)
    while not stop.is_set():
        try:
            c.ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        except Exception:
            return


def flood_phase(stack: Stack, ircd: Any, hostile: HostileIrcServer) -> tuple[list[float], float]:
    """Send-to-arrival of the good connection's lines during the flood, and the worker's
    RSS growth (MiB)."""
    pid = stack.procs["worker-irc"].pid
    good = Client(stack.ws_url)
    me = irc_actor("good")
    room = {"id": "#bench@127.0.0.1", "type": "room", "name": "#bench"}
    reply = log_in(good, "irc", me, irc_creds("good", ircd.port), 30)
    assert reply["status"] == "completed", reply
    stop = threading.Event()
    readers = [threading.Thread(target=drain, args=(good, stop), daemon=True)]
    hostiles = []
    with RawIrcClient("127.0.0.1", ircd.port, "listener") as listener:
        listener.send("JOIN #bench")
        listener.wait_for(lambda ln: " 366 " in ln)
        assert good.request(activity("irc", "join", actor=me, target=room), 30)["status"] == (
            "completed"
        )
        readers[0].start()

        def send(i: int) -> float:
            text = f"g{i}"
            t = time.perf_counter()
            msg = {"type": "message", "content": text}
            good.send(activity("irc", "send", actor=me, target=room, object=msg))
            listener.wait_for(lambda ln: ln.endswith(f":{text}"), timeout=10)
            return time.perf_counter() - t

        for i in range(10):  # warm: the first lines are no flood's doing
            send(i)
        time.sleep(1)
        before = rss_mib(pid)
        for nick in ("flood1", "names1", "spam1"):
            c = Client(stack.ws_url)
            a = irc_actor(nick)
            c.send(activity("irc", "credentials", actor=a, object=irc_creds(nick, hostile.port)))
            c.send(activity("irc", "connect", actor=a))  # the reply may be a protocol-error
            hostiles.append(c)
            readers.append(threading.Thread(target=drain, args=(c, stop), daemon=True))
            readers[-1].start()
        times, peak = [], before
        end = time.monotonic() + FLOOD_SECONDS
        i = 10
        while time.monotonic() < end:
            times.append(send(i))
            peak = max(peak, rss_mib(pid))
            i += 1
            time.sleep(0.1)
    for c, nick in zip(hostiles, ("flood1", "names1", "spam1"), strict=True):
        c.send(activity("irc", "disconnect", actor=irc_actor(nick)))
    time.sleep(0.5)
    stop.set()
    for t in readers:
        t.join(2)
    for c in [good, *hostiles]:
        c.close()
    return times, peak - before


def never_read_phase(stack: Stack) -> float:
    """The gateway's RSS growth (MiB) while sockets that never read get events."""
    pid = stack.procs["web0"].pid
    slow = []
    for _ in range(NEVER_READ):
        ws = websocket.create_connection(
            stack.ws_url, timeout=30, suppress_origin=True, sockopt=SLOW
        )
        ws.send('{"kind":"hello"}')
        slow.append((ws, json.loads(ws.recv())["session"]))
    outbox = stack.outbox()
    time.sleep(1)
    before = peak = rss_mib(pid)
    body = "e" * 8192
    for n in range(160):  # about 1.3 MiB per socket: past its send buffer (1 MiB)
        for _ws, sid in slow:
            outbox.event(sid, {"type": "send", "object": {"type": "message", "content": body}})
        if n % 10 == 0:
            peak = max(peak, rss_mib(pid))
    for _ in range(10):
        time.sleep(0.2)
        peak = max(peak, rss_mib(pid))
    for ws, _sid in slow:
        ws.close()
    return peak - before


def poison(url: str, stop: threading.Event) -> int:
    """Poison frames on one session (a new one whenever the gateway closes it)."""
    echo = json.dumps(activity("dummy", "echo", object={"type": "message", "content": "X"}))
    frames: list[str | bytes] = [
        '{"kind":"request","id":"p1","activity":' + echo.replace('"X"', '"\\ud800"') + "}",
        '{"kind":"request","id":"\\udfff","activity":' + echo + "}",
        '{"kind":"request","id":"p2","activity":{"\\ud83d":1}}',
        "\x00not json {{{",
        b"\xff\xfe\x00 binary junk",
        "z" * (2 * 2**20),
        "z" * (10 * 2**20),
    ]
    sent = 0
    ws = None
    while not stop.is_set():
        frame = frames[sent % len(frames)]
        try:
            if ws is None:
                ws = websocket.create_connection(url, timeout=10, suppress_origin=True)
                ws.send('{"kind":"hello"}')
            if isinstance(frame, bytes):
                ws.send_binary(frame)
            else:
                ws.send(frame)
            sent += 1
            if len(frame) > 2**20:  # closed with 1009: start again
                ws.close()
                ws = None
        except Exception:
            ws = None
        time.sleep(0.05)
    if ws is not None:
        ws.close()
    return sent


def victim(url: str, stop: threading.Event, lateness: list[float]) -> None:
    """Requests no worker answers: each one's timeout reply, and how late it came."""
    c = Client(url)
    n = 0
    while not stop.is_set():
        rid = f"v{n}"
        n += 1
        due = time.time() + 1.0
        c.send(activity("dummy", "echo", object={"type": "message", "content": "hi"}), rid)
        try:
            reply = c.reply(rid, timeout=60)
        except TimeoutError:
            lateness.append(60.0)  # never answered: as late as we waited
            continue
        assert reply["status"] == "failed" and reply["error"]["code"] == "timeout", reply
        lateness.append(time.time() - due)
    c.close()


def poison_phase(stack: Stack) -> list[float]:
    port = stack.start_gateway(SOCKETHUB_REQUEST_TIMEOUT="1")
    url = f"ws://127.0.0.1:{port}/sockethub"
    stop, lateness = threading.Event(), []
    threads = [threading.Thread(target=poison, args=(url, stop), daemon=True)]
    for _ in range(VICTIMS):  # every gateway sweeps the same set: web0 answers some too
        threads.append(threading.Thread(target=victim, args=(url, stop, lateness), daemon=True))
    for t in threads:
        t.start()
    time.sleep(POISON_SECONDS)
    stop.set()
    for t in threads:
        t.join(70)
    return lateness


def main() -> None:
    with (
        run_ngircd(pathlib.Path(tempfile.mkdtemp())) as ircd,
        HostileIrcServer(interval=1.0) as hostile,
    ):
        # No dummy worker: dummy requests are the ones nobody answers (phase 3).
        stack = bench_stack(
            ("irc", "dummy"),
            workers=("irc",),
            SOCKETHUB_IRC_FLOOD_RATE="0",
            SOCKETHUB_REQUEST_TIMEOUT="30",
        )
        try:
            sends, worker_growth = flood_phase(stack, ircd, hostile)
            gateway_growth = never_read_phase(stack)
            lateness = poison_phase(stack)
        finally:
            stack.stop()
    late = max(lateness, default=float("nan"))
    report(
        {
            **latency("good_send_", sends),
            "worker_rss_growth_mib": round(worker_growth, 1),
            "gateway_rss_growth_mib": round(gateway_growth, 1),
            "sweeper_stall_s": round(max(0.0, late - SWEEP_SLACK), 2),
            "timeout_late_max_s": round(late, 2),
        }
    )


if __name__ == "__main__":
    main()
