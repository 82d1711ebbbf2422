"""A node taking a connection over from a dead one (two runners, real Redis, no Celery):
the verbs the dead owner had taken off Redis run from their markers, once and in order;
one it had started is answered ``reconnecting``; nothing waits for a gap; and while the
connection is restored no task thread waits (``tasks/holding.py``)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from connectors.base import Job
from connectors.persistent import ConnectionSpec, PersistentConnector, Upstream
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.markers import NUMBER, tag_of
from envelopes.outbox import Outbox
from envelopes.registry import Platform, Registry, Verb
from envelopes.settings import Settings
from envelopes.vault import Vault
from gateway.sessions import SessionStore
from tasks.runner import Runner

SECRET = "t" * 32
RAN: list[int] = []
UP = threading.Event()  # the upstream server answers connects only while set


class _Up(Upstream):
    async def connect(self) -> None:
        while not UP.is_set():
            await asyncio.sleep(0.01)

    async def wait_closed(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def close(self, reason: str) -> None:
        pass


class TakeoverConnector(PersistentConnector):
    connect_timeout = 30

    def new_upstream(self, spec: ConnectionSpec, emit: Any) -> Upstream:
        return _Up(spec, emit)

    def send(self, job: Job) -> None:
        self.runtime.upstream(job)
        RAN.append(int(job.activity["object"]["content"]))


PLATFORM = Platform(
    "takeover",
    f"{__name__}:TakeoverConnector",
    {"connect": Verb("connect", needs_credentials=True), "send": Verb("send")},
    persistent=True,
)


class World:
    def __init__(self, r: Any):
        self.r = r
        server = sealing.server_key(SECRET)
        self.atrest = AtRest(r, server)
        self.outbox = Outbox(r, sealer=self.atrest)
        self.sid = SessionStore(r, server, 60).create("gw").sid
        Vault(r, server).store(self.sid, "takeover", "ann", {"user": "ann"})
        r.hset(keys.session_creds(self.sid), keys.connection_key_field("takeover", "ann"), "ck")
        self.runners: list[Runner] = []

    def runner(self, node: str) -> Runner:
        settings = Settings(secret=SECRET, order_gap_wait=30)
        runner = Runner(settings, Registry([PLATFORM]), self.r, node_queue=f"{node}.dq")
        self.runners.append(runner)
        return runner

    def send(self, n: int, verb: str = "send", timeout: float = 20) -> dict[str, Any]:
        """What the gateway does for a verb: marker, deadline, number, publish (a sealed
        payload, returned), flip to ``p``."""
        sid, rid, now = self.sid, f"r{n}", time.time()
        activity = {
            "type": verb,
            "actor": {"id": "ann", "type": "person"},
            "object": {"type": "message", "content": str(n)},
        }
        marker = self.atrest.marker(sid, rid, activity)
        assert self.outbox.markers.accept(sid, rid, marker, 60, now + timeout, now + 2, now)
        pending = keys.connection_pending("takeover", "ck", sid)
        order = keys.order_field("takeover", "ck")
        seq = int(self.r.eval(NUMBER, 2, keys.session(sid), pending, order, rid, 720))
        payload = {
            "session": sid,
            "request": rid,
            "verb": verb,
            "activity": activity,
            "deadline": now + timeout,
            "tag": tag_of(marker),
            "connection": "ck",
            "seq": seq,
        }
        self.outbox.markers.sent(sid, rid, marker)
        return self.atrest.seal_task(payload)

    def replies(self) -> dict[str, dict[str, Any]]:
        out = {}
        for _id, fields in self.r.xrange(keys.session_stream(self.sid)):
            frame = json.loads(self.atrest.open_frame(self.sid, fields[b"f"]) or "{}")
            if frame.get("kind") == "reply":
                out[frame["id"]] = frame
        return out

    def kill(self, runner: Runner) -> None:
        """The node dies: its heartbeat stops, its lease and liveness key lapse."""
        manager = runner._managers["takeover"]
        manager._stop.set()
        self.r.delete(keys.lease("takeover", "ck"), keys.node_alive(manager.queue))


@pytest.fixture
def world(redis_client):
    RAN.clear()
    UP.set()
    w = World(redis_client)
    yield w
    UP.set()
    for runner in w.runners:
        runner.close()


def wait_until(pred, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_verbs_the_dead_owner_had_taken_run_from_their_markers_once_and_in_order(world):
    a, b = world.runner("a"), world.runner("b")
    a.run("takeover", world.send(1, "connect"))
    assert world.replies()["r1"]["status"] == "completed"
    taken = [world.send(n) for n in (2, 3, 4, 5)]  # node a reserved these, then died
    world.outbox.markers.start(world.sid, "r4")  # 4 had gone upstream
    world.kill(a)
    started = time.monotonic()
    b.run("takeover", world.send(6))  # the next verb takes the connection over
    wait_until(lambda: len(RAN) >= 3 and "r6" in world.replies())
    assert RAN == [2, 3, 5, 6]  # 4 had started at node a: not run again
    assert time.monotonic() - started < 10  # no 30 s gap wait for what a held
    b.run("takeover", taken[1])  # a copy drained from a's queue turns up: dropped
    time.sleep(0.3)
    assert RAN == [2, 3, 5, 6]
    replies = world.replies()
    assert [replies[f"r{n}"]["status"] for n in (2, 3, 5, 6)] == ["completed"] * 4
    assert replies["r4"]["status"] == "failed"
    assert replies["r4"]["error"]["code"] == "reconnecting"
    assert replies["r4"]["activity"]["object"]["content"] == "4"
    # What the lane ran past is no longer pending.
    assert world.r.zcard(keys.connection_pending("takeover", "ck", world.sid)) == 0


def test_no_task_thread_waits_for_a_restore_and_a_verb_out_of_time_is_answered_reconnecting(world):
    a, b = world.runner("a"), world.runner("b")
    a.run("takeover", world.send(1, "connect"))
    world.kill(a)
    UP.clear()  # the survivor's connect does not come through yet
    started = time.monotonic()
    b.run("takeover", world.send(2, timeout=30))
    b.run("takeover", world.send(3, timeout=2))
    b.run("takeover", world.send(4, timeout=30))
    assert time.monotonic() - started < 1.0  # before: each thread waited for the restore
    wait_until(lambda: "r3" in world.replies(), timeout=5)
    assert RAN == []
    answer = world.replies()["r3"]
    assert answer["error"]["code"] == "reconnecting"  # not the sweeper's bare ``timeout``
    assert time.monotonic() - started < 2.0  # before its deadline
    UP.set()
    wait_until(lambda: RAN == [2, 4])
    replies = world.replies()
    assert replies["r2"]["status"] == replies["r4"]["status"] == "completed"


def test_a_node_on_its_way_out_leaves_its_verbs_to_the_next_owner(world):
    a, b = world.runner("a"), world.runner("b")
    a.run("takeover", world.send(1, "connect"))
    world.kill(a)  # stopping: it takes no more verbs upstream
    a.run("takeover", world.send(2))  # reached it all the same: held there, not failed
    time.sleep(0.3)
    assert RAN == [] and "r2" not in world.replies()
    b.run("takeover", world.send(3))  # the next owner runs it, from its marker, first
    wait_until(lambda: RAN == [2, 3])
    assert world.replies()["r2"]["status"] == "completed"


def test_only_the_copy_that_starts_a_verb_sends_it(world):
    from tasks.manager import StartedElsewhere

    a = world.runner("a")
    a.run("takeover", world.send(1, "connect"))
    manager = a._managers["takeover"]
    sent: list[str] = []

    async def send(what: str) -> None:
        sent.append(what)

    def job(rid: str) -> Job:
        return Job("send", {}, session=world.sid, request=rid, connection="ck")

    world.send(2)
    mine = job("r2")
    manager.call(mine, send("first"))  # ``p`` → ``r``: this run sends it
    manager.call(mine, send("again"))  # a verb may call more than once
    with pytest.raises(StartedElsewhere):  # a second copy, at the same point, sends nothing
        manager.call(job("r2"), send("copy"))
    assert sent == ["first", "again"]
    assert world.r.get(keys.request(world.sid, "r2"))[:1] == b"r"
