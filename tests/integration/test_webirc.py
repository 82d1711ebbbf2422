"""WEBIRC: the IRC network sees the browser's own address, not the gateway's.

Real ngircd with a WEBIRC password; the browser's address reaches the gateway through a
trusted proxy's ``X-Forwarded-For`` (the test client is on 127.0.0.1, a trusted proxy by
default), and an independent client in the channel reads the host our user came in with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

PASSWORD = "webirc-test-pass"
BROWSER = "203.0.113.7"  # TEST-NET-3: never reached, only named


@pytest.fixture(scope="module")
def ircd(tmp_path_factory) -> Iterator:
    with run_ngircd(tmp_path_factory.mktemp("webirc"), webirc_password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def stack(ircd) -> Iterator[Stack]:
    # A password for this server as 127.0.0.1 only: named "localhost", the same server
    # is one the operator gave no password for.
    table = f"elsewhere.example=other,{ircd.host}:{ircd.port}={PASSWORD}"
    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_WEBIRC": table}).start()
    yield s
    s.stop()


def _join_as(
    stack: Stack, ircd, nick: str, channel: str, address: str, host: str | None = None
) -> Client:
    c = Client(stack.ws_url, header=[f"X-Forwarded-For: {address}"])
    host = host or ircd.host
    actor = {"id": f"{nick}@{host}", "type": "person", "name": nick}
    creds = {"type": "credentials", "nick": nick, "server": host, "port": ircd.port}
    for verb, parts in (
        ("credentials", {"object": {**creds, "secure": False}}),
        ("connect", {}),
        ("join", {"target": {"id": f"{channel}@{host}", "type": "room", "name": channel}}),
    ):
        reply = c.request(activity("irc", verb, actor=actor, **parts), 30)
        assert reply["status"] == "completed", reply
    return c


def test_the_network_sees_the_browsers_address(stack: Stack, ircd) -> None:
    s = stack
    with RawIrcClient(ircd.host, ircd.port, "watcher") as w:
        w.send("JOIN #webirc")
        w.wait_for(lambda ln: " 366 " in ln)
        c = _join_as(s, ircd, "viaweb", "#webirc", BROWSER)
        join = w.wait_for(lambda ln: ln.startswith(":viaweb!") and " JOIN " in ln)
        assert join.split(" ", 1)[0].endswith(f"@{BROWSER}"), join
        # Nothing stored in Redis names the address in the clear.
        r = s.redis()
        for key in r.scan_iter(count=1000):
            kind = r.type(key)
            values = r.hvals(key) if kind == b"hash" else [r.get(key)] if kind == b"string" else []
            assert not any(BROWSER.encode() in (v or b"") for v in values), key
        c.close()


def test_a_server_without_a_webirc_password_sees_the_gateway(stack: Stack, ircd) -> None:
    with RawIrcClient(ircd.host, ircd.port, "watcher2") as w:
        w.send("JOIN #plain")
        w.wait_for(lambda ln: " 366 " in ln)
        c = _join_as(stack, ircd, "direct", "#plain", BROWSER, host="localhost")
        join = w.wait_for(lambda ln: ln.startswith(":direct!") and " JOIN " in ln)
        assert BROWSER not in join, join
        c.close()
