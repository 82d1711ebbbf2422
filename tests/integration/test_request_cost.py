"""What one request costs in Redis commands, counted with ``MONITOR`` on real processes
(bench/profile.md: every round trip is CPU in the gateway, the worker and Redis)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import websocket

from envelopes import keys

from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

STOP = "stop-monitoring"


def monitored(stack: Any, act: Any) -> list[dict[str, Any]]:
    """Every command Redis ran while one request was answered, and the request's keys."""
    r = stack.redis()
    c = Client(stack.ws_url)
    try:
        assert c.request(act)["status"] == "completed"  # warm: scripts loaded, keys cached
        seen: list[dict[str, Any]] = []
        ready = threading.Event()

        def watch() -> None:
            with r.monitor() as m:
                ready.set()
                for command in m.listen():
                    if STOP in command["command"]:
                        return
                    seen.append(command)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert ready.wait(5)
        rid = c.send(act)
        assert c.reply(rid)["status"] == "completed"
        stack.redis().echo(STOP)
        watcher.join(10)
        sid = c.welcome["session"]
    finally:
        c.close()
    key = keys.request(sid, rid)
    return [cmd for cmd in seen if key in cmd["command"] or "LPUSH" in cmd["command"]]


def test_a_stateless_request_is_one_command_from_the_gateway_to_its_queue(stack):
    act = activity("dummy", "echo", object={"type": "message", "content": "count me"})
    named = monitored(stack, act)
    # The scripts' own commands show as run by ``lua``; what a client sent is the rest.
    top = [cmd["command"].split()[0] for cmd in named if cmd.get("client_type") != "lua"]
    # One script accepts and queues it, the worker claims it and writes its reply. Before:
    # accept, LPUSH, mark sent (three round trips from the gateway), claim, reply.
    assert len(top) <= 3, [cmd["command"][:80] for cmd in named]
    assert "LPUSH" not in top


def test_requests_of_many_sockets_at_once_share_messages_and_each_gets_one_reply(stack):
    """SOCKETHUB_ENQUEUE_BATCH: what arrives while a publish is in flight goes in the next
    one (one script, one Celery task for several requests), every request answered once."""
    r = stack.redis()
    clients = [Client(stack.ws_url) for _ in range(10)]
    per = 10
    pushes: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with r.monitor() as m:
            ready.set()
            for command in m.listen():
                if STOP in command["command"]:
                    return
                if command["command"].startswith("LPUSH dummy"):
                    pushes.append(command["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(5)
    sent: dict[int, list[str]] = {}

    def burst(i: int) -> None:
        sent[i] = [
            clients[i].send(
                activity("dummy", "echo", object={"type": "message", "content": f"{i}-{n}"})
            )
            for n in range(per)
        ]

    senders = [threading.Thread(target=burst, args=(i,)) for i in range(len(clients))]
    for t in senders:
        t.start()
    for t in senders:
        t.join(15)
    try:
        for i, c in enumerate(clients):
            for n, rid in enumerate(sent[i]):
                reply = c.reply(rid, timeout=30)
                assert reply["status"] == "completed", reply
                assert reply["result"]["object"]["content"] == f"{i}-{n}"
        time.sleep(0.5)
        for c in clients:  # nothing more: no second answer for any of them
            with pytest.raises((TimeoutError, websocket.WebSocketTimeoutException)):
                c.recv(timeout=0.2)
    finally:
        stack.redis().echo(STOP)
        watcher.join(10)
        for c in clients:
            c.close()
    assert 0 < len(pushes) < len(clients) * per, len(pushes)
