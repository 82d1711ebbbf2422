"""The connection manager with an in-memory upstream and a real Redis: reconnect, restore,
permanent failures, sharing and takeover by another node."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from connectors.base import Job
from connectors.persistent import Backoff, ConnectionSpec, PersistentConnector, Upstream
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.errors import AuthenticationFailed, NotConnected, Reconnecting
from envelopes.outbox import Outbox
from envelopes.registry import Platform, Verb
from envelopes.settings import Settings
from envelopes.vault import Vault
from gateway.sessions import SessionStore
from tasks.manager import Forward, Manager

SECRET = "m" * 32
PLATFORM = Platform("fake", "x:Y", {"connect": Verb("connect")}, persistent=True)


class FakeUpstream(Upstream):
    log: list[str] = []
    fail_with: Exception | None = None

    def __init__(self, spec, emit):
        super().__init__(spec, emit)
        self.dropped = asyncio.Event()

    async def connect(self) -> None:
        if FakeUpstream.fail_with is not None:
            raise FakeUpstream.fail_with
        FakeUpstream.log.append(f"connect {self.spec.credentials['user']}")

    async def wait_closed(self) -> str:
        await self.dropped.wait()
        return "dropped by the test"

    async def restore(self, rooms: list[str]) -> None:
        FakeUpstream.log.append(f"restore {rooms}")

    async def close(self, reason: str) -> None:
        FakeUpstream.log.append(f"close {reason}")
        self.dropped.set()

    def state_event(self, state: str, **fields):
        return {"type": "connect", "object": {"type": "connection", "state": state, **fields}}


class FakeConnector(PersistentConnector):
    backoff = Backoff(base=0.05, cap=0.2)
    connect_timeout = 5

    def new_upstream(self, spec, emit):
        return FakeUpstream(spec, emit)


@pytest.fixture
def world(redis_client):
    FakeUpstream.log = []
    FakeUpstream.fail_with = None
    server = sealing.server_key(SECRET)
    store = SessionStore(redis_client, server, 60)
    made: list[Manager] = []

    def manager(node: str) -> Manager:
        conn = FakeConnector(PLATFORM, Settings(secret=SECRET))
        m = Manager(
            PLATFORM,
            conn,
            redis_client,
            Outbox(redis_client, sealer=AtRest(redis_client, server)),
            Vault(redis_client, server),
            f"{node}.dq",
        )
        made.append(m)
        return m

    def session(user: str = "ann", key: str = ""):
        """A session with credentials for ``user`` that open connection ``key`` (the
        gateway stores that key next to them)."""
        sess = store.create("gw")
        Vault(redis_client, server).store(sess.sid, "fake", user, {"user": user})
        if key:
            redis_client.hset(
                keys.session_creds(sess.sid), keys.connection_key_field("fake", user), key
            )
        return sess

    yield manager, session, redis_client
    for m in made:
        m.close()


def job(sess, key: str, user: str = "ann") -> Job:
    return Job(
        "connect",
        {"type": "connect", "actor": {"id": user, "type": "person"}},
        session=sess.sid,
        connection=key,
        deadline=time.time() + 5,
    )


def states(r, sid: str) -> list[str]:
    out = []
    for _id, fields in r.xrange(keys.session_stream(sid)):
        frame = json.loads(AtRest(r, sealing.server_key(SECRET)).open_frame(sid, fields[b"f"]))
        if frame["kind"] == "event":
            out.append(frame["activity"]["object"]["state"])
    return out


def wait_until(pred, timeout: float = 5) -> None:
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_connect_announces_states_and_reconnects_with_restore(world):
    manager, session, r = world
    m = manager("a")
    sess = session(key="k1")
    up = m.connect(job(sess, "k1"), ConnectionSpec("k1", {"id": "ann"}, {"user": "ann"}))
    m.remember_room(job(sess, "k1"), "#room", True)
    assert states(r, sess.sid) == ["connecting", "connected"]
    m.loop.loop.call_soon_threadsafe(up.dropped.set)
    wait_until(lambda: len(FakeUpstream.log) == 3)
    assert states(r, sess.sid)[2:] == ["reconnecting", "connecting", "connected"]
    assert FakeUpstream.log == ["connect ann", "connect ann", "restore ['#room']"]
    assert r.get(keys.lease("fake", "k1")) == b"a.dq"
    assert m.stats.value("sockethub_worker_reconnects_total", "fake") == 1  # /metrics


def test_first_connect_failure_is_the_reply_and_leaves_nothing(world):
    manager, session, r = world
    m = manager("a")
    sess = session(key="k2")
    FakeUpstream.fail_with = AuthenticationFailed("bad password")
    with pytest.raises(AuthenticationFailed):
        m.connect(job(sess, "k2"), ConnectionSpec("k2", {"id": "ann"}, {"user": "ann"}))
    wait_until(lambda: not r.exists(keys.connection("fake", "k2")))
    assert not r.exists(keys.lease("fake", "k2"))
    assert "disconnected" in states(r, sess.sid)
    with pytest.raises(NotConnected):
        m.upstream(job(sess, "k2"))


def test_second_session_shares_and_last_disconnect_closes(world):
    manager, session, r = world
    m = manager("a")
    one, two = session(key="k3"), session(key="k3")
    spec = ConnectionSpec("k3", {"id": "ann"}, {"user": "ann"})
    first = m.connect(job(one, "k3"), spec)
    assert m.connect(job(two, "k3"), spec) is first
    assert FakeUpstream.log == ["connect ann"]
    m.disconnect(job(one, "k3"))
    assert FakeUpstream.log == ["connect ann"]  # the other tab still uses it
    m.disconnect(job(two, "k3"))
    assert FakeUpstream.log[-1] == "close disconnect requested"
    wait_until(lambda: not r.exists(keys.connection("fake", "k3")))


def test_a_live_owner_gets_the_task_forwarded(world):
    manager, session, _r = world
    a, b = manager("a"), manager("b")
    sess = session(key="k4")
    a.connect(job(sess, "k4"), ConnectionSpec("k4", {"id": "ann"}, {"user": "ann"}))
    with pytest.raises(Forward) as info:
        b.upstream(job(sess, "k4"))
    assert info.value.queue == "a.dq"


def test_takeover_when_the_owner_is_gone(world):
    manager, session, r = world
    a, b = manager("a"), manager("b")
    sess = session(key="k5")
    a.connect(job(sess, "k5"), ConnectionSpec("k5", {"id": "ann"}, {"user": "ann"}))
    a.remember_room(job(sess, "k5"), "#kept", True)
    r.lpush("a.dq", "a task sent to the dead node")
    # node a dies: its heartbeat stops, so its lease and liveness key lapse
    a._stop.set()
    r.delete(keys.lease("fake", "k5"), keys.node_alive("a.dq"))
    b._janitor()
    wait_until(lambda: "restore ['#kept']" in FakeUpstream.log)
    # Events leave the loop through the publisher: written a moment later.
    wait_until(lambda: states(r, sess.sid)[-1:] == ["connected"] and len(states(r, sess.sid)) > 2)
    assert r.get(keys.lease("fake", "k5")) == b"b.dq"
    assert r.lrange("fake", 0, -1) == [b"a task sent to the dead node"]  # drained
    assert "reconnecting" in states(r, sess.sid)[2:]
    assert states(r, sess.sid)[-1] == "connected"


def test_a_verb_waits_for_the_rooms_and_fails_as_reconnecting_if_its_deadline_comes_first(world):
    manager, session, r = world
    m = manager("a")
    sess = session(key="k6")
    up = m.connect(job(sess, "k6"), ConnectionSpec("k6", {"id": "ann"}, {"user": "ann"}))
    m.remember_room(job(sess, "k6"), "#slow", True)
    gate = asyncio.Event()
    m.loop.loop.call_soon_threadsafe(gate.clear)

    async def slow_restore(rooms: list[str]) -> None:
        await gate.wait()
        FakeUpstream.log.append(f"restore {rooms}")

    original = FakeUpstream.restore
    FakeUpstream.restore = lambda self, rooms: slow_restore(rooms)  # type: ignore[method-assign]
    try:
        m.loop.loop.call_soon_threadsafe(up.dropped.set)
        wait_until(lambda: FakeUpstream.log.count("connect ann") == 2)
        short = job(sess, "k6")
        short.deadline = time.time() + 1.5
        with pytest.raises(Reconnecting) as info:
            m.upstream(short)  # connected again, but the room is not rejoined yet
        assert info.value.code == "reconnecting" and "dropped by the test" in info.value.message
        assert time.time() < short.deadline  # answered before the sweeper's timeout
        m.loop.loop.call_soon_threadsafe(gate.set)
        assert m.upstream(job(sess, "k6")) is not up
        assert FakeUpstream.log[-1] == "restore ['#slow']"
    finally:
        FakeUpstream.restore = original  # type: ignore[method-assign]


def test_rooms_are_rejoined_only_while_a_session_holds_them(world):
    manager, session, r = world
    m = manager("a")
    one, two = session(key="k7"), session(key="k7")
    spec = ConnectionSpec("k7", {"id": "ann"}, {"user": "ann"})
    up = m.connect(job(one, "k7"), spec)
    m.connect(job(two, "k7"), spec)
    m.remember_room(job(one, "k7"), "#one", True)
    m.remember_room(job(two, "k7"), "#both", True)
    m.remember_room(job(one, "k7"), "#both", True)
    m.remember_room(job(two, "k7"), "#left", True)
    m.remember_room(job(one, "k7"), "#left", False)  # the upstream left it: for everyone
    assert m.rooms("k7") == ["#both", "#one"]
    m.disconnect(job(one, "k7"))
    assert m.rooms("k7") == ["#both"]
    m.loop.loop.call_soon_threadsafe(up.dropped.set)
    wait_until(lambda: "restore ['#both']" in FakeUpstream.log)


def test_takeover_uses_only_credentials_that_still_open_the_connection(world):
    manager, session, r = world
    a, b = manager("a"), manager("b")
    moved, stayed = session(key="k8"), session(key="k8")
    spec = ConnectionSpec("k8", {"id": "ann"}, {"user": "ann"})
    a.connect(job(moved, "k8"), spec)
    a.connect(job(stayed, "k8"), spec)
    # the first tab changes its credentials: they now open another connection
    server = sealing.server_key(SECRET)
    Vault(r, server).store(moved.sid, "fake", "ann", {"user": "ann-elsewhere"})
    r.hset(keys.session_creds(moved.sid), keys.connection_key_field("fake", "ann"), "k9")
    a._stop.set()
    r.delete(keys.lease("fake", "k8"), keys.node_alive("a.dq"))
    b._janitor()
    wait_until(lambda: FakeUpstream.log.count("connect ann") == 2)
    assert "connect ann-elsewhere" not in FakeUpstream.log
    assert set(b.records.members("k8")) == {stayed.sid}


def test_a_session_whose_credentials_moved_leaves_and_the_last_one_closes(world):
    manager, session, r = world
    m = manager("a")
    sess = session(key="k10")
    m.connect(job(sess, "k10"), ConnectionSpec("k10", {"id": "ann"}, {"user": "ann"}))
    r.hset(keys.session_creds(sess.sid), keys.connection_key_field("fake", "ann"), "k11")
    m._heartbeat()
    wait_until(lambda: FakeUpstream.log[-1:] == ["close no session left"])
    wait_until(lambda: not r.exists(keys.connection("fake", "k10")))


def test_rooms_of_a_session_that_ended_are_not_rejoined(world):
    manager, session, r = world
    m = manager("a")
    one, two = session(key="k12"), session(key="k12")
    spec = ConnectionSpec("k12", {"id": "ann"}, {"user": "ann"})
    up = m.connect(job(one, "k12"), spec)
    m.connect(job(two, "k12"), spec)
    m.remember_room(job(one, "k12"), "#ended", True)
    m.remember_room(job(two, "k12"), "#alive", True)
    r.delete(keys.session(one.sid), keys.session_creds(one.sid))  # its keys expired
    m._heartbeat()
    assert r.hkeys(keys.connection_sessions("fake", "k12")) == [two.sid.encode()]
    m.loop.loop.call_soon_threadsafe(up.dropped.set)
    wait_until(lambda: "restore ['#alive']" in FakeUpstream.log)
