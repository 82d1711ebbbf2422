from __future__ import annotations

import time

import pytest

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.errors import FrameTooLarge, InvalidFrame
from envelopes.outbox import Outbox
from gateway.app import origin_allowed
from gateway.frames import parse_frame, request_id_of
from gateway.pump import Sweeper
from gateway.ratelimit import TokenBucket
from gateway.sessions import SessionStore


def test_parse_frame_kinds_and_errors():
    assert parse_frame('{"kind":"ping"}', 100).kind == "ping"
    f = parse_frame('{"kind":"request","id":"a","activity":{}}', 100)
    assert (f.kind, f.id, f.activity) == ("request", "a", {})
    bare = parse_frame('{"@context":[],"id":"e1"}', 100)
    assert (bare.kind, bare.id) == ("request", "e1")
    with pytest.raises(FrameTooLarge, match="over the limit of 10 bytes"):
        parse_frame('{"kind":"ping"}', 10)
    with pytest.raises(InvalidFrame, match="binary"):
        parse_frame(b"{}", 100)
    with pytest.raises(InvalidFrame, match="1-128"):
        parse_frame('{"kind":"request","id":"' + "x" * 200 + '","activity":{}}', 1000)
    assert request_id_of('{"kind":"request","id":"q"}') == "q"
    assert request_id_of("junk") is None


def test_origin_rules():
    assert origin_allowed(None, "h:1", ())
    assert origin_allowed("http://h:1", "h:1", ())
    assert not origin_allowed("http://evil:1", "h:1", ())
    assert origin_allowed("https://app.example", "h:1", ("https://app.example/",))
    assert not origin_allowed("https://other.example", "h:1", ("https://app.example",))
    assert origin_allowed("https://any", "h:1", ("*",))


def test_token_bucket():
    now = [0.0]
    b = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [b.allow() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert b.allow() and not b.allow()


def test_sweeper_answers_timeout_once(redis_client):
    r = redis_client
    server = sealing.server_key("u" * 32)
    s = SessionStore(r, server, 100).create("gw").sid
    atrest = AtRest(r, server)
    r.set(keys.request(s, "q"), atrest.marker(s, "q", {"type": "echo"}))
    r.zadd(keys.deadlines(), {keys.deadline_member(s, "q"): time.time() - 1})
    sweeper = Sweeper(r, Outbox(r, sealer=atrest))
    assert sweeper.tick() == 1
    assert sweeper.tick() == 0
    ((_, fields),) = r.xrange(keys.session_stream(s))
    frame = atrest.open_frame(s, fields[b"f"]) or ""
    assert '"code":"timeout"' in frame
    assert '"activity":{"type":"echo"' in frame
