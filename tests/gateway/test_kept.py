"""Kept sessions in the session store, against a real Redis: how long each key lives
attached, detached and kept, what ``hello.keep`` may say, and what ``end`` leaves."""

from __future__ import annotations

import pytest

from envelopes import keys, sealing
from envelopes.errors import InvalidFrame
from gateway.kept import KeptSessions, requested_keep
from gateway.sessions import ATTACHED_TTL, SessionStore, _session_keys


def store(redis_client, keep_max: int = 600) -> SessionStore:
    kept = KeptSessions(redis_client, keep_max, per_address=5, total=50)
    return SessionStore(redis_client, sealing.server_key("k" * 32), 2, kept)


def fill(redis_client, sid: str) -> None:
    """Every key of the session exists (a session hash alone is what ``create`` makes)."""
    redis_client.set(keys.session_seq(sid), 0)
    redis_client.xadd(keys.session_stream(sid), {"x": 1})
    redis_client.hset(keys.session_creds(sid), "f", "v")
    redis_client.hset(keys.session_push(sid), "f", "v")  # a push subscription (gateway/push.py)


def ttls(redis_client, sid: str) -> list[int]:
    return [redis_client.ttl(k) for k in _session_keys(sid)]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), (True, 600), (False, 0), (0, 0), (30, 30), (30.7, 30), (10**9, 600)],
)
def test_what_hello_keep_asks_for(value, seconds):
    assert requested_keep(value, 600) == seconds


@pytest.mark.parametrize("value", ["60", -1, [60], {"s": 1}, float("nan")])
def test_what_is_not_a_keep_is_refused_clearly(value):
    with pytest.raises(InvalidFrame, match="hello.keep must be seconds"):
        requested_keep(value, 600)


def test_a_kept_session_lives_its_keep_once_detached_and_the_grace_without(redis_client):
    s = store(redis_client)
    kept, plain = s.create("g"), s.create("g")
    fill(redis_client, kept.sid)
    fill(redis_client, plain.sid)
    s.set_keep(kept, 300, "10.0.0.1")
    s.set_keep(plain, None, "10.0.0.1")
    assert (kept.keep, kept.keep_refused, plain.keep) == (300, None, 0)
    s.touch([kept.sid, plain.sid], [kept])
    assert all(ATTACHED_TTL < t <= 300 for t in ttls(redis_client, kept.sid))
    s.detach(kept.sid, kept.gen, kept)
    s.detach(plain.sid, plain.gen, plain)
    assert all(290 < t <= 300 for t in ttls(redis_client, kept.sid))
    assert all(0 < t <= 2 for t in ttls(redis_client, plain.sid))
    # A resume brings the keep back with it; one that says false stops it.
    again = s.resume(kept.sid, kept.token, "g2")
    assert again.keep == 300 and again.keep_addr == "10.0.0.1"
    s.set_keep(again, False, "10.0.0.2")
    assert again.keep == 0 and not redis_client.zscore(keys.kept(), kept.sid)
    s.detach(again.sid, again.gen, again)
    assert all(0 < t <= 2 for t in ttls(redis_client, kept.sid))


def test_a_bad_keep_leaves_the_session_as_it_is_and_says_why(redis_client):
    s = store(redis_client)
    session = s.create("g")
    s.set_keep(session, "forever", "10.0.0.1")
    assert session.keep == 0 and session.keep_refused["code"] == "invalid-frame"


def test_the_heartbeat_rewraps_kept_sessions_nobody_is_attached_to(redis_client):
    """A kept session may be away longer than a secret rotation takes: every gateway's
    heartbeat rewraps it, or dropping the old secret would make it unreadable."""
    before = store(redis_client)
    away = before.create("g")
    before.set_keep(away, True, "10.0.0.4")
    before.detach(away.sid, away.gen, away)
    kept = KeptSessions(redis_client, 600, per_address=5, total=50)
    rotating = SessionStore(redis_client, sealing.Keyring.from_secrets("n" * 32, "k" * 32), 2, kept)
    assert rotating.rewrap_kept() >= 1
    wrapped = redis_client.hget(keys.session(away.sid), "wkey")
    sealing.unwrap_key(sealing.server_key("n" * 32), wrapped, away.sid)  # raises if not new
    s = store(redis_client)
    s.end(away.sid)


def test_end_leaves_no_key_and_no_place_in_the_counts(redis_client):
    s = store(redis_client)
    session = s.create("g")
    s.set_keep(session, True, "10.0.0.3")
    redis_client.set(keys.request(session.sid, "r1"), "done", ex=300)
    fill(redis_client, session.sid)
    s.end(session.sid, every=True)
    assert list(redis_client.scan_iter(match=f"*{session.sid}*")) == []
    assert redis_client.zscore(keys.kept(), session.sid) is None
    assert redis_client.zscore(keys.kept_address("10.0.0.3"), session.sid) is None
