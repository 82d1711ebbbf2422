"""Polite to the networks: what a refusing server makes the fleet do, and what the
browser reads. Real Celery workers and gateway (tests/stack.py); scripted servers that
refuse as networks do (tests/servers/refusingirc.py), and one that welcomes
(tests/servers/hostileirc.py, its ``good`` nicks)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ..servers.hostileirc import HostileIrcServer
from ..servers.refusingirc import RefusingIrcServer
from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_UPSTREAM_PAUSE": "30",
            "SOCKETHUB_UPSTREAM_MAX_PER_BROWSER": "1",
            "SOCKETHUB_REQUEST_TIMEOUT": "10",
        },
    ).start()
    yield s
    s.stop()


def _connect(s: Stack, port: int, nick: str, browser: str = "192.0.2.50") -> tuple[Client, dict]:
    c = Client(s.ws_url, header=[f"X-Forwarded-For: {browser}"])
    actor = {"id": f"{nick}@127.0.0.1", "type": "person", "name": nick}
    creds = {"type": "credentials", "nick": nick, "server": "127.0.0.1", "port": port}
    ok = c.request(activity("irc", "credentials", actor=actor, object={**creds, "secure": False}))
    assert ok["status"] == "completed", ok
    return c, c.request(activity("irc", "connect", actor=actor), 15)


def _state(c: Client, state: str) -> dict:
    def match(f: dict) -> bool:
        obj = (f.get("activity") or {}).get("object") or {}
        return obj.get("type") == "connection" and obj.get("state") == state

    return c.wait(match, 10)["activity"]["object"]


def test_a_throttling_server_is_paused_fleet_wide_and_the_browser_reads_why(stack):
    with RefusingIrcServer("throttle") as srv:
        c, reply = _connect(stack, srv.port, "slow1")
        err = reply["error"]
        assert reply["status"] == "failed" and err["code"] == "upstream-error", reply
        assert err["details"][0]["condition"] == "throttled", err
        assert "Reconnecting too fast" in err["details"][0]["text"], err
        event = _state(c, "disconnected")
        assert event["condition"] == "throttled" and "Throttled" in event["reason"], event
        # Another browser, another nick: nobody dials that server while it is paused.
        c2, again = _connect(stack, srv.port, "slow2", browser="192.0.2.51")
        assert again["error"]["details"][0]["condition"] == "throttled", again
        assert "SOCKETHUB_UPSTREAM_PAUSE" in again["error"]["message"], again
        assert len(srv.accepted) == 1, srv.accepted
        c.close()
        c2.close()


def test_a_k_lined_connection_is_banned_and_never_retried(stack):
    with RefusingIrcServer("kline") as srv:
        c, reply = _connect(stack, srv.port, "bad1")
        err = reply["error"]
        assert reply["status"] == "failed" and err["code"] == "refused", reply
        assert err["details"][0]["condition"] == "banned", err
        assert "K-Lined" in err["details"][0]["text"], err
        event = _state(c, "disconnected")
        assert event["condition"] == "banned", event
        time.sleep(2)  # no retry loop
        assert len(srv.accepted) == 1, srv.accepted
        c.close()


def test_a_browser_past_its_cap_is_refused_naming_the_setting(stack):
    with HostileIrcServer(interval=3600) as srv:
        c1, first = _connect(stack, srv.port, "good1", browser="192.0.2.60")
        assert first["status"] == "completed", first
        c2, second = _connect(stack, srv.port, "good2", browser="192.0.2.60")
        err = second["error"]
        assert err["code"] == "refused", second
        assert err["details"][0]["condition"] == "too-many-connections", err
        assert "SOCKETHUB_UPSTREAM_MAX_PER_BROWSER" in err["message"], err
        c3, other = _connect(stack, srv.port, "good3", browser="192.0.2.61")
        assert other["status"] == "completed", other
        for c in (c1, c2, c3):
            c.close()
