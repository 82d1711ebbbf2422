"""A supervisor cannot die quietly: its own failures are retried, then released, and a
finished supervisor's lease is never renewed. In-memory upstream, real Redis."""

from __future__ import annotations

import pytest

from connectors.persistent import ConnectionSpec
from envelopes import keys
from envelopes.errors import SockethubError
from tasks.supervisor import MAX_CRASHES

from .test_manager import FakeUpstream, job, states, wait_until, world  # noqa: F401


class Exploding(FakeUpstream):
    """Its ``connected`` announcement raises while ``left`` is above zero."""

    left = 0

    def state_event(self, state: str, **fields):
        if state == "connected" and Exploding.left > 0:
            Exploding.left -= 1
            raise RuntimeError("announce failed")
        return super().state_event(state, **fields)


@pytest.fixture
def exploding(world, monkeypatch):  # noqa: F811
    manager, session, r = world
    m = manager("a")
    monkeypatch.setattr(m.connector, "new_upstream", lambda spec, emit: Exploding(spec, emit))
    return m, session, r


def test_a_supervisor_whose_announce_raises_is_retried(exploding):
    m, session, r = exploding
    Exploding.left = 1
    sess = session(key="s1")
    up = m.connect(job(sess, "s1"), ConnectionSpec("s1", {"id": "ann"}, {"user": "ann"}))
    assert up is not None
    assert FakeUpstream.log.count("connect ann") == 2
    assert r.get(keys.lease("fake", "s1")) == b"a.dq"
    seen = states(r, sess.sid)
    assert "reconnecting" in seen and seen[-1] == "connected", seen
    assert m.stats.value("sockethub_worker_reconnects_total", "fake") == 1  # /metrics


def test_a_supervisor_that_keeps_failing_is_released(exploding):
    m, session, r = exploding
    Exploding.left = 10 * MAX_CRASHES
    sess = session(key="s2")
    with pytest.raises(SockethubError) as info:
        m.connect(job(sess, "s2"), ConnectionSpec("s2", {"id": "ann"}, {"user": "ann"}))
    assert info.value.code == "internal"
    assert FakeUpstream.log.count("connect ann") == MAX_CRASHES
    # The record goes first, then the lease (Manager._drop_record): wait for both.
    wait_until(lambda: not r.exists(keys.connection("fake", "s2")))
    wait_until(lambda: not r.exists(keys.lease("fake", "s2")))
    assert "s2" not in m.sups
    assert states(r, sess.sid)[-1] == "disconnected"


def test_the_heartbeat_never_renews_a_finished_supervisor(world):  # noqa: F811
    manager, session, r = world
    m = manager("a")
    sess = session(key="s3")
    m.connect(job(sess, "s3"), ConnectionSpec("s3", {"id": "ann"}, {"user": "ann"}))
    sup = m.sups["s3"]
    assert sup.task is not None
    m.loop.loop.call_soon_threadsafe(sup.task.cancel)  # it ends without saying so
    wait_until(lambda: sup.task.done())
    m._heartbeat()
    assert "s3" not in m.sups
    assert not r.exists(keys.lease("fake", "s3"))
    assert not r.exists(keys.connection("fake", "s3"))
    assert states(r, sess.sid)[-1] == "disconnected"
