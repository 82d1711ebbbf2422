"""The runner with a real Redis and the real dummy connector, no Celery."""

from __future__ import annotations

import json
import time

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.registry import Platform, Registry, Verb, default_registry
from envelopes.schema import MessageObjectSchema
from envelopes.settings import Settings
from envelopes.vault import Vault
from gateway.sessions import SessionStore
from tasks.runner import Runner

SECRET = "x" * 32


def _frames(r, sid):
    atrest = AtRest(r, sealing.server_key(SECRET))
    entries = r.xrange(keys.session_stream(sid))
    return [json.loads(atrest.open_frame(sid, f[b"f"])) for _, f in entries if b"f" in f]


def _sealed(r, payload):
    """As the gateway enqueues it: the activity sealed under the session's key."""
    return AtRest(r, sealing.server_key(SECRET)).seal_task(payload)


def _payload(sid, rid, verb, **extra):
    act = {
        "type": verb,
        "actor": {"id": "me", "type": "person"},
        "object": {"type": "message", "content": "c"},
        **extra,
    }
    return {
        "session": sid,
        "request": rid,
        "verb": verb,
        "activity": act,
        "deadline": time.time() + 10,
    }


def _pending(r, sid, rid):
    r.set(keys.request(sid, rid), "p{}")


def test_echo_and_errors_become_replies(redis_client):
    r = redis_client
    store = SessionStore(r, sealing.server_key(SECRET), 60)
    sess = store.create("gw")
    runner = Runner(Settings(secret=SECRET), default_registry(), r)
    for rid, verb in [("1", "echo"), ("2", "fail"), ("3", "throw")]:
        _pending(r, sess.sid, rid)
        runner.run("dummy", _sealed(r, _payload(sess.sid, rid, verb)))
    frames = _frames(r, sess.sid)
    assert [f["status"] for f in frames] == ["completed", "failed", "failed"]
    assert frames[1]["error"]["code"] == "refused" and frames[1]["error"]["retryable"] is False
    assert frames[1]["error"]["details"] == [{"condition": "failed", "platform": "dummy"}]
    internal = frames[2]["error"]
    assert internal["code"] == "internal" and internal["retryable"] is False
    assert internal["message"] == (
        f"internal error (ref {internal['ref']}); the operator's logs have the details"
    )


def test_past_deadline_is_dropped(redis_client):
    r = redis_client
    sess = SessionStore(r, sealing.server_key(SECRET), 60).create("gw")
    runner = Runner(Settings(secret=SECRET), default_registry(), r)
    _pending(r, sess.sid, "late")
    payload = _payload(sess.sid, "late", "echo")
    payload["deadline"] = time.time() - 1
    runner.run("dummy", _sealed(r, payload))
    assert _frames(r, sess.sid) == []


def test_sessions_cannot_read_each_others_credentials(redis_client):
    """Credentials are sealed per session: another session's key, field or id never opens them."""
    r = redis_client
    server = sealing.server_key(SECRET)
    store = SessionStore(r, server, 60)
    a, b = store.create("gw"), store.create("gw")
    vault = Vault(r, server)
    vault.store(a.sid, "dummy", "me", {"password": "only-for-a"})
    assert vault.load(a.sid, "dummy", "me") == {"password": "only-for-a"}
    # b has none of its own
    import pytest

    from envelopes.errors import CredentialsInvalid, CredentialsMissing

    with pytest.raises(CredentialsMissing):
        vault.load(b.sid, "dummy", "me")
    # copying a's sealed value into b's store does not make it readable by b
    sealed = r.hget(keys.session_creds(a.sid), keys.creds_field("dummy", "me"))
    r.hset(keys.session_creds(b.sid), keys.creds_field("dummy", "me"), sealed)
    with pytest.raises(CredentialsInvalid):
        vault.load(b.sid, "dummy", "me")
    # nor under another actor name in a's own store
    r.hset(keys.session_creds(a.sid), keys.creds_field("dummy", "other"), sealed)
    with pytest.raises(CredentialsInvalid):
        vault.load(a.sid, "dummy", "other")


def test_verb_needing_credentials_gets_them(redis_client):
    from connectors.base import Connector

    class Peek(Connector):
        def peek(self, job):
            return {"type": "peek", "object": {"type": "message", "content": job.credentials["k"]}}

    import sys
    import types

    mod = types.ModuleType("peekmod")
    mod.Peek = Peek
    sys.modules["peekmod"] = mod
    plat = Platform(
        "peek",
        "peekmod:Peek",
        {"peek": Verb("peek", object=MessageObjectSchema, needs_credentials=True)},
    )
    r = redis_client
    server = sealing.server_key(SECRET)
    sess = SessionStore(r, server, 60).create("gw")
    Vault(r, server).store(sess.sid, "peek", "me", {"k": "v"})
    runner = Runner(Settings(secret=SECRET), Registry([plat]), r)
    _pending(r, sess.sid, "1")
    runner.run("peek", _sealed(r, _payload(sess.sid, "1", "peek")))
    _pending(r, sess.sid, "2")
    p = _payload(sess.sid, "2", "peek")
    p["activity"]["actor"]["id"] = "someone-else"
    runner.run("peek", _sealed(r, p))
    frames = _frames(r, sess.sid)
    assert frames[0]["result"]["object"]["content"] == "v"
    assert frames[1]["error"]["code"] == "credentials-missing"
