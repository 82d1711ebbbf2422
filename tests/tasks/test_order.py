"""Lanes: one session's verbs on one connection run in seq order, whatever order their
tasks arrive in, without a thread waiting for a verb that has not come."""

from __future__ import annotations

import threading
import time

from tasks.order import Lanes

LANE = ("conn", "sess")


def recorder():
    ran: list[int] = []
    lock = threading.Lock()

    def job(seq: int, pause: float = 0.0):
        def run() -> None:
            time.sleep(pause)
            with lock:
                ran.append(seq)

        return run

    return ran, job


def wait_until(pred, timeout: float = 5) -> None:
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_out_of_order_arrivals_run_in_seq_order_and_never_block_a_thread():
    ran, job = recorder()
    lanes = Lanes(gap_wait=5, start=lambda _key: 1)
    started = time.monotonic()
    for seq in (3, 2, 5, 4):  # 1 has not come yet: these park and return at once
        lanes.submit(LANE, seq, job(seq))
    assert time.monotonic() - started < 0.5 and ran == []
    lanes.submit(LANE, 1, job(1))  # the thread that brings 1 runs 1..5
    assert ran == [1, 2, 3, 4, 5]


def test_concurrent_threads_keep_the_order_and_run_one_at_a_time():
    ran, job = recorder()
    lanes = Lanes(gap_wait=5, start=lambda _key: 1)
    busy: list[int] = []

    def submit(seq: int) -> None:
        def run() -> None:
            busy.append(seq)
            assert len(busy) == 1, busy  # never two verbs of one lane at once
            job(seq, pause=0.005)()
            busy.remove(seq)

        lanes.submit(LANE, seq, run)

    threads = [threading.Thread(target=submit, args=(seq,)) for seq in range(20, 0, -1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert ran == list(range(1, 21))


def test_a_lost_verb_holds_its_lane_only_for_the_gap_wait():
    ran, job = recorder()
    done: list[int] = []
    lanes = Lanes(gap_wait=0.3, start=lambda _key: 1, done=lambda _key, seq: done.append(seq))
    lanes.submit(LANE, 1, job(1))
    started = time.monotonic()
    lanes.submit(LANE, 3, job(3))  # 2 never comes (it expired in the queue)
    lanes.submit(LANE, 4, job(4))
    wait_until(lambda: ran == [1, 3, 4])
    assert 0.25 <= time.monotonic() - started < 3
    assert done[-1] == 4
    lanes.submit(LANE, 2, job(2))  # turns up late after all: run, not lost
    assert ran == [1, 3, 4, 2]
    lanes.submit(LANE, 5, job(5))
    assert ran[-1] == 5


def test_lanes_are_independent_and_a_new_lane_resumes_where_redis_says():
    ran, job = recorder()
    lanes = Lanes(gap_wait=5, start=lambda key: {"a": 7}.get(key[1]))
    lanes.submit(("conn", "a"), 8, job(8))  # waits for 7
    lanes.submit(("conn", "b"), 41, job(41))  # unknown position: runs what comes
    assert ran == [41]
    lanes.submit(("conn", "a"), 7, job(7))
    assert ran == [41, 7, 8]


def test_a_raising_verb_does_not_stop_its_lane():
    ran, job = recorder()
    lanes = Lanes(gap_wait=5, start=lambda _key: 1)

    def boom() -> None:
        raise RuntimeError("verb failed")

    lanes.submit(LANE, 2, job(2))
    lanes.submit(LANE, 1, boom)
    assert ran == [2]


def test_idle_lanes_are_forgotten():
    _ran, job = recorder()
    lanes = Lanes(gap_wait=5)
    lanes.submit(LANE, 1, job(1))
    lanes.submit(("other", "sess"), 1, job(1))
    lanes.drop("other")
    assert len(lanes) == 1
    lanes.prune(idle=0)
    assert len(lanes) == 0
