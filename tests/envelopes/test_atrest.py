"""Sealed at rest, each place a conversation touches Redis, against a real Redis.

Every test writes a unique text through the real writer and then reads the raw Redis
value: the text must not be in it, and the real reader must get it back.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.errors import SessionError, SockethubError
from envelopes.outbox import Outbox, failure_frame, reply_frame
from envelopes.registry import default_registry
from envelopes.settings import Settings
from gateway.pump import Sweeper
from gateway.sessions import SessionStore
from tasks.runner import Runner

SECRET = "a" * 32
SERVER = sealing.server_key(SECRET)


def _text() -> str:
    return f"said-{secrets.token_hex(6)}"


def _raw(r, sid: str) -> list[bytes]:
    return [f[b"f"] for _, f in r.xrange(keys.session_stream(sid)) if b"f" in f]


@pytest.fixture
def world(redis_client):
    store = SessionStore(redis_client, SERVER, 60)
    atrest = AtRest(redis_client, SERVER)
    return redis_client, store, atrest, Outbox(redis_client, sealer=atrest)


def test_stream_entries_are_sealed_under_their_session(world):
    r, store, atrest, outbox = world
    a, b = store.create("gw"), store.create("gw")
    said = _text()
    assert outbox.event(a.sid, {"type": "send", "object": {"content": said}}) == 1
    (raw,) = _raw(r, a.sid)
    assert said.encode() not in raw
    assert said in (atrest.open_frame(a.sid, raw) or "")
    # moved into another session's stream, it does not open there
    assert atrest.open_frame(b.sid, raw) is None


def test_a_reply_to_an_ended_session_writes_nothing_and_clears_its_deadline(world):
    r, store, atrest, outbox = world
    r.set(keys.request("gone", "q"), "p")
    r.zadd(keys.deadlines(), {keys.deadline_member("gone", "q"): time.time()})
    assert outbox.reply("gone", "q", reply_frame("q", {"x": 1})) == -1
    assert outbox.push("gone", reply_frame(None, {"x": 1})) == -1
    assert not r.exists(keys.request("gone", "q"), keys.session_stream("gone"))
    assert r.zcard(keys.deadlines()) == 0


def test_request_marker_is_sealed_and_the_sweeper_echoes_it(world):
    r, store, atrest, outbox = world
    sess = store.create("gw")
    said = _text()
    act = {"type": "echo", "object": {"type": "message", "content": said}}
    r.set(keys.request(sess.sid, "q"), atrest.marker(sess.sid, "q", act))
    r.zadd(keys.deadlines(), {keys.deadline_member(sess.sid, "q"): time.time() - 1})
    raw = r.get(keys.request(sess.sid, "q"))
    assert raw[:1] == b"a" and said.encode() not in raw
    assert Sweeper(r, outbox).tick() == 1
    (entry,) = _raw(r, sess.sid)
    frame = json.loads(atrest.open_frame(sess.sid, entry) or "{}")
    assert frame["error"]["code"] == "timeout"
    assert frame["activity"]["object"]["content"] == said
    # a marker of another request does not open as this one's
    assert atrest.open_marker(sess.sid, "other", raw) is None


def test_task_payload_keeps_routing_clear_and_seals_the_activity(world):
    r, store, atrest, outbox = world
    sess = store.create("gw")
    said = _text()
    payload = {
        "session": sess.sid,
        "request": "q",
        "verb": "echo",
        "deadline": 1.5,
        "connection": "ck",
        "activity": {"type": "echo", "object": {"content": said}},
    }
    sealed = atrest.seal_task(payload)
    assert {k: sealed[k] for k in ("session", "request", "verb", "deadline", "connection")} == {
        k: payload[k] for k in ("session", "request", "verb", "deadline", "connection")
    }
    body = json.dumps(sealed).encode()
    assert said.encode() not in body
    assert said.encode() not in base64.urlsafe_b64decode(sealed["sealed"])
    assert atrest.open_task(sealed) == payload
    with pytest.raises(SockethubError):  # the verb in clear is bound to the sealed activity
        atrest.open_task({**sealed, "verb": "fail"})
    with pytest.raises(SockethubError):  # a clear activity is not taken
        atrest.open_task(payload)


def test_runner_opens_the_sealed_task_and_seals_its_reply(world):
    r, store, atrest, _outbox = world
    sess = store.create("gw")
    said = _text()
    act = {
        "type": "echo",
        "actor": {"id": "me", "type": "person"},
        "object": {"type": "message", "content": said},
    }
    r.set(keys.request(sess.sid, "q"), atrest.marker(sess.sid, "q", act))
    payload = {"session": sess.sid, "request": "q", "verb": "echo", "activity": act}
    payload["deadline"] = time.time() + 10
    runner = Runner(Settings(secret=SECRET), default_registry(), r)
    runner.run("dummy", atrest.seal_task(payload))
    (entry,) = _raw(r, sess.sid)
    assert said.encode() not in entry
    frame = json.loads(atrest.open_frame(sess.sid, entry) or "{}")
    assert frame["status"] == "completed" and frame["result"]["object"]["content"] == said


def test_runner_answers_a_task_that_does_not_open(world):
    r, store, atrest, _outbox = world
    sess = store.create("gw")
    r.set(keys.request(sess.sid, "q"), "p")
    payload = {"session": sess.sid, "request": "q", "verb": "echo", "activity": {"type": "echo"}}
    Runner(Settings(secret=SECRET), default_registry(), r).run("dummy", payload)
    (entry,) = _raw(r, sess.sid)
    frame = json.loads(atrest.open_frame(sess.sid, entry) or "{}")
    assert frame["status"] == "failed" and frame["error"]["code"] == "internal"


def test_unwrapped_keys_are_cached_briefly(world):
    r, store, _atrest, _outbox = world
    now = [0.0]
    atrest = AtRest(r, SERVER, ttl=5, clock=lambda: now[0])
    sess = store.create("gw")
    sealed = atrest.seal_frame(sess.sid, "{}")
    r.delete(keys.session(sess.sid))  # the session ends
    assert atrest.open_frame(sess.sid, sealed) == "{}"  # within the cache's few seconds
    now[0] += 5.1
    assert atrest.open_frame(sess.sid, sealed) is None
    with pytest.raises(SessionError):
        atrest.seal_frame(sess.sid, "{}")


def test_connection_records_are_sealed_under_the_connection(world):
    _r, _store, atrest, _outbox = world
    actor = {"id": "nick@irc.example", "type": "person", "name": _text()}
    sealed = atrest.seal_record("irc", "ck1", actor)
    assert actor["name"].encode() not in sealed
    assert atrest.open_record("irc", "ck1", sealed) == actor
    with pytest.raises(SockethubError):
        atrest.open_record("irc", "ck2", sealed)
    # another process with the same server secret reads it (a node taking over)
    assert AtRest(_r, SERVER).open_record("irc", "ck1", sealed) == actor
    with pytest.raises(SockethubError):
        AtRest(_r, sealing.server_key("b" * 32)).open_record("irc", "ck1", sealed)


def test_failure_frames_keep_their_shape(world):
    r, store, atrest, outbox = world
    sess = store.create("gw")
    r.set(keys.request(sess.sid, "q"), "p")
    outbox.reply(sess.sid, "q", failure_frame("q", {"code": "x", "message": "m"}, {"type": "e"}))
    (entry,) = _raw(r, sess.sid)
    assert json.loads(atrest.open_frame(sess.sid, entry) or "{}")["activity"]["error"] == "m"


def test_a_forwarded_task_is_sealed_again(redis_url, world):
    """The worker forwards a task to the node holding its connection: the copy in that
    node's queue carries the sealed activity, never the opened one."""
    from tasks.app import make_celery

    r, store, atrest, _outbox = world
    sess = store.create("gw")
    said = _text()
    registry = default_registry()
    app = make_celery(Settings(secret=SECRET, redis_url=redis_url), registry)
    try:
        payload = {
            "session": sess.sid,
            "request": "q",
            "verb": "echo",
            "deadline": time.time() + 10,
            "activity": {"type": "echo", "object": {"content": said}},
        }
        app.sockethub.forward(registry.get("dummy"), "other.dq", {**payload, "hops": 1})
        (message,) = r.lrange("other.dq", 0, -1)
        assert said.encode() not in message
        args = json.loads(base64.b64decode(json.loads(message)["body"]))[0]
        assert said.encode() not in json.dumps(args).encode()
        assert atrest.open_task(args[0]) == {**payload, "hops": 1}
    finally:
        app.sockethub.close()
        app.close()


def test_the_key_cache_is_bounded(world, monkeypatch):
    import envelopes.atrest as atrest_module

    r, store, _atrest, _outbox = world
    monkeypatch.setattr(atrest_module, "KEY_CACHE_MAX", 4)
    atrest = AtRest(r, SERVER)
    sids = [store.create("gw").sid for _ in range(9)]
    for sid in sids:
        atrest.seal_frame(sid, "{}")
        assert len(atrest._keys) <= 4
    assert sids[-1] in atrest._keys  # the newest stays


def test_a_lone_surrogate_in_an_activity_still_seals(world):
    """JSON from a browser may escape a lone surrogate: sealing must not be what fails."""
    _r, store, atrest, _outbox = world
    sid = store.create("gw").sid
    act = {"type": "echo", "object": {"content": "\ud800"}}
    assert atrest.open_marker(sid, "q", atrest.marker(sid, "q", act)) == act
    payload = {"session": sid, "request": "q", "verb": "echo", "activity": act}
    assert atrest.open_task(atrest.seal_task(payload)) == payload
