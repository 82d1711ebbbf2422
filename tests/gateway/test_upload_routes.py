"""The gateway's upload route against real Redis (gateway/uploads.py, envelopes/uploads.py,
tasks/uploads.py): one-time tokens bound to a session, bodies counted as they stream,
nothing of a file clear in Redis, the worker's PUT with the slot's headers.

The worker's part runs inline (the ``dispatch`` twin) with a recording PUT in place of
the HTTP client; tests/integration/test_xmpp_upload.py runs it against Prosody.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from envelopes.atrest import AtRest
from envelopes.errors import RateLimited
from envelopes.registry import default_registry
from envelopes.sealing import Keyring
from envelopes.settings import Settings
from envelopes.uploads import CHUNK_BYTES, Uploads
from gateway.sessions import SessionStore
from gateway.uploads import PATH, register
from tasks.uploads import send_upload

SECRET = "test-secret-0123456789abcdef"
AUTH = "Bearer slot-secret-abcdef0123456789"
GET = "https://upload.example/file_share/0123-abcd/holiday.jpg"
SLOT = {
    "put": "https://upload.example/file_share/0123-abcd/holiday.jpg",
    "get": GET,
    "headers": {"Authorization": AUTH},
    "name": "holiday.jpg",
    "mediaType": "image/jpeg",
}


def everything_in(redis: Any) -> bytes:
    """Every key and value in Redis, as one blob to search."""
    out = bytearray()
    for key in redis.scan_iter(count=1000):
        out += key
        kind = redis.type(key)
        if kind == b"string":
            out += redis.get(key) or b""
        elif kind == b"list":
            out += b"".join(redis.lrange(key, 0, -1))
        elif kind == b"hash":
            for k, v in redis.hgetall(key).items():
                out += k + v
        elif kind == b"set":
            out += b"".join(redis.smembers(key))
        elif kind == b"zset":
            out += b"".join(m for m, _ in redis.zrange(key, 0, -1, withscores=True))
        elif kind == b"stream":
            for _id, entry in redis.xrange(key):
                for k, v in entry.items():
                    out += k + v
    return bytes(out)


class Rig:
    def __init__(self, redis: Any):
        self.redis = redis
        self.settings = Settings(secret=SECRET, upload_ttl=30, upload_timeout=10)
        server = Keyring.from_secrets(SECRET, "")
        self.atrest = AtRest(redis, server)
        self.sessions = SessionStore(redis, server, 60)
        self.puts: list[dict[str, Any]] = []
        self.during: list[bytes] = []  # what Redis held when the worker took the upload
        hub = SimpleNamespace(
            settings=self.settings, redis=redis, atrest=self.atrest, registry=default_registry()
        )
        app = Flask(__name__)
        register(app, hub, lambda origin, host: origin in (None, "http://localhost"), self.run)
        self.web = app.test_client()
        self.store = Uploads(redis, self.atrest, 30, 10)

    def put(self, url: str, **kw: Any) -> Any:
        self.puts.append({"url": url, **kw})
        return SimpleNamespace(status=201)

    def run(self, queue: str, message: bytes) -> None:
        """The worker's task, as one would take it off ``queue``."""
        assert queue == "xmpp"
        body = json.loads(base64.b64decode(json.loads(message)["body"]))
        self.during.append(everything_in(self.redis))
        send_upload(self.redis, self.atrest, self.settings, body[0][0], put=self.put)

    def session(self) -> str:
        return self.sessions.create("gw1").sid

    def offer(self, sid: str, size: int, store: Uploads | None = None) -> str:
        token, _ = (store or self.store).offer(sid, "xmpp", size, dict(SLOT))
        return token

    def send(self, token: str, sid: str, body: bytes, **headers: str) -> Any:
        return self.web.put(
            f"{PATH}{token}", data=body, headers={"X-Sockethub-Session": sid, **headers}
        )


@pytest.fixture
def rig(redis_client: Any) -> Rig:
    return Rig(redis_client)


