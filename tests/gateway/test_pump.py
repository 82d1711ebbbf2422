"""The pump against a real Redis: it reads the streams its wake stream names, and its
periodic pass still finds what a lost wake-up would hide."""

from __future__ import annotations

import time

import redis as redis_lib

import gateway.pump as pump_module
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.outbox import Outbox
from gateway.pump import Pump
from gateway.sessions import SessionStore


def wait_for(pred, timeout: float = 5) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_delivers_to_the_session_named_and_sweeps_for_the_rest(
    redis_url, redis_client, monkeypatch
):
    monkeypatch.setattr(pump_module, "SWEEP", 0.5)
    store = SessionStore(redis_client, sealing.server_key("p" * 32), 60)
    a, b, lost = store.create("g1"), store.create("g1"), store.create("g1")
    pump = Pump(redis_lib.Redis.from_url(redis_url), redis_client, "g1", block_ms=200)
    got: dict[str, list[int]] = {a.sid: [], b.sid: [], lost.sid: []}
    for s in (a, b, lost):
        pump.add(s.sid, "0-0", lambda f, sid=s.sid: got[sid].append(int(f[b"seq"])))
    pump.start()
    try:
        outbox = Outbox(redis_client, sealer=AtRest(redis_client, sealing.server_key("p" * 32)))
        outbox.event(a.sid, {"n": 1})
        outbox.event(a.sid, {"n": 2})
        assert wait_for(lambda: got[a.sid] == [1, 2])
        assert got[b.sid] == []
        # the outbox named session a in this gateway's wake stream, never b
        named = [f[b"s"] for _, f in redis_client.xrange(keys.gateway_wake("g1"))]
        assert named.count(a.sid.encode()) >= 3  # its add, then two events
        assert named.count(b.sid.encode()) == 1  # its add only
        # a session whose wake-up goes elsewhere is still found by the periodic pass
        redis_client.hset(keys.session(lost.sid), "gw", "another-gateway")
        outbox.event(lost.sid, {"n": 1})
        assert wait_for(lambda: got[lost.sid] == [1], timeout=3)
    finally:
        pump.stop()
