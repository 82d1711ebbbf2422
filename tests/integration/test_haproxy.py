"""deploy/haproxy/haproxy.cfg in front of two real gateway processes, and a drain.

The shipped file runs as shipped but for ports, certificate, stats socket and a faster
health-check pace (tests/servers/haproxy.py). Browsers speak to HAProxy over TLS only.
When one gateway is told to stop, its /healthz says 503 at once, HAProxy takes it out, and
only then are its sockets closed with 1001: they resume through HAProxy on the other
gateway, with every event and every reply there, each once.
"""

from __future__ import annotations

import http.client
import itertools
import json
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from tests.loadclient import EchoSession
from tests.servers.haproxy import HAProxy, running
from tests.stack import Stack
from tests.wsclient import Client

pytestmark = pytest.mark.integration

DRAIN = 3.0  # seconds; HAProxy's checks here: every 0.3 s, down after 2 failures
INSECURE = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
MSG = {"type": "message", "content": "hi"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, HAProxy]]:
    stack = Stack(env_overrides={"SOCKETHUB_DRAIN_SECONDS": str(DRAIN)}).start()
    try:
        stack.start_gateway()
        with running(tmp_path_factory.mktemp("haproxy"), stack.gateways, inter_ms=300) as proxy:
            for name in ("gw1", "gw2"):
                proxy.wait_status(name, "UP")
            yield stack, proxy
    finally:
        stack.stop()


