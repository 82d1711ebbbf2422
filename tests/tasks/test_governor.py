"""The fleet-wide governor against a real Redis: caps, the shared token bucket, the pause
after a throttle answer, and the lapse of a dead node's slots. Two ``Governor`` objects
on one Redis are two worker nodes."""

from __future__ import annotations

import time

import pytest

from tasks.governor import Governor, Limits, Slot, source_address

SERVER = "irc.example.test:6697"


def nodes(redis_client, n: int = 2, slot_ms: int = 15_000, **limits):
    return [Governor(redis_client, Limits(**limits), slot_ms) for _ in range(n)]


def slot(i: int, source: str = "192.0.2.1", browser: str = "") -> Slot:
    return Slot(SERVER, f"conn{i}", source, browser)


def test_the_server_cap_counts_every_node_and_a_held_slot_once(redis_client):
    a, b = nodes(redis_client, max_connections=3)
    assert [a.admit(slot(i), 10).outcome for i in range(2)] == ["ok", "ok"]
    assert b.admit(slot(2), 10).outcome == "ok"
    refused = b.admit(slot(3), 10)
    assert (refused.outcome, refused.limit) == ("cap", "server")
    assert a.admit(slot(1), 10).outcome == "ok"  # a reconnect of a held one: no new slot
    a.release(slot(0))
    assert b.admit(slot(3), 10).outcome == "ok"
    assert a.live(SERVER) == 3


def test_per_source_and_per_browser_caps(redis_client):
    (g,) = nodes(redis_client, 1, max_per_source=2, max_per_browser=1)
    assert g.admit(slot(0, browser="203.0.113.5"), 10).outcome == "ok"
    # One browser cannot hold a second connection to this server...
    assert g.admit(slot(1, browser="203.0.113.5"), 10).limit == "browser"
    # ...another browser can, until this worker's source address is full.
    assert g.admit(slot(1, browser="203.0.113.6"), 10).outcome == "ok"
    assert g.admit(slot(2, browser="203.0.113.7"), 10).limit == "source"
    assert g.admit(slot(2, "192.0.2.2", "203.0.113.7"), 10).outcome == "ok"


def test_the_bucket_paces_connects_across_nodes(redis_client):
    a, b = nodes(redis_client, rate=10, burst=5)
    waits = [(a if i % 2 else b).admit(slot(i), 60).wait for i in range(12)]
    assert waits[:5] == [0, 0, 0, 0, 0], waits  # the burst
    # Then one every 100 ms, whichever node asks (Redis's clock: small drift allowed).
    for i in range(5, 12):
        assert waits[i] == pytest.approx((i - 4) * 0.1, abs=0.03), waits


def test_a_turn_beyond_the_callers_wait_is_refused_and_not_reserved(redis_client):
    (g,) = nodes(redis_client, 1, rate=1, burst=1)
    assert g.admit(slot(0), 0).wait == 0
    far = g.admit(slot(1), 0.5)
    assert far.outcome == "paced" and far.wait == pytest.approx(1.0, abs=0.05)
    again = g.admit(slot(2), 5)  # the refused one took no turn: this one is next
    assert again.outcome == "ok" and again.wait == pytest.approx(1.0, abs=0.05)


def test_a_pause_holds_every_node_and_doubles_up_to_its_cap(redis_client):
    a, b = nodes(redis_client, pause=0.4, pause_max=1.0)
    assert a.pause(SERVER, "Closing Link: x (Throttled: Reconnecting too fast)") == 0.4
    held = b.admit(slot(0), 10)
    assert held.outcome == "paused" and 0 < held.wait <= 0.4
    assert "Throttled" in held.text
    time.sleep(0.45)
    assert b.admit(slot(0), 10).outcome == "ok"
    assert b.pause(SERVER, "again") == 0.8  # the second in a row: twice as long
    assert a.pause(SERVER, "again") == 1.0  # capped
    assert a.paused(SERVER) > 0.8


def test_a_dead_nodes_slots_lapse_and_a_live_ones_do_not(redis_client):
    dead, live = nodes(redis_client, slot_ms=300, max_connections=2)
    assert dead.admit(slot(0), 10).outcome == "ok"
    assert live.admit(slot(1), 10).outcome == "ok"
    assert live.admit(slot(2), 10).limit == "server"
    for _ in range(4):  # the live node's heartbeat renews its own; the dead one's stop
        time.sleep(0.12)
        live.renew([slot(1)])
    assert live.admit(slot(2), 10).outcome == "ok"  # conn0 lapsed, conn1 did not
    assert live.admit(slot(3), 10).limit == "server"


def test_the_source_address_is_found_without_sending():
    assert source_address("127.0.0.1", 6667) == "127.0.0.1"
    assert source_address("name.invalid", 6667) == ""
