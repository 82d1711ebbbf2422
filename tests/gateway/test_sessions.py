"""Sessions and the vault against a real Redis: resume tokens rotate, resumed ids are
checked before they reach a key name, and the server secret can be rotated."""

from __future__ import annotations

import pytest

from envelopes import keys, sealing
from envelopes.errors import CredentialsInvalid, SessionError
from envelopes.vault import Vault
from gateway.sessions import SessionStore

A, B = "a" * 32, "b" * 32


def test_every_resume_rotates_the_token(redis_client):
    store = SessionStore(redis_client, sealing.server_key(A), 60)
    first = store.create("g1")
    second = store.resume(first.sid, first.token, "g2")
    assert second.resumed and second.token != first.token
    with pytest.raises(SessionError) as refused:
        store.resume(first.sid, first.token, "g3")  # the old token no longer opens it
    assert refused.value.code == "session-refused"
    third = store.resume(second.sid, second.token, "g3")
    assert third.token not in (first.token, second.token) and third.gen == second.gen + 1


def test_two_resumes_with_one_token_cannot_both_win(redis_client, monkeypatch):
    store = SessionStore(redis_client, sealing.server_key(A), 60)
    first = store.create("g1")
    # The second resume read the session before the first one replaced the token.
    seen = redis_client.hmget(keys.session(first.sid), ["tok", "wkey", "keep", "ka"])
    winner = store.resume(first.sid, first.token, "g2")
    monkeypatch.setattr(redis_client, "hmget", lambda *_a, **_k: seen)
    with pytest.raises(SessionError) as lost:
        store.resume(first.sid, first.token, "g3")
    assert lost.value.code == "session-refused"
    assert redis_client.hget(keys.session(first.sid), "gw") == b"g2"
    assert store.current_gen(first.sid) == winner.gen


@pytest.mark.parametrize(
    "sid",
    [
        12345,
        None,
        ["x"],
        {"a": 1},
        "",
        "x" * 65,
        "x" * 10_000,
        "abc:out",  # another key of the session, of another type
        "../../etc",
        "s p a c e",
        "ünïcode-session-id-xx",
    ],
    ids=["int", "none", "list", "dict", "empty", "65", "10k", "other-key", "dots", "space", "uni"],
)
def test_malformed_session_ids_are_refused_clearly(redis_client, sid):
    store = SessionStore(redis_client, sealing.server_key(A), 60)
    real = store.create("g1")
    redis_client.xadd(keys.session_stream(real.sid), {"x": "1"})
    if sid == "abc:out":  # a stream where a session hash would be: WRONGTYPE if looked up
        sid = f"{real.sid}:out"
    with pytest.raises(SessionError) as refused:
        store.resume(sid, real.token, "g2")
    assert refused.value.code == "session-refused"
    assert "session id" in refused.value.message


@pytest.mark.parametrize("token", [None, 7, "", "t" * 200], ids=["none", "int", "empty", "200"])
def test_malformed_tokens_are_refused_clearly(redis_client, token):
    store = SessionStore(redis_client, sealing.server_key(A), 60)
    real = store.create("g1")
    with pytest.raises(SessionError) as refused:
        store.resume(real.sid, token, "g2")
    assert refused.value.code == "session-refused"


def _keys(secret: str, previous: str = "") -> sealing.Keyring:
    return sealing.Keyring.from_secrets(secret, previous)


def test_the_previous_secret_unwraps_and_the_key_is_rewrapped_on_use(redis_client):
    old = SessionStore(redis_client, _keys(A), 60).create("g1")
    Vault(redis_client, _keys(A)).store(old.sid, "dummy", "me", {"password": "pw"})
    with pytest.raises(CredentialsInvalid) as broken:
        Vault(redis_client, _keys(B)).load(old.sid, "dummy", "me")
    assert "SOCKETHUB_SECRET" in str(broken.value)

    rotated = Vault(redis_client, _keys(B, A))
    assert rotated.load(old.sid, "dummy", "me") == {"password": "pw"}
    # rewrapped under B: B alone opens it from now on, A alone no longer does
    assert Vault(redis_client, _keys(B)).load(old.sid, "dummy", "me") == {"password": "pw"}
    with pytest.raises(CredentialsInvalid):
        Vault(redis_client, _keys(A)).load(old.sid, "dummy", "me")


