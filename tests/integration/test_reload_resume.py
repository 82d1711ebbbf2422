"""A page reload, as the gateway sees it: a resume with ``lastSeq`` 0.

The reloaded page holds none of the session's frames, so it resumes with the session and
token it kept and ``lastSeq`` 0: the gateway must send the session's whole buffered stream
(replies and events, from seq 1, in order, a page of the stream at a time) and then go on
live; replies to requests the old page had in flight come the same way.
"""

from __future__ import annotations

import time

import pytest

from ..stack import Stack
from ..wsclient import Client, activity
from .test_sessions import events, inject_events

pytestmark = pytest.mark.integration

MSG = {"type": "message", "content": "hi"}


def test_a_resume_from_zero_replays_the_whole_stream_then_goes_live() -> None:
    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "5"}).start()
    try:
        c = Client(s.ws_url)
        done = c.request(activity("dummy", "echo", object=MSG))
        inject_events(s, c.welcome["session"], 450, "before")  # more than one replay page
        c.wait(lambda f: f.get("kind") == "event" and "before-449" in str(f))
        in_flight = c.send(activity("dummy", "greet", object={"type": "message", "content": "x"}))
        info = c.resume_info
        c.ws.close()  # the reload: the page and its memory are gone
        time.sleep(0.3)

        reloaded = Client(s.ws_url, hello={"kind": "hello", "resume": {**info, "lastSeq": 0}})
        assert reloaded.welcome["resumed"] is True
        assert "missed" not in reloaded.welcome
        assert reloaded.reply(in_flight)["result"]["object"]["content"] == "Hello x"
        reloaded.wait(lambda f: f.get("kind") == "event" and "before-449" in str(f))
        seqs = [f["seq"] for f in reloaded.frames if "seq" in f]
        assert seqs == list(range(1, len(seqs) + 1)), "a gap or a repeat"
        assert reloaded.frames[1]["id"] == done["id"]  # the old page's first reply, again
        assert events(reloaded.frames, "before") == [f"before-{i}" for i in range(450)]
        live = reloaded.request(activity("dummy", "echo", object=MSG))
        assert live["seq"] == max(f["seq"] for f in reloaded.frames if "seq" in f)
        reloaded.close()
    finally:
        s.stop()
