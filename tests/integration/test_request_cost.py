"""What one request costs in Redis commands, counted with ``MONITOR`` on real processes
(bench/profile.md: every round trip is CPU in the gateway, the worker and Redis)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

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