def test_a_resume_rewraps_under_the_current_secret(redis_client):
    old = SessionStore(redis_client, _keys(A), 60).create("g1")
    SessionStore(redis_client, _keys(B, A), 60).resume(old.sid, old.token, "g2")
    wrapped = redis_client.hget(keys.session(old.sid), "wkey")
    sealing.unwrap_key(sealing.server_key(B), wrapped, old.sid)  # raises if not B's


def test_a_mixed_fleet_reads_both_while_the_secret_changes(redis_client):
    """Step 1 of the procedure: the new secret is accepted everywhere before it is used."""
    sess = SessionStore(redis_client, _keys(A), 60).create("g1")
    behind, ahead = Vault(redis_client, _keys(A, B)), Vault(redis_client, _keys(B, A))
    ahead.store(sess.sid, "dummy", "me", {"n": 1})  # rewraps under B
    assert behind.load(sess.sid, "dummy", "me") == {"n": 1}  # rewraps back under A
    assert ahead.load(sess.sid, "dummy", "me") == {"n": 1}
    behind.store(sess.sid, "dummy", "me", {"n": 2})
    assert ahead.load(sess.sid, "dummy", "me") == {"n": 2}


def test_a_connection_opened_before_the_rotation_keeps_its_key(redis_client):
    """Tabs with the same account share one upstream connection across a rotation: the
    key computed under the previous secret is used while that connection exists."""
    one = SessionStore(redis_client, _keys(A), 60).create("g1")
    two = SessionStore(redis_client, _keys(B, A), 60).create("g1")
    Vault(redis_client, _keys(A)).store(one.sid, "irc", "me", {"n": 1}, ("me@irc", True))
    _, before = Vault(redis_client, _keys(A)).lookup(one.sid, "irc", "me")
    assert before is not None
    rotated = Vault(redis_client, _keys(B, A))
    rotated.store(two.sid, "irc", "me", {"n": 1}, ("me@irc", True))
    _, fresh = rotated.lookup(two.sid, "irc", "me")
    assert fresh != before  # no live connection under the old key: the new key
    redis_client.hset(keys.connection("irc", before), "owner", "q")  # now there is one
    rotated.store(two.sid, "irc", "me", {"n": 1}, ("me@irc", True))
    assert rotated.lookup(two.sid, "irc", "me")[1] == before


def test_the_heartbeat_rewraps_attached_sessions_while_rotating(redis_client):
    """Sessions that sit attached and idle do not keep the old secret needed."""
    idle = [SessionStore(redis_client, _keys(A), 60).create("g1") for _ in range(3)]
    SessionStore(redis_client, _keys(A), 60).touch([s.sid for s in idle])  # nothing to do
    rotating = SessionStore(redis_client, _keys(B, A), 60)
    rotating.touch([s.sid for s in idle])
    for s in idle:
        wrapped = redis_client.hget(keys.session(s.sid), "wkey")
        sealing.unwrap_key(sealing.server_key(B), wrapped, s.sid)  # raises if not B's
    redis_client.delete(keys.session(idle[0].sid))
    rotating.touch([idle[0].sid])  # an ended session is not brought back
    assert not redis_client.exists(keys.session(idle[0].sid))


def test_att_says_whether_a_socket_is_attached(redis_client):
    """``att``: 1 on create and resume, 0 on detach of the current generation only (the
    worker decides on Web Push by it)."""
    store = SessionStore(redis_client, sealing.server_key(A), 60)

    def att(sid: str) -> bytes | None:
        return redis_client.hget(keys.session(sid), "att")

    first = store.create("g1")
    assert att(first.sid) == b"1"
    store.detach(first.sid, first.gen)
    assert att(first.sid) == b"0"
    second = store.resume(first.sid, first.token, "g2")
    assert att(first.sid) == b"1"
    store.detach(first.sid, first.gen)  # the old socket's late detach changes nothing
    assert att(first.sid) == b"1"
    store.detach(second.sid, second.gen)
    assert att(first.sid) == b"0"
