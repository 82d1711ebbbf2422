"""``tasks.heartbeat.Ends`` against a real Redis: an ``end`` wakes the janitor at once."""

from __future__ import annotations

import threading
import time

from envelopes import keys
from tasks.heartbeat import Ends


def test_an_ended_session_wakes_the_heartbeat_and_stop_ends_its_wait(redis_client):
    stop = threading.Event()
    ends = Ends(redis_client, stop)
    deadline = time.monotonic() + 5
    while not redis_client.pubsub_numsub(keys.sessions_ended())[0][1]:
        assert time.monotonic() < deadline, "never subscribed"
        time.sleep(0.02)
    started = time.monotonic()
    for _ in range(20):  # a burst is one pass
        redis_client.publish(keys.sessions_ended(), "1")
    assert ends.wait(30) is True
    assert time.monotonic() - started < 10  # not the 30 s beat
    ends.stop()  # as the manager's close does: the janitor's wait ends, and the loop
    started = time.monotonic()
    assert ends.wait(30) is False
    assert time.monotonic() - started < 10
