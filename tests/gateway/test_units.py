from __future__ import annotations

import ipaddress
import time

import pytest

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.errors import FrameTooLarge, InvalidFrame
from envelopes.outbox import Outbox
from gateway.app import origin_allowed
from gateway.frames import parse_frame, request_id_of
from gateway.pump import Sweeper
from gateway.ratelimit import (
    CLOSE,
    OK,
    REFUSE,
    SILENT,
    Meter,
    SessionBucket,
    client_address,
    verdict,
)
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


def test_rate_verdicts_by_depth_of_debt():
    assert [verdict(t, 10) for t in (3, 0, -1, -4.9, -5, -9, -10)] == [
        OK,
        OK,
        REFUSE,
        REFUSE,
        SILENT,
        SILENT,
        CLOSE,
    ]


def test_session_bucket_is_shared_by_every_socket_of_the_session(redis_client):
    redis_client.hset(keys.session("s"), "gen", 1)
    bucket = SessionBucket(redis_client, 0.001, 30)
    first = Meter(bucket, "s")
    assert [first.charge() for _ in range(25)] == [OK] * 25
    first.flush()  # the socket ends
    second = Meter(SessionBucket(redis_client, 0.001, 30), "s")  # a resume, anywhere
    assert [second.charge() for _ in range(6)] == [OK] * 5 + [REFUSE]  # no fresh burst
    assert float(redis_client.hget(keys.session("s"), "rl_tokens")) < 0


def test_meter_charges_redis_in_batches_far_from_the_limit(redis_client):
    redis_client.hset(keys.session("s"), "gen", 1)
    calls = []
    bucket = SessionBucket(redis_client, 0.001, 100)
    take = bucket.take
    bucket.take = lambda sid, n=1: calls.append(n) or take(sid, n)  # type: ignore[method-assign]
    meter = Meter(bucket, "s")
    for _ in range(50):
        assert meter.charge() == OK
    assert sum(calls) == 50 - meter._pending and len(calls) <= 7


def test_client_address_believes_forwarded_for_only_from_trusted_proxies():
    trusted = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]
    assert client_address("192.0.2.1", "203.0.113.9", trusted) == "192.0.2.1"
    assert client_address("127.0.0.1", "203.0.113.9", trusted) == "203.0.113.9"
    # The client may send its own X-Forwarded-For: only the hops our proxies added count.
    assert client_address("10.1.1.1", "1.1.1.1, 203.0.113.9, 10.2.2.2", trusted) == "203.0.113.9"
    assert client_address("127.0.0.1", None, trusted) == "127.0.0.1"


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
