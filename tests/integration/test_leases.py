"""Connection leases across worker nodes: a stopping node hands its connections over at once,
and a node cut off from Redis stops owning its connections before another may take them.

Real ngircd, real Celery workers; the partition is a TCP proxy between one worker and Redis
that stops forwarding (tests/servers/tcpproxy.py), the independent raw client in the channel
is what the network sees.
"""

from __future__ import annotations

import signal
import time

import pytest

from ..servers.tcpproxy import TcpProxy
from ..session import msg
from ..stack import Stack
from .test_irc import Browser, _owner, ircd, joined  # noqa: F401  (ircd: the fixture)

pytestmark = pytest.mark.integration


def _states(b: Browser) -> list[str]:
    return [
        f["activity"]["object"]["state"]
        for f in list(b.client.frames)
        if f.get("kind") == "event"
        and isinstance(f["activity"].get("object"), dict)
        and f["activity"]["object"].get("type") == "connection"
    ]


def _next(w, start: int, pred, timeout: float) -> tuple[int, float]:
    """Index of the first line after the ``start``-th that matches, and about when it came
    (``arrived`` keeps only the first time a text was seen: a rejoin repeats the text)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i in range(start, len(w.lines)):
            if pred(w.lines[i]):
                return i, time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"no such line in {timeout} s: {w.lines[start:]}")


def _members(w, channel: str) -> list[str]:
    """The channel's nicks, as the server lists them now."""
    start = len(w.lines)
    w.send(f"NAMES {channel}")
    i, _ = _next(w, start, lambda ln: " 353 " in ln and channel in ln, 10)
    return [n.lstrip("@+") for n in w.lines[i].split(" :", 1)[1].split()]


def test_a_stopping_worker_hands_its_connection_over_at_once_and_loses_nothing(ircd):  # noqa: F811
    # A long lease: the other node's janitor would look only every 10 s; the handover
    # makes it take the connection as soon as the stopping node lets go.
    s = Stack(
        platforms=("irc",),
        env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_LEASE_SECONDS": "30"},
    ).start()
    try:
        with joined(s, ircd, "roller", "#rolling", "handed") as (w, b):
            s.start_worker("irc", name="worker-irc-2")
            owner = _owner(s, b).split("@")[0]
            assert owner == "worker-irc"  # the only node when it connected
            proc = s.procs.pop(owner)
            proc.send_signal(signal.SIGTERM)  # a deploy: a clean stop
            quit_line = w.wait_for(lambda ln: ln.startswith(":handed!") and " QUIT " in ln)
            quit_at = w.arrived[quit_line]
            # Sent while the connection moves: they wait and run in order on the new node.
            rids = [
                b.client.send(
                    b_activity(b, "send", target=b.room("#rolling"), object=msg(f"during {i}"))
                )
                for i in range(5)
            ]
            join = w.wait_for(lambda ln: ln.startswith(":handed!") and " JOIN " in ln, 15)
            assert w.arrived[join] - quit_at < 5.0, w.arrived[join] - quit_at
            for i in range(5):
                w.wait_for(lambda ln, i=i: ln.endswith(f":during {i}"), timeout=15)
            for rid in rids:
                assert b.client.reply(rid, 20)["status"] == "completed"
            said = [ln.rsplit(":", 1)[1] for ln in w.lines if " PRIVMSG #rolling " in ln]
            assert said == [f"during {i}" for i in range(5)]
            assert _owner(s, b).split("@")[0] == "worker-irc-2"
            # What the browser was told: the connection moves, it was never "disconnected".
            b.state("connected", timeout=10)
            assert "disconnected" not in _states(b), _states(b)
            proc.wait(timeout=20)
            b.close()
    finally:
        s.stop()


def b_activity(b: Browser, verb: str, **parts):
    from ..wsclient import activity

    return activity("irc", verb, actor=b.actor, **parts)


# The slow tier (about 17 s; .ci/run still runs it once per submission): the namespaced
# fleet tests (tests/fleet/) cut a node off from Redis too.
@pytest.mark.slow
def test_a_worker_cut_off_from_redis_closes_its_connections_before_another_takes_them(
    ircd,  # noqa: F811
):
    # Lease 6 s: renewed every 2 s; silent for 4 s, the cut-off node closes its connection,
    # 2 s before the survivor may claim it.
    env = {
        "SOCKETHUB_IRC_FLOOD_RATE": "0",
        "SOCKETHUB_LEASE_SECONDS": "6",
        "SOCKETHUB_REDIS_TIMEOUT": "2",
        "SOCKETHUB_REQUEST_TIMEOUT": "30",
    }
    s = Stack(platforms=("irc",), env_overrides=env)
    s.start()
    host, port = s.redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    with TcpProxy(host, int(port)).threaded() as proxy:
        try:
            s.kill("worker-irc")
            s.start_worker("irc", name="worker-cut", REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
            with joined(s, ircd, "fencer", "#fenced", "fenced") as (w, b):
                assert _owner(s, b).split("@")[0] == "worker-cut"
                s.start_worker("irc", name="worker-irc")
                cut_at, seen = time.monotonic(), len(w.lines)
                proxy.cut(hold=True)  # the partition: nothing gets through to Redis
                quit_i, quit_seen = _next(
                    w, seen, lambda ln: ln.startswith(":fenced!") and " QUIT " in ln, 15
                )
                join_i, _ = _next(
                    w, seen, lambda ln: ln.startswith(":fenced!") and " JOIN " in ln, 30
                )
                # Closed before the lease lapsed (6 s after the last renewal, which came at
                # most 2 s before the cut), and the survivor's connection came only after:
                # one owner at a time, the same nick (no "fenced_" from a collision).
                assert quit_seen - cut_at < 6.5, quit_seen - cut_at
                assert join_i > quit_i
                assert not [ln for ln in w.lines if ln.startswith(":fenced_")], w.lines
                assert _members(w, "#fenced").count("fenced") == 1
                assert _owner(s, b).split("@")[0] == "worker-irc"
                # The partition heals: the cut-off node rejoins the fleet without taking the
                # connection back or opening a second one.
                proxy.release()
                healed, heal_i = time.monotonic(), len(w.lines)
                b.ok("send", target=b.room("#fenced"), object=msg("after the heal"))
                w.wait_for(lambda ln: ln.endswith(":after the heal"), timeout=10)
                while time.monotonic() < healed + 5:
                    time.sleep(0.5)
                after = w.lines[heal_i:]
                assert not [ln for ln in after if " QUIT " in ln or " JOIN " in ln], after
                assert len([ln for ln in after if ln.endswith(":after the heal")]) == 1, after
                assert _members(w, "#fenced").count("fenced") == 1
                b.close()
        finally:
            s.stop()
