"""What one session can make Redis hold, against a real Redis: a reply over the cap becomes
one failed reply naming the size, the cap and the setting; an event over it is replaced by
a small one saying so; each session's stream is bounded in bytes as well as in entries,
and a resume that needed what was trimmed is told ``missed``."""

from __future__ import annotations

import json

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.outbox import Outbox as _Outbox
from envelopes.outbox import reply_frame
from envelopes.settings import Settings
from gateway.stream import missed_range as _missed

SERVER = sealing.server_key("o" * 32)


class Outbox:  # the real one, sealing under these tests' secret
    @staticmethod
    def from_settings(r, settings):
        return _Outbox.from_settings(r, settings, AtRest(r, SERVER))


def _session(r, sid="s1", ttl=100):
    wrapped = sealing.wrap_key(SERVER, sealing.new_session_key(), sid)
    r.hset(keys.session(sid), mapping={"gen": 1, "wkey": wrapped})
    r.expire(keys.session(sid), ttl)


def _frames(r, sid="s1"):
    atrest = AtRest(r, SERVER)
    entries = r.xrange(keys.session_stream(sid))
    return [json.loads(atrest.open_frame(sid, f[b"f"])) for _, f in entries if b"f" in f]


def _stream_bytes(r, sid="s1"):
    return sum(len(f[b"f"]) for _, f in r.xrange(keys.session_stream(sid)) if b"f" in f)


def test_a_reply_over_the_cap_becomes_one_failed_reply_naming_the_limit(redis_client):
    r = redis_client
    _session(r)
    outbox = Outbox.from_settings(r, Settings(max_reply_bytes=10_000))
    r.set(keys.request("s1", "q"), "p{}")
    big = reply_frame("q", {"content": "x" * 50_000})
    assert outbox.reply("s1", "q", big) == 1
    assert outbox.reply("s1", "q", reply_frame("q", {})) == 0  # still exactly one reply
    [frame] = _frames(r)
    assert frame["status"] == "failed" and frame["id"] == "q"
    error = frame["error"]
    assert error["code"] == "too-large"
    assert "50" in error["message"] and "10000" in error["message"]
    assert "SOCKETHUB_MAX_REPLY_BYTES" in error["message"]
    assert _stream_bytes(r) < 1000
    assert r.get(keys.request("s1", "q")) == b"done"


def test_an_event_over_the_cap_is_replaced_by_a_small_one(redis_client):
    r = redis_client
    _session(r)
    outbox = Outbox.from_settings(r, Settings(max_reply_bytes=10_000))
    activity = {
        "type": "send",
        "actor": {"id": "alice@example.org", "type": "person"},
        "object": {"type": "message", "content": "y" * 50_000},
    }
    assert outbox.event("s1", activity) == 1
    [frame] = _frames(r)
    assert frame["kind"] == "event"
    dropped = frame["activity"]
    assert dropped["type"] == "send" and dropped["actor"] == activity["actor"]
    assert "object" not in dropped
    assert "10000" in dropped["error"] and "SOCKETHUB_MAX_REPLY_BYTES" in dropped["error"]
    assert _stream_bytes(r) < 1000


def test_the_stream_is_bounded_in_bytes_and_a_resume_past_it_is_missed(redis_client):
    r = redis_client
    _session(r)
    outbox = Outbox.from_settings(r, Settings(stream_maxlen=2000, stream_max_bytes=100_000))
    seqs = [outbox.event("s1", {"n": i, "pad": "z" * 10_000}) for i in range(50)]
    assert seqs == list(range(1, 51))
    assert _stream_bytes(r) <= 100_000
    kept = [int(f[b"seq"]) for _, f in r.xrange(keys.session_stream("s1"))]
    assert kept == list(range(kept[0], 51)) and len(kept) >= 8  # the newest, gap-free
    # A browser that last saw seq 5 cannot get 6..kept[0]-1 any more: it is told so.
    entries = r.xrange(keys.session_stream("s1"))
    assert _missed(entries, 5, 50) == {
        "from": 6,
        "to": kept[0] - 1,
        "reason": "older than the resume buffer "
        "(SOCKETHUB_STREAM_MAXLEN, SOCKETHUB_STREAM_MAX_BYTES)",
    }
    # The count bound still holds exactly, and small entries are not trimmed by bytes.
    _session(r, "s2")
    few = Outbox.from_settings(r, Settings(stream_maxlen=10, stream_max_bytes=100_000))
    for i in range(30):
        few.event("s2", {"n": i})
    assert r.xlen(keys.session_stream("s2")) == 10
