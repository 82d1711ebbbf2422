"""What a request costs the Celery worker in Redis, beyond taking the task and writing the
reply (bench/profile.md: kombu's bookkeeping was a third of the worker's time)."""

from __future__ import annotations

import time

import pytest

from ..wsclient import Client, activity

pytestmark = pytest.mark.integration


def test_a_task_leaves_no_trace_in_kombus_unacked_hash(stack):
    # kombu's ack emulation writes every message to the ``unacked`` hash and index when a
    # worker takes it and deletes it at the ack: two Redis transactions per task, bought to
    # restore a lost task after the visibility timeout (an hour), long past any request's
    # deadline; the sweeper answers a lost request ``timeout`` instead.
    r = stack.redis()
    r.config_set("notify-keyspace-events", "KA")
    sub = r.pubsub()
    sub.psubscribe("__keyspace@0__:unacked*")
    try:
        assert sub.get_message(timeout=2)["type"] == "psubscribe"
        c = Client(stack.ws_url)
        try:
            for i in range(5):
                reply = c.request(
                    activity("dummy", "echo", object={"type": "message", "content": str(i)})
                )
                assert reply["status"] == "completed", reply
        finally:
            c.close()
        time.sleep(0.5)
        touched = []
        while (m := sub.get_message(timeout=0.2)) is not None:
            touched.append((m["channel"], m["data"]))
        assert touched == []
    finally:
        sub.close()
        r.config_set("notify-keyspace-events", "")
