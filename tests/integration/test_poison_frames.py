"""Poison frames against a real gateway: lone surrogates, exceptions after the upgrade,
frames far over the limit. Whatever a browser sends, it gets a reply or a close code."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

import pytest
import websocket

from envelopes import keys
from gateway.cli import start_private_redis

from ..wsclient import Client, activity

pytestmark = pytest.mark.integration


def close_frame(ws: websocket.WebSocket) -> tuple[int, str]:
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big"), data[2:].decode()


def surrogate_request(rid_json: str, content_json: str) -> str:
    act = json.dumps(activity("dummy", "echo", object={"type": "message", "content": "X"}))
    act = act.replace('"X"', content_json)
    return f'{{"kind": "request", "id": {rid_json}, "activity": {act}}}'


@pytest.mark.parametrize(
    "raw, rid, path",
    [
        (surrogate_request('"s1"', '"\\ud800"'), "s1", "activity.object.content"),
        (surrogate_request('"s2"', '"ok \\udfff ok"'), "s2", "activity.object.content"),
        (surrogate_request('"\\ud800"', '"fine"'), None, "id"),
        (
            '{"kind": "request", "id": "s3", "activity": {"\\ud83d": 1}}',
            "s3",
            "activity.\\ud83d",
        ),
    ],
)
def test_a_lone_surrogate_gets_a_failed_reply_naming_where(stack, raw, rid, path):
    c = Client(stack.ws_url)
    c.send_raw(raw)
    reply = c.wait(lambda f: f.get("kind") == "reply", timeout=10)
    assert reply["id"] == rid
    assert reply["status"] == "failed"
    assert reply["error"]["code"] == "invalid-unicode", reply
    assert reply["error"]["path"] == path
    # A paired surrogate is a character like any other, and the socket is still usable.
    ok = c.request(activity("dummy", "echo", object={"type": "message", "content": "\U0001f600"}))
    assert ok["status"] == "completed" and ok["result"]["object"]["content"] == "\U0001f600"
    c.close()


def test_a_poisoned_deadline_does_not_delay_another_sessions_timeout(stack):
    r = stack.redis()
    victim = Client(stack.ws_url)
    sid = victim.welcome["session"]
    # Deadline entries no gateway can answer as they are, due before the victim's.
    for i in range(250):
        member = keys.deadline_member(f"poison{i}", f"p{i}")
        r.set(keys.request(f"poison{i}", f"p{i}"), 'p{"type":"echo","content":"\\ud800"}')
        r.zadd(keys.deadlines(), {member: time.time() - 10})
    r.zadd(keys.deadlines(), {b"\xff\xfe not a member": time.time() - 10})
    # A request of the victim's that no worker will answer, due in one second.
    r.set(keys.request(sid, "late1"), 'p{"type":"echo"}', ex=60)
    due = time.time() + 1
    r.zadd(keys.deadlines(), {keys.deadline_member(sid, "late1"): due})
    reply = victim.reply("late1", timeout=15)
    took = time.time() - due
    assert reply["error"]["code"] == "timeout"
    assert took < 3, f"timeout reply came {took:.1f} s late"
    victim.close()


# -- raw sockets: what is on the wire after the upgrade ----------------------------------


def upgrade(port: int) -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /sockethub HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest


def send_text(s: socket.socket, text: str) -> None:
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    header = bytes([0x81]) + (
        bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big")
    )
    s.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def read_frames(s: socket.socket, buf: bytes, until: float) -> list[tuple[int, bytes]]:
    """Every WebSocket frame until the server closes; fails on anything that is not one."""
    frames: list[tuple[int, bytes]] = []
    s.settimeout(0.5)
    while time.time() < until:
        while len(buf) >= 2:
            assert buf[0] & 0x70 == 0 and buf[0] & 0x0F in (1, 8, 9, 10), buf[:200]
            n, at = buf[1] & 0x7F, 2
            if n == 126:
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                n, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + n:
                break
            frames.append((buf[0] & 0x0F, buf[at : at + n]))
            buf = buf[at + n :]
            if frames[-1][0] == 8:
                return frames
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        buf += chunk
    assert not buf, f"bytes that are not a WebSocket frame: {buf[:200]!r}"
    return frames


def test_a_lone_surrogate_id_on_a_raw_socket_gets_frames_only(stack):
    s, rest = upgrade(stack.gateways[0])
    send_text(s, '{"kind": "hello"}')
    send_text(s, surrogate_request('"\\ud800"', '"x"'))
    frames = read_frames(s, rest, time.time() + 5)
    texts = [json.loads(data) for op, data in frames if op == 1]
    assert texts[0]["kind"] == "welcome"
    (reply,) = [f for f in texts if f.get("kind") == "reply"]
    assert reply["error"]["code"] == "invalid-unicode" and reply["id"] is None
    s.close()


def test_an_exception_after_the_upgrade_closes_with_1011_not_an_http_page(stack):
    # A gateway whose Redis went away after it started (it refuses to start without one):
    # creating the session raises inside the handler.
    redis_proc, redis_url, _ = start_private_redis()
    port = stack.start_gateway(REDIS_URL=redis_url)
    redis_proc.kill()
    redis_proc.wait(timeout=10)
    s, rest = upgrade(port)
    send_text(s, '{"kind": "hello"}')
    frames = read_frames(s, rest, time.time() + 20)
    assert frames and frames[-1][0] == 8, frames
    code = int.from_bytes(frames[-1][1][:2], "big")
    assert code == 1011
    assert b"internal error in the gateway (ref " in frames[-1][1]
    s.close()


@pytest.mark.parametrize("size", [2 * 2**20, 10 * 2**20])
def test_a_frame_far_over_the_limit_closes_with_1009_not_a_reset(stack, size):
    c = Client(stack.ws_url)
    c.send_raw("z" * size)
    code, _reason = close_frame(c.ws)
    assert code == 1009
    c.close()
