"""A browser that stops sending an upload's body mid-way is answered, not waited on for
ever: the real gateway (gunicorn with gevent) ends the PUT at SOCKETHUB_UPLOAD_TIMEOUT."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from envelopes.atrest import AtRest
from envelopes.sealing import Keyring
from envelopes.uploads import Uploads
from gateway.uploads import PATH

from ..stack import SECRET, Stack
from ..wsclient import Client

pytestmark = pytest.mark.integration

TIMEOUT = 2  # SOCKETHUB_UPLOAD_TIMEOUT


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(platforms=("dummy",), env_overrides={"SOCKETHUB_UPLOAD_TIMEOUT": str(TIMEOUT)})
    s.start()
    yield s
    s.stop()


def test_a_body_that_stops_coming_is_refused_at_the_upload_timeout(stack: Stack) -> None:
    c = Client(stack.ws_url)
    sid = c.welcome["session"]
    redis = stack.redis()
    store = Uploads(redis, AtRest(redis, Keyring.from_secrets(SECRET, "")), 30, TIMEOUT)
    token, _ = store.offer(sid, "xmpp", 1000, {"put": "https://upload.example/x", "get": "g"})
    host, port = stack.url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT + 10) as raw:
        raw.sendall(
            f"PUT {PATH}{token} HTTP/1.1\r\nHost: {host}\r\nX-Sockethub-Session: {sid}\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
            + b"x" * 10  # then nothing more
        )
        started = time.monotonic()
        answer = raw.recv(4096).decode(errors="replace")
        took = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "SOCKETHUB_UPLOAD_TIMEOUT" in answer
    assert took < TIMEOUT + 5, took
    c.close()
