"""A worker SIGKILLed while it holds verbs it had taken off Redis and not yet run: a
survivor takes the connection over and runs them from their markers, once, in order.

Real ngircd, two real Celery workers, an independent IRC client in the channel. The
owner is made to reserve verbs without running them by the fault hook in
``tests/faults/sitecustomize.py`` (``SOCKETHUB_STALL_FILE``): each ``send`` that reaches
its runner holds its thread for ever, and the ones Celery prefetches behind them wait in
its pool; then it is killed, and all of them die with it.
"""

from __future__ import annotations

import os
import time

import pytest

from gateway.cli import start_private_redis

from ..session import msg
from ..stack import Stack
from ..wsclient import activity
from .test_irc import _owner, joined

pytestmark = pytest.mark.integration

HOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "faults")
TIMEOUT = 40  # the request timeout; a lease lapses in 6 s here, the takeover follows


@pytest.fixture(scope="module")
def ircd(tmp_path_factory):
    from ..servers.ircd import run_ngircd

    with run_ngircd(tmp_path_factory.mktemp("ircd")) as server:
        yield server


@pytest.fixture
def stalling(tmp_path):
    """Two IRC workers that each stall their sends once ``tmp_path/<worker>`` exists."""
    path = os.pathsep.join(p for p in (HOOK, os.environ.get("PYTHONPATH", "")) if p)
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": str(TIMEOUT),
            "SOCKETHUB_LEASE_SECONDS": "6",  # the killed node's leases lapse sooner
            "PYTHONPATH": path,
        },
    )
    s._redis_proc, s.redis_url, s._redis_dir = start_private_redis(persist=True)
    try:
        for name in ("worker-irc", "worker-irc-2"):
            s.start_worker("irc", name=name, SOCKETHUB_STALL_FILE=str(tmp_path / name))
        s.start_gateway()
        yield s, tmp_path
    finally:
        s.stop()


def _until(pred, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_verbs_a_killed_worker_had_reserved_reach_the_channel_once_and_in_order(stalling, ircd):
    s, stalls = stalling
    r = s.redis()
    with joined(s, ircd, "w20", "#reserved", "keeper") as (w, b):
        owner = _owner(s, b)  # its direct queue
        (stalls / owner.split("@")[0]).touch()

        def send(i: int) -> str:
            act = activity(
                "irc",
                "send",
                actor=b.actor,
                target=b.room("#reserved"),
                object=msg(f"kept {i:02d}"),
            )
            return b.client.send(act)

        rids = [send(i) for i in range(10)]
        # The stalled owner takes what its threads and its prefetch hold off Redis (4 + 4
        # with ``-c 4``), the rest waits in its direct queue for whoever takes over.
        _until(lambda: r.llen(owner) <= 10 - 5, 20)
        left = -1
        while left != r.llen(owner):
            left = r.llen(owner)
            time.sleep(1.5)
        assert left <= 10 - 5, left
        s.kill(owner.split("@")[0])  # SIGKILL: its reserved verbs die with it
        w.wait_for(lambda ln: ln.startswith(":keeper!") and " QUIT " in ln, timeout=15)
        for i in range(10, 16):  # and more while its lease lapses
            rids.append(send(i))
            time.sleep(1)
        replies = [b.client.reply(rid, timeout=TIMEOUT + 15) for rid in rids]
        # Before the fix: the reserved ones ``timeout`` at their deadline, never sent.
        assert [(x["status"], (x.get("error") or {}).get("code")) for x in replies] == [
            ("completed", None)
        ] * len(rids), replies
        rejoin = w.wait_for(lambda ln: ln.startswith(":keeper!") and " JOIN " in ln, timeout=30)
        lines = [w.wait_for(lambda ln: "PRIVMSG #reserved" in ln, timeout=15) for _ in rids]
        assert [ln.rsplit(":", 1)[1] for ln in lines] == [f"kept {i:02d}" for i in range(16)]
        assert w.lines.index(rejoin) < w.lines.index(lines[0])
        time.sleep(2)  # nothing arrives twice
        assert sum("PRIVMSG #reserved" in ln for ln in w.lines) == len(rids)
        b.close()
