"""The pieces that keep one hostile socket from hurting others, each on its own."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis as redis_lib

import gateway.pump as pump_module
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.errors import InvalidUnicode
from envelopes.outbox import Outbox as _Outbox
from gateway.frames import lone_surrogate_path, parse_frame, request_id_of
from gateway.pump import Pump, Sweeper
from gateway.sendqueue import BEHIND, FINISHED, SendQueue
from gateway.sessions import SessionStore
from gateway.wire import SendTimeout, Wire


def test_lone_surrogates_are_refused_anywhere_with_their_path():
    assert lone_surrogate_path({"a": ["ok", {"b": "x\ud800"}]}) == "a[1].b"
    assert lone_surrogate_path({"k\udc00": 1}) == "k\\udc00"
    assert lone_surrogate_path({"a": "\U0001f600"}) is None
    with pytest.raises(InvalidUnicode) as err:
        parse_frame('{"kind":"request","id":"a","activity":{"x":["\\udfff"]}}', 1000)
    assert err.value.path == "activity.x[0]"
    assert err.value.code == "invalid-unicode"
    # A pair is one character; an escaped backslash is not an escape.
    assert parse_frame('{"kind":"ping","a":"\\ud83d\\ude00","b":"\\\\ud800"}', 1000).kind == "ping"
    assert request_id_of('{"id":"\\ud800"}') is None


def test_send_queue_gives_up_past_its_budget_and_frees_what_it_held():
    q = SendQueue(budget=1000)
    assert q.offer("x" * 5000)  # one frame larger than the budget still goes, alone
    assert q.get() == "x" * 5000
    assert q.offer("a" * 600) and not q.offer("b" * 600)
    assert q.queued_bytes == 0 and q.get() is BEHIND
    assert not q.offer("c")
    q2 = SendQueue(budget=100)
    assert q2.put("a" * 80, timeout=1)
    started = time.monotonic()
    assert not q2.put("b" * 80, timeout=0.2)  # nobody takes: the replay gives up too
    assert time.monotonic() - started < 2 and q2.get() is BEHIND
    q3 = SendQueue(budget=100)
    q3.finish()
    assert q3.get() is FINISHED


def _slow_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return a, b


def test_wire_writes_every_byte_to_a_slow_reader():
    a, b = _slow_pair()
    wire = Wire(a, timeout=10)
    data = bytes(range(256)) * 8192  # 2 MiB, far more than both buffers
    got = bytearray()

    def read() -> None:
        time.sleep(0.5)
        while len(got) < len(data):
            got.extend(b.recv(65536))

    reader = threading.Thread(target=read)
    reader.start()
    assert wire.send(data) == len(data)
    reader.join(10)
    assert bytes(got) == data
    a.close()
    b.close()


def test_wire_send_times_out_and_cuts_the_socket():
    a, b = _slow_pair()
    wire = Wire(a, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SendTimeout):
        wire.send(b"y" * (4 << 20))
    assert time.monotonic() - started < 3
    with pytest.raises(OSError):
        wire.send(b"more")  # shut down: nothing follows a half-written frame
    b.close()
    wire.close()


SERVER = sealing.server_key("p" * 32)


def Outbox(r):  # noqa: N802 - the real one, sealing under these tests' secret
    return _Outbox(r, sealer=AtRest(r, SERVER))


def test_sweeper_skips_what_it_cannot_answer(redis_client):
    r = redis_client
    sid = SessionStore(r, SERVER, 60).create("gw").sid
    past = time.time() - 5
    for i in range(250):  # more poison than one batch
        r.set(keys.request("bad", f"p{i}"), 'p{"type":"echo","content":"\\ud800"}')
        r.zadd(keys.deadlines(), {keys.deadline_member("bad", f"p{i}"): past - 1})
    r.zadd(keys.deadlines(), {b"\xff\xfe": past - 2})
    r.set(keys.request(sid, "q"), AtRest(r, SERVER).marker(sid, "q", {"type": "echo"}))
    r.zadd(keys.deadlines(), {keys.deadline_member(sid, "q"): past})
    sweeper = Sweeper(r, Outbox(r))
    for _ in range(3):
        sweeper.tick()
    ((_, fields),) = r.xrange(keys.session_stream(sid))
    assert '"code":"timeout"' in (AtRest(r, SERVER).open_frame(sid, fields[b"f"]) or "")
    assert r.zcard(keys.deadlines()) == 0


def test_pump_reads_the_other_streams_when_one_cannot_be_read(redis_url, redis_client, monkeypatch):
    monkeypatch.setattr(pump_module, "SWEEP", 0.3)  # each pass reads both streams at once
    store = SessionStore(redis_client, SERVER, 60)
    good, broken = store.create("g1"), store.create("g1")
    redis_client.set(keys.session_stream(broken.sid), "not a stream")
    pump = Pump(redis_lib.Redis.from_url(redis_url), redis_client, "g1", block_ms=200)
    got: list[bytes] = []
    pump.add(broken.sid, "0-0", lambda f: None)
    pump.add(good.sid, "0-0", lambda f: got.append(f[b"seq"]))
    pump.start()
    try:
        time.sleep(0.5)
        Outbox(redis_client).event(good.sid, {"n": 1})
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            time.sleep(0.02)
        assert got == [b"1"]
    finally:
        pump.stop()
