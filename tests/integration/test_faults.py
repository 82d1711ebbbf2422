"""Faults a browser must not notice, through real processes: a gateway killed while it
hands a request to its workers, the private Redis of ``sockethub`` killed (this file);
Redis restarted mid-session (``test_redis_restart.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket

from ..stack import Stack, wait_port
from ..wsclient import Client, activity
from .test_cli import children_of, cmdline, running_all_in_one

pytestmark = pytest.mark.integration

HOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "faults")
TIMEOUT = 30  # the request timeout: every answer below must come long before it
SOON = 12.0  # the unsent grace (2 s), the sweeper, a loaded machine: still far below it


@pytest.fixture(scope="module")
def stack():
    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": str(TIMEOUT)}).start()
    yield s
    s.stop()


def crashing_gateway(stack: Stack, when: str) -> int:
    """A real gateway that SIGKILLs itself (and its master) at its first publish."""
    path = os.pathsep.join(p for p in (HOOK, os.environ.get("PYTHONPATH", "")) if p)
    stack.start_gateway(PYTHONPATH=path, SOCKETHUB_CRASH_AT_PUBLISH=when)
    return len(stack.gateways) - 1


def caught_in_a_crash(stack: Stack, when: str) -> tuple[dict, str, dict]:
    """Send one echo to a gateway that dies handing it over; resume on a live one."""
    index = crashing_gateway(stack, when)
    c = Client(stack.ws_url_of(index))
    info = c.resume_info
    act = activity("dummy", "echo", object={"type": "message", "content": f"crash-{when}"})
    rid = c.send(act)
    with pytest.raises((websocket.WebSocketException, OSError)):
        c.recv(timeout=20)  # the gateway is gone: the socket ends without a reply
    c.close()
    c2 = Client(stack.ws_url_of(0), hello={"kind": "hello", "resume": info})
    assert c2.welcome["resumed"] is True
    return act, rid, c2


def test_a_request_that_never_left_is_answered_not_sent_at_once(stack):
    act, rid, c = caught_in_a_crash(stack, "before")
    started = time.monotonic()
    reply = c.reply(rid, timeout=SOON)  # before the fix: nothing until the 30 s timeout
    assert reply["status"] == "failed", reply
    assert reply["error"]["code"] == "not-sent" and reply["error"]["retryable"] is True
    assert reply["activity"]["object"]["content"] == "crash-before"  # the request, echoed
    assert time.monotonic() - started < SOON
    # It did not run, and its id is free again: the same request, resent, runs once.
    c.send(act, rid)
    again = c.reply(rid, timeout=SOON)
    assert again["status"] == "completed", again
    assert again["result"]["object"]["content"] == "crash-before"
    c.close()


def test_a_resend_of_a_request_that_never_left_takes_its_place(stack):
    act, rid, c = caught_in_a_crash(stack, "before")
    started = time.monotonic()
    # What the JS client does after a resume: send again what is unanswered, same id.
    c.send(act, rid)
    answers = []
    while time.monotonic() - started < SOON:
        reply = c.reply(rid, timeout=SOON - (time.monotonic() - started))
        answers.append(reply)
        if reply["status"] == "completed":
            break
        code = reply["error"]["code"]
        assert code in ("duplicate-request", "not-sent"), reply  # the copy refused, for now
        if code == "not-sent":
            c.send(act, rid)
    assert answers[-1]["status"] == "completed", answers  # before the fix: duplicate-request
    assert answers[-1]["result"]["object"]["content"] == "crash-before"
    c.close()


def test_a_request_sent_just_before_the_crash_runs_once_and_is_answered(stack):
    _act, rid, c = caught_in_a_crash(stack, "after")
    reply = c.reply(rid, timeout=SOON)
    assert reply["status"] == "completed", reply  # the worker's reply is accepted
    # ... and it stays the only answer: no not-sent for a request that ran.
    time.sleep(3)
    c.ws.settimeout(0.5)
    late = []
    try:
        while True:
            late.append(c.recv(timeout=0.5))
    except (websocket.WebSocketTimeoutException, TimeoutError):
        pass
    assert not [f for f in late if f.get("id") == rid], late
    c.close()


@pytest.fixture
def sockethub(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``sockethub`` (all in one, its private Redis) in a process group of its own."""
    with running_all_in_one(tmp_path, "dummy") as running:
        yield running


def redis_children(pid: int) -> set[int]:
    return {child for child in children_of(pid) if b"redis-server" in cmdline(child)}


def test_sockethub_restarts_its_private_redis_and_nothing_is_lost(sockethub):
    proc, port, log_path = sockethub
    wait_port(port, proc, timeout=60)
    c = Client(f"ws://127.0.0.1:{port}/sockethub")
    creds = activity("dummy", "credentials", object={"type": "credentials", "password": "x"})
    assert c.request(creds, timeout=30)["status"] == "completed"
    echo = activity("dummy", "echo", object={"type": "message", "content": "before"})
    assert c.request(echo, timeout=30)["status"] == "completed"
    (first,) = redis_children(proc.pid)
    time.sleep(1.5)  # appendfsync everysec: what was written is on disk by now
    os.kill(first, signal.SIGKILL)  # a crash, not a clean stop
    deadline = time.monotonic() + 20
    while not (redis_children(proc.pid) - {first}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, log_path.read_text()  # before the fix: it stopped everything
    assert redis_children(proc.pid) - {first}, log_path.read_text()
    # The same socket carries on; what Redis held came back (the credentials, the session).
    greet = activity("dummy", "greet", object={"type": "message", "content": "back"})
    reply = c.request(greet, timeout=30)
    assert reply["status"] == "completed", reply
    info = c.resume_info
    c.close()
    c2 = Client(f"ws://127.0.0.1:{port}/sockethub", hello={"kind": "hello", "resume": info})
    assert c2.welcome["resumed"] is True, c2.welcome
    c2.close()
    assert "restarting it" in log_path.read_text()