def test_a_file_goes_through_sealed_and_once(rig: Rig) -> None:
    sid = rig.session()
    data = os.urandom(1024 * 1024 + 7)  # not a whole number of chunks
    token = rig.offer(sid, len(data))
    # The record names the session, the slot is sealed: no URL, no Authorization, no name.
    blob = everything_in(rig.redis)
    for secret in (AUTH.encode(), b"holiday", token.encode()):
        assert secret not in blob

    got = rig.send(token, sid, data)
    assert got.status_code == 200, got.json
    assert got.json == {
        "type": "file",
        "url": GET,
        "name": "holiday.jpg",
        "size": len(data),
        "mediaType": "image/jpeg",
    }
    # The worker PUT the very bytes, with the slot's headers, through the guarded client.
    (put,) = rig.puts
    assert put["url"] == SLOT["put"] and put["method"] == "PUT" and put["body"] == data
    assert put["headers"] == {"Authorization": AUTH, "Content-Type": "image/jpeg"}
    assert put["allow_private"] is False and put["max_redirects"] == 0

    # While the worker had it, Redis held the file in sealed chunks, none of it clear.
    (during,) = rig.during
    for at in range(0, len(data) - 64, len(data) // 16):
        assert data[at : at + 32] not in during
    assert AUTH.encode() not in during and GET.encode() not in during
    # Afterwards: the chunks and the slot are gone; the token stays used.
    assert not list(rig.redis.scan_iter(match="sh:up:*:data"))
    (record,) = [k for k in rig.redis.scan_iter(match="sh:up:*")]
    assert b"slot" not in rig.redis.hgetall(record)
    for secret in (AUTH.encode(), GET.encode(), data[1000:1032]):
        assert secret not in everything_in(rig.redis)

    again = rig.send(token, sid, data)
    assert again.status_code == 409 and again.json["reason"] == "used", again.json
    assert "used already" in again.json["error"]["message"]
    assert len(rig.puts) == 1


def test_tokens_are_bound_to_their_session_and_expire(rig: Rig) -> None:
    owner, other = rig.session(), rig.session()
    token = rig.offer(owner, 5)
    got = rig.send(token, other, b"hello")
    assert got.status_code == 403 and got.json["reason"] == "other-session", got.json
    assert rig.send(token, "", b"hello").status_code == 403
    # Another session's attempt did not use the owner's token up.
    assert rig.send(token, owner, b"hello").status_code == 200

    wrong = rig.send("A" * 43, owner, b"hello")
    assert wrong.status_code == 404 and wrong.json["reason"] == "unknown"
    assert rig.send("../../etc", owner, b"hello").status_code == 404

    past = Uploads(rig.redis, rig.atrest, 30, 10, clock=lambda: time.time() - 31)
    old = rig.offer(owner, 5, past)
    expired = rig.send(old, owner, b"hello")
    assert expired.status_code == 410 and expired.json["reason"] == "expired", expired.json
    assert "SOCKETHUB_UPLOAD_TTL" in expired.json["error"]["message"]
    assert len(rig.puts) == 1


def test_bodies_are_counted_as_they_stream(rig: Rig) -> None:
    sid = rig.session()
    size = CHUNK_BYTES + 10
    # No Content-Length (chunked): refused at the first byte past the size asked for.
    token = rig.offer(sid, size)
    stream = io.BytesIO(b"x" * (size + 1))
    got = rig.web.put(
        f"{PATH}{token}",
        input_stream=stream,
        headers={"X-Sockethub-Session": sid, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert got.status_code == 413, got.json
    assert got.json["error"]["code"] == "too-large"
    assert f"larger than the {size} bytes" in got.json["error"]["message"]
    # What had been written is deleted; the token is spent.
    assert not list(rig.redis.scan_iter(match="sh:up:*:data"))
    assert rig.send(token, sid, b"x" * size).status_code == 409

    # A Content-Length over the size is refused before a byte is read.
    token = rig.offer(sid, 10)
    got = rig.send(token, sid, b"y" * 11)
    assert got.status_code == 413 and "Content-Length 11" in got.json["error"]["message"]
    # A body that ends early is refused too: the slot is for exactly that size.
    token = rig.offer(sid, 10)
    got = rig.send(token, sid, b"z" * 9)
    assert got.status_code == 400 and "after 9 of the 10 bytes" in got.json["error"]["message"]
    assert rig.puts == []


def test_a_session_has_a_bounded_number_of_uploads_under_way(rig: Rig) -> None:
    sid, other = rig.session(), rig.session()
    store = Uploads(rig.redis, rig.atrest, 30, 10, per_session=2)
    first, _second = rig.offer(sid, 5, store), rig.offer(sid, 5, store)
    with pytest.raises(RateLimited, match="SOCKETHUB_UPLOAD_MAX_PER_SESSION"):
        rig.offer(sid, 5, store)
    rig.offer(other, 5, store)  # each session its own
    assert rig.send(first, sid, b"hello").status_code == 200  # sent on: no longer counts
    rig.offer(sid, 5, store)
    # One that expired unused stops counting once it could no longer be sent on.
    later = Uploads(rig.redis, rig.atrest, 30, 10, per_session=2, clock=lambda: time.time() + 41)
    rig.offer(sid, 5, later)


def test_origins_as_for_the_socket(rig: Rig) -> None:
    sid = rig.session()
    token = rig.offer(sid, 5)
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"}
    got = rig.send(token, sid, b"hello", Origin="https://evil.example")
    assert got.status_code == 403 and "origin" in got.json["error"]["message"]
    assert "Access-Control-Allow-Origin" not in got.headers
    assert rig.web.options(f"{PATH}{token}", headers=evil).status_code == 403
    # An origin the socket accepts (here the rig's http://localhost) gets its CORS answers.
    ok = {"Origin": "http://localhost", "Access-Control-Request-Method": "PUT"}
    pre = rig.web.options(f"{PATH}{token}", headers=ok)
    assert pre.status_code == 204, pre.data
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost"
    assert "X-Sockethub-Session" in pre.headers["Access-Control-Allow-Headers"]
    assert "PUT" in pre.headers["Access-Control-Allow-Methods"]
    got = rig.send(token, sid, b"hello", Origin="http://localhost")  # still unused
    assert (
        got.status_code == 200 and got.headers["Access-Control-Allow-Origin"] == "http://localhost"
    )
    again = rig.send(token, sid, b"hello", Origin="http://localhost")
    assert again.status_code == 409 and "Access-Control-Allow-Origin" in again.headers
