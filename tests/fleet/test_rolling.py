"""A rolling deploy of the whole fleet under load loses nothing a browser can see.

Browsers through HAProxy send echoes every 0.25 s; one of them also holds an IRC
connection in a channel where an independent client says a numbered line every 0.2 s.
Every gateway is restarted, one at a time (SIGTERM: /healthz says 503, HAProxy takes it
out, its sockets close with 1001 after the drain and resume on the other one), then every
worker node (a clean stop: it releases its leases onto the handoff list and another node
takes the IRC connection at once, instead of waiting the 30 s lease). Verbs sent while
the connection moves wait and run in order.
"""

from __future__ import annotations

import json
import ssl
import threading
import time

import pytest

from tests.fleet.conftest import fleet_of
from tests.fleet.irc import Chatter, irc_session, owner, presence, say, watcher
from tests.fleet.sessions import FleetSession

pytestmark = [pytest.mark.slow, pytest.mark.integration]

INSECURE = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
LEASE = 30.0
CHANNEL = "#rolling"
NICK = "roller"
# A line the watcher sent this close before it saw our QUIT may have reached the server
# after it: not ours to deliver.
RACE = 0.3


@pytest.fixture(scope="module")
def fleet():
    import sys

    env = {
        "SOCKETHUB_IRC_FLOOD_RATE": "0",
        "SOCKETHUB_LEASE_SECONDS": f"{LEASE:g}",
        "SOCKETHUB_REQUEST_TIMEOUT": "60",
    }
    yield from fleet_of(sys.modules[__name__], env=env, drain=3.0)


def test_restarting_every_gateway_then_every_node_loses_nothing(fleet):
    w = watcher(fleet, "watcher", CHANNEL)
    irc = irc_session(fleet, fleet.ws_url, NICK, CHANNEL, sslopt=INSECURE)
    echoes = [FleetSession(fleet.ws_url, sslopt=INSECURE) for _ in range(6)]
    sessions = [irc, *echoes]
    until = threading.Event()
    threads = [threading.Thread(target=s.run, args=(until,), daemon=True) for s in sessions]
    chatter = Chatter(w, CHANNEL)
    for t in [*threads, chatter]:
        t.start()
    time.sleep(1.0)

    figures: dict[str, object] = {}
    for gw in fleet.gateways:
        figures[f"{gw}_restart_s"] = round(fleet.restart(gw), 2)
    asked: list[str] = []  # what the browser said, in the order it said it
    rids: list[str] = []
    handovers = []
    for node in fleet.nodes:
        held_by = owner(fleet, irc)
        before = len(presence(w, NICK))
        restart = threading.Thread(target=lambda n=node: figures.update(
            {f"{n}_restart_s": round(fleet.restart(n), 2)}
        ))  # fmt: skip
        restart.start()
        for i in range(3):  # while the node stops: they wait and run in order
            text = f"during {node} {i}"
            asked.append(text)
            rids.append(say(fleet, irc, CHANNEL, text))
            time.sleep(0.3)
        restart.join(90)
        assert not restart.is_alive(), f"{node} did not restart"
        if held_by == node:
            deadline = time.monotonic() + LEASE
            while len(presence(w, NICK)) < before + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            moved = presence(w, NICK)[before:]
            assert [v for v, _ in moved] == ["QUIT", "JOIN"], moved
            handovers.append(round(moved[1][1] - moved[0][1], 2))
            assert owner(fleet, irc) != node
    assert handovers, "the IRC connection was never on a stopping node"
    figures["irc_handover_gap_s"] = handovers

    for rid in rids:
        assert irc.wait_reply(rid, 60) == ["completed"], (rid, irc.codes.get(rid))
    time.sleep(1.0)
    chatter.halt.set()
    chatter.join(5)
    for s in echoes:
        s.sending = False
    deadline = time.monotonic() + 30
    wanted = _delivered(chatter.sent, presence(w, NICK))
    while time.monotonic() < deadline and (
        any(s.unanswered for s in sessions) or not set(wanted) <= set(irc.messages)
    ):
        time.sleep(0.1)
    until.set()
    for t in threads:
        t.join(10)

    closes = [code for s in sessions for _t, code in s.closes]
    figures |= {
        "echoes": sum(len(s.replies) for s in echoes),
        "closes": sorted(set(closes)),
        "resumes": sum(len(s.resumed) for s in sessions),
        "irc_events": len(irc.messages),
    }
    print("rolling restart:", json.dumps(figures))
    for s in sessions:
        assert s.error is None, repr(s.error)
        assert s.unanswered == [], s.unanswered  # no reply lost
        assert all(st == ["completed"] for st in s.replies.values()), s.replies
        assert all(s.resumed), "every socket closed by a drain resumed its session"
    assert set(closes) <= {1001}, closes  # closed by drains only, with a close frame
    assert len(closes) >= 2, "each gateway's drain moved sockets"
    # Every line the server delivered to our nick reached the browser once, in order.
    missing = [m for m in wanted if m not in irc.messages]
    assert not missing, (missing, irc.messages[-5:])
    assert len(irc.messages) == len(set(irc.messages)), "an event twice"
    numbers = [int(m[2:]) for m in irc.messages if m.startswith("ev")]
    assert numbers == sorted(numbers)
    # What the browser said reached the channel once each, in order; one nick, never `roller_`.
    said = [ln.split(" :", 1)[1] for ln in w.lines if f" PRIVMSG {CHANNEL} :during" in ln]
    assert said == asked, said
    assert not [ln for ln in w.lines if ln.startswith(f":{NICK}_")]
    for gap in handovers:
        assert gap < LEASE / 4, f"handover took {gap} s: the lease ({LEASE:g} s) was waited"
    w.close()


def _delivered(sent: list[tuple[str, float]], seen: list[tuple[str, float]]) -> list[str]:
    """The chatter's lines sent while our nick was in the channel (as the watcher saw it
    join and quit), leaving out those within ``RACE`` of a QUIT."""
    spans, joined = [], None
    for verb, at in seen:
        if verb == "JOIN":
            joined = at
        elif joined is not None:
            spans.append((joined, at - RACE))
            joined = None
    if joined is not None:
        spans.append((joined, float("inf")))
    return [text for text, at in sent if any(a < at < b for a, b in spans)]
