"""The kept answers of HTTP actions, against a real Redis: claimed once, sealed, bounded."""

from __future__ import annotations

import json

from envelopes import keys
from envelopes.sealing import Keyring
from gateway.httpreplay import COMPLETE, NEW, RUNNING, ReplayStore

A = "replay-secret-0123456789"
B = "another-secret-0123456789"


def store(redis_client, secret: str = A, previous: str = "", max_bytes: int = 1000) -> ReplayStore:
    return ReplayStore(redis_client, Keyring.from_secrets(secret, previous), 60, max_bytes, 40)


def test_claimed_once_then_complete(redis_client) -> None:
    s = store(redis_client)
    assert s.claim("r1") == NEW
    assert s.claim("r1") == RUNNING and s.status("r1") == RUNNING
    assert 0 < redis_client.pttl(keys.http_action("r1")) <= 40_000  # a dead call frees it
    rec = s.recorder("r1")
    rec.add('{"a":1}')
    rec.add('{"b":"secret words"}')
    rec.complete()
    assert s.claim("r1") == COMPLETE
    assert s.lines("r1") == ['{"a":1}', '{"b":"secret words"}']
    assert 50_000 < redis_client.pttl(keys.http_action_lines("r1")) <= 60_000
    raw = b"".join(redis_client.lrange(keys.http_action_lines("r1"), 0, -1))
    assert b"secret words" not in raw


def test_a_line_moved_does_not_open(redis_client) -> None:
    s = store(redis_client)
    for rid in ("x", "y"):
        rec = s.recorder(rid)
        rec.add(f'"{rid}0"')
        rec.add(f'"{rid}1"')
    lines = keys.http_action_lines
    moved = redis_client.lindex(lines("x"), 1)
    redis_client.lset(lines("y"), 0, moved)  # another id
    redis_client.lset(lines("x"), 0, moved)  # another place
    for rid in ("x", "y"):
        assert "cannot be opened" in json.loads(s.lines(rid)[0])["error"]
    assert s.lines("x")[1] == '"x1"'


def test_bounded_in_bytes(redis_client) -> None:
    s = store(redis_client, max_bytes=25)
    rec = s.recorder("big")
    for i in range(5):
        rec.add(json.dumps("x" * 8 + str(i)))
    kept = s.lines("big")
    assert kept[:2] == ['"xxxxxxxx0"', '"xxxxxxxx1"']
    assert len(kept) == 3 and "SOCKETHUB_HTTP_REPLAY_MAX_BYTES" in kept[2]


def test_kept_answers_survive_a_secret_rotation(redis_client) -> None:
    rec = store(redis_client, A).recorder("rot")
    rec.add('"before"')
    assert store(redis_client, B, previous=A).lines("rot") == ['"before"']
    assert "cannot be opened" in store(redis_client, B).lines("rot")[0]
