"""A node holding 40 IRC connections is SIGKILLed; another takes them over, and they
reach the IRC server at the governor's pace (10/s after a burst of 5), measured at the
server's side by a timestamping proxy in front of real ngircd; every one rejoins its
channel. (The 300-connection version runs in the namespaced fleet.)"""

from __future__ import annotations

import time

import pytest

from ..servers.ircclient import RawIrcClient
from ..servers.tcpproxy import TcpProxy, paced
from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N, RATE, BURST = 40, 10, 5


@pytest.fixture(scope="module")
def ircd(tmp_path_factory):
    from ..servers.ircd import run_ngircd

    with run_ngircd(tmp_path_factory.mktemp("pace")) as server:
        yield server


def test_a_dead_nodes_connections_come_back_at_the_configured_pace(ircd):
    s = Stack(
        platforms=("irc",),
        env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_LEASE_SECONDS": "6"},
    )
    with TcpProxy(ircd.host, ircd.port).threaded() as proxy:
        try:
            s.start()  # worker-irc: no pacing of its own first connects
            c = Client(s.ws_url)
            with RawIrcClient(ircd.host, ircd.port, "pacewatch") as w:
                w.send("JOIN #pace")
                w.wait_for(lambda ln: " 366 " in ln)
                for i in range(N):
                    actor = {"id": f"p{i}@127.0.0.1", "type": "person", "name": f"p{i}"}
                    creds = {"type": "credentials", "nick": f"p{i}", "server": "127.0.0.1"}
                    creds.update(port=proxy.port, secure=False)
                    room = {"id": "#pace@127.0.0.1", "type": "room", "name": "#pace"}
                    for verb, parts in (
                        ("credentials", {"object": creds}),
                        ("connect", {}),
                        ("join", {"target": room}),
                    ):
                        reply = c.request(activity("irc", verb, actor=actor, **parts), 30)
                        assert reply["status"] == "completed", reply
                s.start_worker(
                    "irc",
                    name="worker-irc-2",
                    SOCKETHUB_UPSTREAM_CONNECT_RATE=str(RATE),
                    SOCKETHUB_UPSTREAM_CONNECT_BURST=str(BURST),
                )
                for _ in range(N):  # their first joins, read before the kill
                    w.wait_for(lambda ln: ln.startswith(":p") and " JOIN " in ln)
                before = len(proxy.accepted_at)
                s.kill("worker-irc")
                rejoined: set[str] = set()
                deadline = time.monotonic() + 30
                while len(rejoined) < N and time.monotonic() < deadline:
                    line = w.wait_for(lambda ln: ln.startswith(":p") and " JOIN " in ln, 30)
                    rejoined.add(line[1:].split("!", 1)[0])
                assert rejoined == {f"p{i}" for i in range(N)}, sorted(rejoined)
                back = proxy.accepted_at[before:]
                assert len(back) == N, len(back)
                span = max(back) - min(back)
                print(f"pace: {N} accepts over {span:.2f} s (rate {RATE}/s, burst {BURST})")
                assert paced(back, RATE, BURST) == []
                assert span >= (N - BURST) / RATE - 0.2, span
            c.close()
        finally:
            s.stop()
