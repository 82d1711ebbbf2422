"""Slow and greedy browsers against a real gateway process (gunicorn + gevent).

A slow reader is a real TCP client with a 4 KiB receive buffer and a 1460-byte segment size
set before it connects (on loopback the kernel would otherwise absorb megabytes).
"""

from __future__ import annotations

import json
import signal
import socket
import time

import psutil
import pytest
import websocket

from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

MAX_FRAME = 1 << 20
BUDGET = 4 << 20  # four of the largest frames: a burst of them is not "behind"
SLOW = [
    (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
    (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460),
]


class SlowClient(Client):
    """A client whose socket holds almost nothing until it reads."""

    def __init__(self, url: str, hello: dict | None = None):
        self.url = url
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True, sockopt=SLOW)
        self.frames = []
        self.ws.send(json.dumps(hello or {"kind": "hello"}))
        self.welcome = self.recv()


@pytest.fixture(scope="module")
def big():
    s = Stack(
        env_overrides={
            "SOCKETHUB_REQUEST_TIMEOUT": "10",
            "SOCKETHUB_MAX_FRAME_BYTES": str(MAX_FRAME),
            "SOCKETHUB_SEND_BUFFER_BYTES": str(BUDGET),
            "SOCKETHUB_STREAM_MAX_BYTES": str(64 << 20),  # the stream holds all 300 events
            "SOCKETHUB_RATE_LIMIT": "1000",
            "SOCKETHUB_RATE_BURST": "1000",
        }
    ).start()
    yield s
    s.stop()


def close_code(ws: websocket.WebSocket) -> int:
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")


def gateway_rss(stack: Stack, index: int = 0) -> int:
    proc = psutil.Process(stack.procs[f"web{index}"].pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def test_frames_of_the_largest_size_reach_a_slow_reader_whole(big):
    """Frames of about the largest size the gateway writes (events near the 1 MiB reply
    cap), echoes of the schema's largest content, and refusals of over-long requests,
    interleaved, all reach a reader whose socket takes 4 KiB at a time, whole and in
    order. (A refusal no longer echoes a huge request back: only its short fields.)"""
    c = SlowClient(big.ws_url)
    outbox = big.outbox()
    sid = c.welcome["session"]
    sent, pushed = {}, []
    for i in range(4):
        content = chr(ord("a") + i) * (MAX_FRAME - 1024)
        act = activity("dummy", "echo", object={"type": "message", "content": content})
        frame = json.dumps({"kind": "request", "id": f"big{i}", "activity": act})
        assert len(frame) <= MAX_FRAME
        c.send_raw(frame)
        sent[f"big{i}"] = None  # refused: too long for the schema
        body = chr(ord("p") + i) * (MAX_FRAME - 4096)
        assert outbox.event(sid, {"type": "send", "object": {"type": "message", "content": body}})
        pushed.append(body)
    for i in range(3):
        content = chr(ord("k") + i) * 32768  # the schema's largest content
        sent[c.send(activity("dummy", "echo", object={"type": "message", "content": content}))] = (
            content
        )
    time.sleep(3)  # the gateway writes into a full socket meanwhile
    got: dict[str, str | None] = {}
    while len(got) < len(sent):
        reply = c.wait(lambda f: f.get("kind") == "reply", timeout=30)
        if reply["status"] == "completed":
            got[reply["id"]] = reply["result"]["object"]["content"]
        else:
            assert reply["error"]["code"] == "invalid-envelope", reply["error"]
            assert reply["activity"]["truncated"] is True
            got[reply["id"]] = None
    assert got == sent
    events = [f["activity"]["object"]["content"] for f in c.frames if f.get("kind") == "event"]
    while len(events) < len(pushed):
        c.wait(lambda f: f.get("kind") == "event", timeout=30)
        events = [f["activity"]["object"]["content"] for f in c.frames if f.get("kind") == "event"]
    assert events == pushed
    seqs = [f["seq"] for f in c.frames if "seq" in f]
    assert seqs == list(range(seqs[0], seqs[0] + len(sent) + len(pushed)))
    c.close()


def test_a_client_that_never_reads_is_bounded_then_closed_with_4008_and_resumes(big):
    clients = [SlowClient(big.ws_url) for _ in range(4)]
    outbox = big.outbox()
    before = gateway_rss(big)
    n, body = 300, "e" * 65536  # about 20 MiB per socket, written a few events at a time
    for start in range(0, n, 10):
        for c in clients:
            for i in range(start, start + 10):
                event = {"type": "send", "object": {"type": "message", "content": f"{i}:{body}"}}
                assert outbox.event(c.welcome["session"], event) > 0
        time.sleep(0.02)
    time.sleep(2)
    growth = gateway_rss(big) - before
    assert growth < 48 * 2**20, f"gateway grew by {growth / 2**20:.0f} MiB"
    for c in clients:
        # It starts reading at last: whole frames, then the documented close code.
        code = None
        while code is None:
            opcode, data = c.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big")
            elif opcode == websocket.ABNF.OPCODE_TEXT:
                c.frames.append(json.loads(data))
        assert code == 4008
        resumed = Client(big.ws_url, hello={"kind": "hello", "resume": c.resume_info})
        assert resumed.welcome["resumed"] is True and "missed" not in resumed.welcome
        while len([f for f in c.frames + resumed.frames if f.get("kind") == "event"]) < n:
            resumed.recv(timeout=30)
        events = [f for f in c.frames + resumed.frames if f.get("kind") == "event"]
        numbers = [int(f["activity"]["object"]["content"].split(":")[0]) for f in events]
        assert numbers == list(range(n))
        resumed.close()
        c.close()


def test_shutdown_is_not_held_up_by_a_client_that_never_reads(big):
    port = big.start_gateway()
    index = big.gateways.index(port)
    url = big.ws_url_of(index)
    stuck = SlowClient(url)
    outbox = big.outbox()
    for _ in range(40):  # enough to block its writer in the middle of a frame
        outbox.event(stuck.welcome["session"], {"type": "send", "object": {"content": "x" * 65536}})
    time.sleep(1)
    fine = Client(url)
    big.procs[f"web{index}"].send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = close_code(fine.ws)
    took = time.monotonic() - started
    assert code == 1001
    assert took < 4, f"1001 came {took:.1f} s after SIGTERM"
    fine.close()
    stuck.close()


def test_a_resume_is_not_held_up_by_the_old_socket_that_never_reads(big):
    stuck = SlowClient(big.ws_url)
    outbox = big.outbox()
    for _ in range(40):  # its writer is now blocked in the middle of a frame
        outbox.event(stuck.welcome["session"], {"type": "send", "object": {"content": "x" * 65536}})
    time.sleep(1)
    info = {**stuck.resume_info, "lastSeq": 40}  # take the session over, on the same process
    started = time.monotonic()
    again = Client(big.ws_url, hello={"kind": "hello", "resume": info})
    reply = again.request(activity("dummy", "echo", object={"type": "message", "content": "hi"}))
    took = time.monotonic() - started
    assert reply["status"] == "completed"
    assert took < 5, f"the resumed socket answered after {took:.1f} s"
    again.close()
    stuck.close()
