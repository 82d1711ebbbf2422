"""The outbox against a real Redis: one terminal reply per request, gap-free sequence."""

from __future__ import annotations

import json
import threading

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.outbox import Outbox as _Outbox
from envelopes.outbox import failure_frame, frame_with_seq, reply_frame

SERVER = sealing.server_key("o" * 32)


def Outbox(r):  # noqa: N802 - the real one, sealing under these tests' secret
    return _Outbox(r, sealer=AtRest(r, SERVER))


def _session(r, sid="s1", ttl=100):
    wrapped = sealing.wrap_key(SERVER, sealing.new_session_key(), sid)
    r.hset(keys.session(sid), mapping={"gen": 1, "wkey": wrapped})
    r.expire(keys.session(sid), ttl)


def test_exactly_one_terminal_reply_among_racing_writers(redis_client):
    r = redis_client
    _session(r)
    outbox = Outbox(r)
    r.set(keys.request("s1", "q"), "p{}")
    results = []

    def write(i):
        results.append(outbox.reply("s1", "q", reply_frame("q", {"n": i})))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0] * 7 + [1]
    assert r.xlen(keys.session_stream("s1")) == 1
    assert r.get(keys.request("s1", "q")) == b"done"


def test_sequence_and_ttl(redis_client):
    r = redis_client
    _session(r, ttl=50)
    outbox = Outbox(r)
    seqs = [outbox.event("s1", {"n": i}) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert 0 < r.ttl(keys.session_stream("s1")) <= 50
    entries = r.xrange(keys.session_stream("s1"))
    assert [int(f[b"seq"]) for _, f in entries] == seqs


def test_gone_session_gets_nothing(redis_client):
    outbox = Outbox(redis_client)
    assert outbox.event("nobody", {"x": 1}) == -1
    assert not redis_client.exists(keys.session_stream("nobody"))


def test_frame_helpers():
    assert frame_with_seq(7, '{"kind":"event"}') == '{"seq":7,"kind":"event"}'
    f = failure_frame("r", {"code": "x", "message": "m"}, {"type": "echo"})
    assert f["activity"] == {"type": "echo", "error": "m"}


def test_a_failed_reply_echoes_a_short_request_whole() -> None:
    activity = {
        "type": "echo",
        "context": "dummy",
        "actor": {"id": "a"},
        "object": {"content": "x"},
    }
    frame = failure_frame("1", {"code": "invalid-envelope", "message": "bad"}, activity)
    assert frame["activity"] == {**activity, "error": "bad"}


def test_a_failed_reply_to_a_huge_request_echoes_only_its_short_fields() -> None:
    """A near-limit junk frame is refused; echoing it whole sent ~1 MiB back per frame."""
    activity = {
        "type": "send",
        "context": "irc",
        "actor": {"id": "a"},
        "target": {"id": "#" + "t" * 5000},
        "object": {"content": "x" * 900_000},
    }
    frame = failure_frame("1", {"code": "invalid-envelope", "message": "bad"}, activity)
    echoed = frame["activity"]
    assert len(json.dumps(echoed)) < 4096
    assert (
        echoed["type"] == "send" and echoed["context"] == "irc" and echoed["actor"] == {"id": "a"}
    )
    assert "object" not in echoed and "target" not in echoed  # the long ones are left out
    assert echoed["error"] == "bad"
    assert echoed["truncated"] is True
