"""The gateway's WebSub callback against real Redis: intent checks and pushes."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from flask import Flask

from envelopes import keys
from envelopes.sealing import server_key
from envelopes.settings import Settings
from envelopes.websub import open_push, secret_for
from gateway.websub import register

SECRET = "test-secret-0123456789abcdef"
FID = "f" * 32
TOPIC = "https://e.org/feed"


@pytest.fixture
def web(redis_client: Any) -> Any:
    app = Flask(__name__)
    register(app, redis_client, Settings(secret=SECRET, fetch_max_bytes=1000))
    redis_client.hset(
        keys.follow_feed(FID),
        mapping={"url": TOPIC, "ws_topic": TOPIC, "ws_state": "pending", "ws_nonce": "n1"},
    )
    redis_client.zadd(keys.follow_due(), {FID: 2_000_000_000})
    return app.test_client()


def verify(web: Any, **params: str) -> Any:
    query = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.challenge": "c123"}
    query.update(params)
    return web.get(f"/websub/{FID}", query_string=query)


def signed(body: bytes, secret: str | None = None) -> dict[str, str]:
    key = secret or secret_for(server_key(SECRET), FID, "n1")
    return {"X-Hub-Signature": "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def test_intent_is_confirmed_only_for_what_we_asked(web: Any, redis_client: Any) -> None:
    assert verify(web, **{"hub.topic": "https://other/"}).status_code == 404
    assert web.get("/websub/" + "0" * 32, query_string={"hub.mode": "subscribe"}).status_code == 404
    got = verify(web, **{"hub.lease_seconds": "100"})
    assert got.status_code == 200 and got.data == b"c123"
    record = redis_client.hgetall(keys.follow_feed(FID))
    assert record[b"ws_state"] == b"active" and record[b"ws_lease"] == b"100"
    # The renewal poll is scheduled at three quarters of the lease, sooner than before.
    assert redis_client.zscore(keys.follow_due(), FID) < float(record[b"ws_until"])
    assert verify(web, **{"hub.mode": "unsubscribe"}).status_code == 404  # still followed


def test_pushes_need_the_signature_and_wait_sealed(web: Any, redis_client: Any) -> None:
    body = b"<rss>a pushed item title</rss>"
    assert web.post(f"/websub/{FID}", data=body, headers=signed(body, "wrong")).status_code == 202
    assert web.post(f"/websub/{FID}", data=body).status_code == 202
    assert redis_client.hget(keys.follow_feed(FID), "ws_bad") == b"2"
    assert not redis_client.hexists(keys.follow_feed(FID), "ws_push")
    assert web.post(f"/websub/{FID}", data=body, headers=signed(body)).status_code == 202
    sealed = redis_client.hget(keys.follow_feed(FID), "ws_push")
    assert b"pushed item" not in sealed
    assert open_push(server_key(SECRET), FID, sealed) == body
    assert redis_client.zscore(keys.follow_due(), FID) < 2_000_000_000  # due now
    big = b"x" * 1001
    assert web.post(f"/websub/{FID}", data=big, headers=signed(big)).status_code == 413


def test_a_feed_nobody_follows_is_gone(web: Any, redis_client: Any) -> None:
    redis_client.delete(keys.follow_feed(FID))
    assert web.post(f"/websub/{FID}", data=b"x", headers=signed(b"x")).status_code == 410
    assert verify(web, **{"hub.mode": "unsubscribe"}).data == b"c123"
