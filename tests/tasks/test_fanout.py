"""The publisher's writer against a real Redis: every session on the connection gets each
event in one pipeline, an ended session leaves, and a Redis that forgot its scripts (a
restart, SCRIPT FLUSH) is handled."""

from __future__ import annotations

from envelopes import keys
from tasks.publisher import Item

from .test_manager import states, world  # noqa: F401


def test_every_session_gets_each_event_and_a_flushed_script_is_reloaded(world):  # noqa: F811
    manager, session, r = world
    m = manager("a")
    one, two = session(key="f1"), session(key="f1")
    for s in (one, two):
        m.records.join("f1", s.sid, "ann")
    event = {"type": "connect", "object": {"type": "connection", "state": "connected"}}
    m._fanout.deliver([Item("f1", event, 10, 1)])
    r.script_flush()
    m._fanout.deliver([Item("f1", event, 10, 2)])
    assert states(r, one.sid) == ["connected", "connected"]
    assert states(r, two.sid) == ["connected", "connected"]


def test_a_session_that_ended_leaves_the_connection(world):  # noqa: F811
    manager, session, r = world
    m = manager("a")
    gone, kept = session(key="f2"), session(key="f2")
    for s in (gone, kept):
        m.records.join("f2", s.sid, "ann")
    r.delete(keys.session(gone.sid))
    event = {"type": "connect", "object": {"type": "connection", "state": "connected"}}
    m._fanout.deliver([Item("f2", event, 10, 1)])
    assert set(m.records.members("f2")) == {kept.sid}
    assert states(r, kept.sid) == ["connected"]
