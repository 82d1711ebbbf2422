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


class Gate:
    """A connection that is down until ``up()``: the lanes' gate, and their wake-ups."""

    def __init__(self) -> None:
        self.ready = False
        self.wakes: list = []

    def __call__(self, _connection: str, wake) -> bool:
        if self.ready:
            return True
        self.wakes.append(wake)
        return False

    def up(self) -> None:
        self.ready = True
        wakes, self.wakes = self.wakes, []
        for wake in wakes:
            wake()


def test_a_verb_held_by_its_connection_frees_its_thread_and_runs_in_order_once_it_is_up():
    ran, job = recorder()
    gate = Gate()
    threads: list[str] = []
    lanes = Lanes(gap_wait=30, start=lambda _key: 1, gate=gate)
    started = time.monotonic()
    for seq in (1, 2, 3):  # the connection is being restored: each thread returns at once
        lanes.submit(
            LANE, seq, lambda s=seq: (threads.append(threading.current_thread().name), job(s)())
        )
    assert time.monotonic() - started < 0.5 and ran == []
    assert len(gate.wakes) == 1  # one wake-up per held lane
    gate.up()
    wait_until(lambda: ran == [1, 2, 3])
    assert set(threads) == {"sockethub-lane"}  # on the lane's own thread, not a task thread
    lanes.submit(LANE, 4, job(4))  # up: runs at once, on this thread
    assert ran == [1, 2, 3, 4]


def test_a_held_verb_is_answered_before_its_deadline_and_the_lane_does_not_wait_for_it():
    ran, job = recorder()
    gate = Gate()
    expired: list[int] = []
    lanes = Lanes(gap_wait=30, start=lambda _key: 1, gate=gate, margin=0.2)
    now = time.time()
    lanes.submit(LANE, 1, job(1), now + 0.5, lambda: expired.append(1))
    lanes.submit(LANE, 2, job(2), now + 60, lambda: expired.append(2))
    wait_until(lambda: expired == [1], timeout=3)
    assert time.time() < now + 0.5  # before its deadline: its answer wins over ``timeout``
    time.sleep(0.3)
    assert expired == [1] and ran == []
    started = time.monotonic()
    gate.up()
    wait_until(lambda: ran == [2])  # 1 was answered: not run, and no gap wait for it
    assert time.monotonic() - started < 2


def test_a_wake_up_that_comes_before_the_hold_is_not_lost():
    ran, job = recorder()

    def gate(_connection: str, wake) -> bool:
        if ran:
            return True
        wake()  # the connection came up between the check and the hold
        ran.append(0)
        return False

    lanes = Lanes(gap_wait=30, start=lambda _key: 1, gate=gate)
    lanes.submit(LANE, 1, job(1))
    wait_until(lambda: ran == [0, 1])


def test_a_verb_put_back_never_runs_on_the_thread_that_puts_it_back():
    ran, job = recorder()
    main = threading.current_thread().name
    where: list[str] = []
    lanes = Lanes(gap_wait=30, start=lambda _key: 1)
    lanes.submit(
        LANE, 1, lambda: (where.append(threading.current_thread().name), job(1)()), inline=False
    )
    wait_until(lambda: ran == [1])
    assert where and where[0] != main


def test_a_verb_that_needs_no_connection_is_not_held_but_keeps_its_turn():
    ran, job = recorder()
    gate = Gate()
    lanes = Lanes(gap_wait=30, start=lambda _key: 1, gate=gate)
    lanes.submit(LANE, 1, job(1))  # held: the connection is being restored
    lanes.submit(LANE, 2, job(2), gated=False)  # ``disconnect``: still after 1
    assert ran == []
    gate.up()
    wait_until(lambda: ran == [1, 2])
    other = ("conn", "other")
    gate.ready = False
    lanes.submit(other, 1, job(10), gated=False)  # first in its lane: runs at once
    assert ran == [1, 2, 10]


def test_a_held_verb_still_in_the_backlog_at_its_deadline_is_answered_not_dropped():
    ran, job = recorder()
    gate = Gate()
    expired: list[int] = []
    lanes = Lanes(gap_wait=30, start=lambda _key: 1, gate=gate, margin=0.2)
    now = time.time()
    lanes.submit(LANE, 1, job(1, pause=1.0), now + 60, lambda: expired.append(1))
    lanes.submit(LANE, 2, job(2), now + 1.0, lambda: expired.append(2))
    gate.up()  # 1 runs for a second; 2 waits behind it past its deadline's margin
    wait_until(lambda: expired == [2], timeout=3)
    assert time.time() < now + 1.0
    wait_until(lambda: ran == [1])
    time.sleep(0.1)
    assert ran == [1]  # answered (``reconnecting``), never run after it