def _https(port: int, path: str) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def _direct(port: int, path: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read().decode()
        return answer.status, (json.loads(body) if path == "/healthz" else {"text": body})
    finally:
        conn.close()


def test_metrics_are_not_reachable_through_haproxy(fleet):
    stack, proxy = fleet
    for port in stack.gateways:
        assert _direct(port, "/metrics")[0] == 200  # each gateway serves its own
    for path in ("/metrics", "/metrics/", "/metrics?x=1", "//metrics", "/%6detrics"):
        status, body = _https(proxy.https_port, path)
        assert status == 404 and "sockethub_" not in body, path
    status, body = _https(proxy.https_port, "/healthz")  # from loopback: allowed
    assert status == 200 and json.loads(body)["status"] == "ok"


def _inject(stack: Stack, sids: list[str], stop: threading.Event, sent: list[int]) -> None:
    outbox = stack.outbox()
    for i in itertools.count():
        if stop.is_set():
            return
        for sid in sids:
            content = MSG | {"content": str(i)}
            event = {"type": "send", "actor": {"id": "upstream"}, "object": content}
            assert outbox.event(sid, event) > 0
        sent[0] = i + 1
        time.sleep(0.1)


def test_socket_io_long_polling_through_haproxy_stays_on_one_gateway(fleet, monkeypatch):
    """(Before the drain test, which stops a gateway.) The real socket.io-client, polling
    only, through the shipped HAProxy file in front of two gateways: every request of an
    Engine.IO session must reach the process that made it (another answers ``400 Invalid
    session`` and the client starts over)."""
    from tests.integration.test_socketio import dummy
    from tests.sioclient import SioClient

    stack, proxy = fleet
    monkeypatch.setenv("SIO_INSECURE", "1")  # the test's self-signed certificate
    url = f"https://127.0.0.1:{proxy.https_port}"
    before = [_sessions_started(port) for port in stack.gateways]
    clients = [SioClient(url, "polling", upgrade=False) for _ in range(6)]
    try:
        for round_ in range(5):
            for i, c in enumerate(clients):
                got = c.emit("message", dummy("echo", f"c{i}r{round_}"))
                assert got["object"]["content"] == f"c{i}r{round_}", got
        for c in clients:
            kinds = [m["type"] for m in c.seen]
            assert kinds.count("connect") == 1 and "disconnect" not in kinds, c.seen[:6]
            assert c.connected["transport"] == "polling"
        # New Engine.IO sessions are spread over both gateways, so the test means something.
        grew = [_sessions_started(p) - b for p, b in zip(stack.gateways, before, strict=True)]
        assert sum(grew) == 6 and all(g > 0 for g in grew), grew
    finally:
        for c in clients:
            c.close()


def test_a_stopping_gateway_drains_and_its_sessions_resume_on_the_other(fleet):
    stack, proxy = fleet
    url = f"wss://127.0.0.1:{proxy.https_port}/sockethub"
    browsers = [EchoSession(url, sslopt=INSECURE) for _ in range(8)]
    # leastconn spreads the sockets over both gateways.
    held = [_direct(port, "/healthz")[1]["sessions"] for port in stack.gateways]
    assert all(n > 0 for n in held) and sum(held) == 8, held

    stop, stop_events, sent = threading.Event(), threading.Event(), [0]
    threads = [threading.Thread(target=b.run, args=(stop,), daemon=True) for b in browsers]
    sids = [b.sid for b in browsers]
    injector = threading.Thread(target=_inject, args=(stack, sids, stop_events, sent))
    for t in [*threads, injector]:
        t.start()
    time.sleep(1.0)

    stopped = time.monotonic()
    stack.procs["web1"].send_signal(signal.SIGTERM)
    deadline = time.monotonic() + DRAIN / 2
    while (status := _direct(stack.gateways[1], "/healthz"))[0] != 503:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status[1]["status"] == "draining"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Client(stack.ws_url_of(1))  # no new socket while draining
    assert refused.value.status_code == 503
    out = proxy.wait_status("gw2", "DOWN", timeout=DRAIN)
    assert out < DRAIN - 0.5, f"HAProxy took gw2 out {out:.1f} s after SIGTERM"
    # A socket opened now goes to the gateway that stays.
    late = Client(url, sslopt=INSECURE)

    stack.procs["web1"].wait(timeout=DRAIN + 15)
    time.sleep(1.0)
    for b in browsers:
        b.sending = False
    stop_events.set()
    injector.join(10)
    wait_until = time.monotonic() + 20
    while time.monotonic() < wait_until and any(
        b.unanswered or len(b.events) < sent[0] for b in browsers
    ):
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(10)
    for b in browsers:
        assert b.error is None, repr(b.error)

    moved = [b for b in browsers if b.closes]
    assert len(moved) == held[1], "every socket of the stopped gateway was closed, no other"
    for b in moved:
        ((when, code),) = b.closes
        assert code == 1001
        assert when - stopped >= DRAIN - 0.5, "closed only after the drain"
        assert b.resumed == [True]
    assert _direct(stack.gateways[0], "/healthz")[1]["sessions"] == 9  # all here, and `late`
    late.close()
    for b in browsers:
        assert b.unanswered == [], f"unanswered after the handover: {b.unanswered}"
        assert all(statuses == ["completed"] for statuses in b.replies.values()), b.replies
        # Each event once, in order, none missing: the ones sent while it moved included.
        got = [int(c) for c in b.events]
        assert got == list(range(sent[0])), (got[-3:], sent)


def test_a_socket_refused_by_a_draining_gateway_is_sent_to_another(tmp_path_factory):
    # Before the health check has seen it (checks every 10 s here), a draining gateway
    # still gets new sockets from HAProxy: it answers 503, and HAProxy tries another.
    stack = Stack(env_overrides={"SOCKETHUB_DRAIN_SECONDS": "8"}).start()
    try:
        stack.start_gateway()
        with running(tmp_path_factory.mktemp("haproxy"), stack.gateways, inter_ms=10000) as proxy:
            assert _direct(stack.gateways[1], "/healthz")[0] == 200  # its worker is serving
            stack.procs["web1"].send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 4
            while _direct(stack.gateways[1], "/healthz")[0] != 503:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            url = f"wss://127.0.0.1:{proxy.https_port}/sockethub"
            clients = [Client(url, sslopt=INSECURE) for _ in range(6)]
            assert proxy.status()["gw2"] == "UP", "not the health check's doing"
            assert _direct(stack.gateways[0], "/healthz")[1]["sessions"] == 6
            for c in clients:
                c.close()
    finally:
        stack.stop()


def _sessions_started(port: int) -> float:
    text = _direct(port, "/metrics")[1]["text"]
    line = next(x for x in text.splitlines() if x.startswith("sockethub_sessions_started_total"))
    return float(line.split()[-1])
