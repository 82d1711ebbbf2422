"""Rate limits that hold: per session across resumes, every frame charged, abuse closed,
sockets and new sessions limited per client address (behind a trusted proxy too)."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import websocket

from envelopes import keys

from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

BURST = 10
MSG = {"type": "message", "content": "hi"}
_addresses = (f"203.0.113.{i}" for i in itertools.count(1))


class From(Client):
    """A client whose trusted proxy says it comes from ``address``."""

    def __init__(self, url: str, address: str, hello: dict | None = None):
        self.url = url
        self.ws = websocket.create_connection(
            url, timeout=15, suppress_origin=True, header=[f"X-Forwarded-For: {address}"]
        )
        self.frames = []
        self.ws.send(json.dumps(hello or {"kind": "hello"}))
        self.welcome = self.recv()


@pytest.fixture(scope="module")
def limited():
    s = Stack(
        env_overrides={
            "SOCKETHUB_RATE_LIMIT": "0.1",
            "SOCKETHUB_RATE_BURST": str(BURST),
            "SOCKETHUB_MAX_SOCKETS_PER_ADDRESS": "3",
            "SOCKETHUB_NEW_SESSIONS_PER_MINUTE": "5",
            "SOCKETHUB_TRUSTED_PROXIES": "127.0.0.1",
        }
    ).start()
    yield s
    s.stop()


def close_frame(ws: websocket.WebSocket, frames: list | None = None) -> tuple[int, str]:
    """Read until the close frame (keeping text frames in ``frames``); its code, reason."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big"), data[2:].decode()
        if opcode == websocket.ABNF.OPCODE_TEXT and frames is not None:
            frames.append(json.loads(data))


def test_pings_and_invalid_frames_are_charged_and_a_resume_gets_no_fresh_burst(limited):
    c = From(limited.ws_url, next(_addresses))  # the hello took one token
    for _ in range(4):
        c.send_raw('{"kind": "ping"}')
    for _ in range(4):
        c.send_raw("not json")
    reply = c.request(activity("dummy", "echo", object=MSG))  # the tenth frame: still fine
    assert reply["status"] == "completed", reply
    refused = c.request(activity("dummy", "echo", object=MSG))
    assert refused["error"]["code"] == "rate-limited", refused
    c.close()
    again = From(limited.ws_url, next(_addresses), hello={"kind": "hello", "resume": c.resume_info})
    assert again.welcome["resumed"] is True
    refused = again.request(activity("dummy", "echo", object=MSG))
    assert refused["error"]["code"] == "rate-limited", refused
    again.close()


def test_sustained_abuse_stops_refusals_and_closes_with_1008(limited):
    c = From(limited.ws_url, next(_addresses))
    for _ in range(200):
        try:
            c.send_raw("junk")
        except (websocket.WebSocketException, OSError):
            break  # closed under us: that is the point
    code, reason = close_frame(c.ws, c.frames)
    assert code == 1008 and "rate limit" in reason
    # What was written for the browser (its stream, which a resume would replay): replies
    # for the burst, `rate-limited` refusals for half of it more, then nothing.
    sid = c.welcome["session"]
    stream = limited.redis().xrange(keys.session_stream(sid))
    opened = limited.outbox().sealer  # frames are sealed at rest under the session's key
    frames = [json.loads(opened.open_frame(sid, f[b"f"])) for _id, f in stream if b"f" in f]
    assert len(frames) <= BURST + BURST // 2 + 2, len(frames)
    assert frames[-1]["error"]["code"] == "rate-limited"
    c.close()


def test_sockets_per_address_are_limited(limited):
    addr = next(_addresses)
    open_ = [From(limited.ws_url, addr) for _ in range(3)]
    ws = websocket.create_connection(
        limited.ws_url, timeout=15, suppress_origin=True, header=[f"X-Forwarded-For: {addr}"]
    )
    code, reason = close_frame(ws)
    assert (code, reason) == (1008, "too many sockets from your address")
    other = From(limited.ws_url, next(_addresses))  # another address is not affected
    open_[0].close()
    ws.close()
    for _ in range(50):  # the gateway counts the closed socket out shortly
        try:
            fourth = From(limited.ws_url, addr)
            break
        except Exception:
            time.sleep(0.1)
    assert fourth.welcome["kind"] == "welcome"
    for c in [*open_[1:], other, fourth]:
        c.close()


def test_new_sessions_per_address_are_limited_but_resumes_are_not(limited):
    addr = next(_addresses)
    first = From(limited.ws_url, addr)
    first.close()
    for _ in range(4):
        From(limited.ws_url, addr).close()
    ws = websocket.create_connection(
        limited.ws_url, timeout=15, suppress_origin=True, header=[f"X-Forwarded-For: {addr}"]
    )
    ws.send('{"kind": "hello"}')
    code, reason = close_frame(ws)
    assert code == 1008 and "too many new sessions" in reason
    ws.close()
    resumed = From(limited.ws_url, addr, hello={"kind": "hello", "resume": first.resume_info})
    assert resumed.welcome["resumed"] is True
    resumed.close()


def test_forwarded_for_is_ignored_from_a_peer_that_is_not_a_trusted_proxy(limited):
    port = limited.start_gateway(SOCKETHUB_TRUSTED_PROXIES="10.0.0.1")
    url = limited.ws_url_of(limited.gateways.index(port))
    clients = [From(url, next(_addresses)) for _ in range(3)]  # all really 127.0.0.1
    ws = websocket.create_connection(
        url, timeout=15, suppress_origin=True, header=[f"X-Forwarded-For: {next(_addresses)}"]
    )
    code, _reason = close_frame(ws)
    assert code == 1008
    ws.close()
    for c in clients:
        c.close()
