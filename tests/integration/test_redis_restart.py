"""A Redis restart, through real processes: with the private Redis's append-only file, a
browser notices nothing (its socket carries on, its session resumes); with a Redis that
keeps nothing, the gateway closes the sockets of sessions Redis lost, and their resume is
answered ``session-expired`` (the JS client then starts afresh: tests/browser)."""

from __future__ import annotations

import time

import pytest
import websocket

from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration


def echo(c: Client, content: str, timeout: float = 20) -> dict:
    act = activity("dummy", "echo", object={"type": "message", "content": content})
    return c.request(act, timeout)


def greet(c: Client, timeout: float = 20) -> dict:
    act = activity("dummy", "greet", object={"type": "message", "content": "again"})
    return c.request(act, timeout)


def close_code(c: Client, within: float) -> int | None:
    """The code of the close frame the gateway sends within ``within`` seconds."""
    c.ws.settimeout(within)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        opcode, frame = c.ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
    return None


def test_a_restart_of_the_private_redis_loses_nothing_a_browser_sees():
    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "20"}).start()
    try:
        c = Client(s.ws_url)
        creds = activity("dummy", "credentials", object={"type": "credentials", "password": "x"})
        assert c.request(creds)["status"] == "completed"
        assert echo(c, "before")["status"] == "completed"
        during = activity("dummy", "echo", object={"type": "message", "content": "during"})
        rid = None

        def send_while_down() -> None:
            nonlocal rid
            rid = c.send(during)

        s.restart_redis(while_down=send_while_down)
        # What was sent while Redis was down is answered, on this socket or after a resume.
        try:
            reply = c.reply(rid, timeout=20)
        except (websocket.WebSocketException, OSError, ValueError):
            # The gateway could not take it (Redis down) and closed the socket (1011).
            c = Client(s.ws_url, hello={"kind": "hello", "resume": c.resume_info})
            assert c.welcome["resumed"] is True, c.welcome
            c.send(during, rid)  # what a client does after a resume: send again, same id
            reply = c.reply(rid, timeout=20)
        assert reply["status"] == "completed", reply
        # The socket carries on, and what Redis held is still there (the credentials).
        after = echo(c, "after")
        assert after["status"] == "completed", after
        assert greet(c)["status"] == "completed"
        info = c.resume_info
        c.close()
        c2 = Client(s.ws_url, hello={"kind": "hello", "resume": info})
        assert c2.welcome["resumed"] is True, c2.welcome  # before the fix: session-expired
        assert c2.welcome["lastSeq"] == info["lastSeq"]
        assert echo(c2, "resumed")["status"] == "completed"
        c2.close()
    finally:
        s.stop()


def test_a_redis_that_kept_nothing_ends_the_sessions_it_lost_clearly():
    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "20"}, redis_persist=False).start()
    try:
        c = Client(s.ws_url)
        assert echo(c, "before")["status"] == "completed"
        info = c.resume_info
        s.restart_redis()
        # The gateway closes the socket of a session Redis no longer has ...
        assert close_code(c, within=20) == 4002  # before the fix: the socket stays open
        # ... and its resume says why, clearly; a new session works at once.
        c2 = Client(s.ws_url, hello={"kind": "hello", "resume": info})
        assert c2.welcome["resumed"] is False
        assert c2.welcome["resumeError"]["code"] == "session-expired"
        assert echo(c2, "fresh")["status"] == "completed"
        c2.close()
    finally:
        s.stop()
