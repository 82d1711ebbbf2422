"""Sessions across sockets and processes: resume, timeouts, secrets at rest."""

from __future__ import annotations

import json
import signal
import time

import pytest

from envelopes import keys, sealing

from ..servers.ircd import run_ngircd
from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

MSG = {"type": "message", "content": "hi"}
SECRET_VALUE = "correct-horse-battery-staple-77"


@pytest.fixture(scope="module")
def two_gateways():
    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "3"}).start()
    s.start_gateway()
    yield s
    s.stop()


def inject_events(stack: Stack, sid: str, n: int, tag: str, maxlen: int = 2000) -> None:
    outbox = stack.outbox(maxlen)
    for i in range(n):
        assert (
            outbox.event(
                sid,
                {
                    "type": "send",
                    "actor": {"id": "upstream"},
                    "object": {"type": "message", "content": f"{tag}-{i}"},
                },
            )
            > 0
        )


def events(frames, tag):
    return [
        f["activity"]["object"]["content"]
        for f in frames
        if f.get("kind") == "event" and f["activity"]["object"]["content"].startswith(tag)
    ]


def test_live_events_reach_the_session(two_gateways):
    c = Client(two_gateways.ws_url)
    inject_events(two_gateways, c.welcome["session"], 3, "live")
    got = [
        c.wait(lambda f: f.get("kind") == "event")["activity"]["object"]["content"]
        for _ in range(3)
    ]
    assert got == ["live-0", "live-1", "live-2"]
    c.close()


@pytest.mark.parametrize("gateway_index", [0, 1], ids=["same-gateway", "second-gateway"])
def test_resume_delivers_missed_events_exactly_once_in_order(two_gateways, gateway_index):
    s = two_gateways
    c = Client(s.ws_url_of(0))
    assert c.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    # A request in flight when the socket drops: its reply must not be lost.
    rid = c.send(activity("dummy", "greet", object={"type": "message", "content": "away"}))
    info = c.resume_info
    c.ws.close()
    inject_events(s, info["session"], 5, "missed")
    time.sleep(0.3)

    c2 = Client(s.ws_url_of(gateway_index), hello={"kind": "hello", "resume": info})
    assert c2.welcome["resumed"] is True and c2.welcome["session"] == info["session"]
    reply = c2.reply(rid)
    assert reply["result"]["object"]["content"] == "Hello away"
    for _ in range(5):
        c2.wait(lambda f: f.get("kind") == "event")
    assert events(c2.frames, "missed") == [f"missed-{i}" for i in range(5)]
    # live again, and nothing from before lastSeq was replayed
    after = c2.request(activity("dummy", "echo", object=MSG))
    seqs = [f["seq"] for f in c2.frames if "seq" in f]
    assert seqs == sorted(set(seqs)), "duplicate or out-of-order delivery"
    assert min(seqs) == info["lastSeq"] + 1
    assert after["seq"] == max(seqs)
    c2.close()


@pytest.mark.parametrize("gateway_index", [0, 1], ids=["same-gateway", "second-gateway"])
def test_resume_while_old_socket_open_closes_it_with_4001(two_gateways, gateway_index):
    c = Client(two_gateways.ws_url_of(0))
    c2 = Client(
        two_gateways.ws_url_of(gateway_index), hello={"kind": "hello", "resume": c.resume_info}
    )
    assert c2.welcome["resumed"]
    from .test_dummy_pipeline import close_frame

    code, reason = close_frame(c.ws)
    assert (code, reason) == (4001, "session resumed elsewhere")
    assert c2.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    c2.close()


def test_resume_with_wrong_token_starts_new_session(two_gateways):
    c = Client(two_gateways.ws_url)
    info = dict(c.resume_info, token="not-the-token")
    c.close()
    c2 = Client(two_gateways.ws_url, hello={"kind": "hello", "resume": info})
    assert c2.welcome["resumed"] is False
    assert c2.welcome["resumeError"]["code"] == "session-refused"
    assert c2.welcome["session"] != info["session"]
    c2.close()


def test_secrets_never_in_redis_in_plaintext(two_gateways):
    c = Client(two_gateways.ws_url)
    creds = {"type": "credentials", "password": SECRET_VALUE, "token": SECRET_VALUE[::-1]}
    assert c.request(activity("dummy", "credentials", object=creds))["status"] == "completed"
    r = two_gateways.redis()
    assert r.hlen(keys.session_creds(c.welcome["session"])) == 1
    dumped = []
    for key in r.scan_iter(count=1000):
        dumped.append(key)
        kind = r.type(key)
        if kind == b"string":
            dumped.append(r.get(key))
        elif kind == b"hash":
            for k, v in r.hgetall(key).items():
                dumped += [k, v]
        elif kind == b"list":
            dumped += r.lrange(key, 0, -1)
        elif kind == b"stream":
            for _id, fields in r.xrange(key):
                dumped += list(fields) + list(fields.values())
        elif kind == b"zset":
            dumped += r.zrange(key, 0, -1)
    blob = b"\n".join(dumped)
    assert SECRET_VALUE.encode() not in blob
    assert SECRET_VALUE[::-1].encode() not in blob
    c.close()


def test_request_with_stopped_worker_fails_with_timeout(two_gateways):
    s = two_gateways
    c = Client(s.ws_url)
    s.kill("worker-dummy")
    try:
        started = time.monotonic()
        reply = c.request(activity("dummy", "echo", object=MSG), timeout=10)
        elapsed = time.monotonic() - started
        assert reply["status"] == "failed"
        assert reply["error"]["code"] == "timeout"
        assert reply["activity"]["type"] == "echo"
        assert 2.5 <= elapsed < 5, elapsed
    finally:
        s.start_worker("dummy")
    # the late worker must not answer a second time
    time.sleep(1.0)
    c.ws.settimeout(0.5)
    assert c.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    replies = [f for f in c.frames if f.get("kind") == "reply"]
    assert len(replies) == len({f["id"] for f in replies})
    c.close()


def test_requests_sent_right_before_the_socket_closes_are_all_answered(two_gateways):
    c = Client(two_gateways.ws_url)
    info = c.resume_info
    rids = [
        c.send(activity("dummy", "echo", object={"type": "message", "content": str(i)}))
        for i in range(10)
    ]
    c.ws.close()
    time.sleep(0.5)
    c2 = Client(two_gateways.ws_url, hello={"kind": "hello", "resume": info})
    replies = [c2.reply(r) for r in rids]
    assert [r["result"]["object"]["content"] for r in replies] == [str(i) for i in range(10)]
    c2.close()


def test_refused_credentials_are_never_echoed(two_gateways):
    c = Client(two_gateways.ws_url)
    bad = activity(
        "dummy",
        "credentials",
        actor={"id": "me", "type": "robot"},
        object={"type": "credentials", "password": SECRET_VALUE},
    )
    reply = c.request(bad)
    assert reply["status"] == "failed" and reply["error"]["path"] == "actor.type"
    assert SECRET_VALUE not in json.dumps(reply)
    stream = two_gateways.redis().xrange(keys.session_stream(c.welcome["session"]))
    assert all(SECRET_VALUE.encode() not in f.get(b"f", b"") for _, f in stream)
    c.close()


def test_gateway_sigterm_closes_sockets_with_1001_and_session_resumes(two_gateways):
    import signal

    from .test_dummy_pipeline import close_frame

    s = two_gateways
    port = s.start_gateway()
    index = s.gateways.index(port)
    c = Client(s.ws_url_of(index))
    assert c.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    info = c.resume_info
    started = time.monotonic()
    s.procs[f"web{index}"].send_signal(signal.SIGTERM)
    code, reason = close_frame(c.ws)
    assert code == 1001 and "resume" in reason
    assert time.monotonic() - started < 3
    c2 = Client(s.ws_url_of(0), hello={"kind": "hello", "resume": info})
    assert c2.welcome["resumed"] is True
    assert c2.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    c2.close()


def test_resume_past_the_buffer_says_what_was_missed():
    s = Stack(env_overrides={"SOCKETHUB_STREAM_MAXLEN": "10"}).start()
    try:
        c = Client(s.ws_url)
        info = c.resume_info
        c.ws.close()
        inject_events(s, info["session"], 300, "flood", maxlen=10)
        c2 = Client(s.ws_url, hello={"kind": "hello", "resume": info})
        missed = c2.welcome["missed"]
        assert missed["from"] == 1 and 200 < missed["to"] < 300
        assert "SOCKETHUB_STREAM_MAXLEN" in missed["reason"]
        first = c2.wait(lambda f: f.get("kind") == "event")
        assert first["seq"] == missed["to"] + 1
        c2.close()
    finally:
        s.stop()


# -- the resume token and the server secret -----------------------------------------------
def test_every_resume_gets_a_new_token_and_the_old_one_stops_working(two_gateways):
    s = two_gateways
    c = Client(s.ws_url_of(0))
    first = c.resume_info
    c.close()
    c2 = Client(s.ws_url_of(1), hello={"kind": "hello", "resume": first})
    assert c2.welcome["resumed"] is True and c2.welcome["token"] != first["token"]
    second = c2.resume_info
    c2.close()
    stale = Client(s.ws_url_of(0), hello={"kind": "hello", "resume": first})
    assert stale.welcome["resumed"] is False
    assert stale.welcome["resumeError"]["code"] == "session-refused"
    stale.close()
    c3 = Client(s.ws_url_of(0), hello={"kind": "hello", "resume": second})  # the new one works
    assert c3.welcome["resumed"] is True and c3.welcome["session"] == first["session"]
    assert c3.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    c3.close()


@pytest.mark.parametrize(
    "session",
    [12345, None, ["a"], "", "x" * 5000, "../etc/passwd", "has space in it xx", "OUT"],
    ids=["int", "null", "list", "empty", "5000", "path", "space", "other-key"],
)
def test_malformed_resume_ids_get_a_resume_error_and_a_fresh_session(two_gateways, session):
    s = two_gateways
    real = Client(s.ws_url)
    info = real.resume_info
    real.close()
    if session == "OUT":  # names the session's event stream: the lookup used to crash
        session = f"{info['session']}:out"
    c = Client(s.ws_url, hello={"kind": "hello", "resume": dict(info, session=session)})
    assert c.welcome["resumed"] is False
    assert c.welcome["resumeError"]["code"] == "session-refused"
    assert "session id" in c.welcome["resumeError"]["message"]
    assert c.request(activity("dummy", "echo", object=MSG))["status"] == "completed"
    c.close()


SECRET_A, SECRET_B = "secret-number-one-0123456789", "secret-number-two-9876543210"


def _restart(s: Stack, gateway: dict[str, str], worker: dict[str, str]) -> None:
    """Stop every gateway and worker (SIGTERM, as a deploy does) and start them again."""
    for name in [n for n in s.procs if n.startswith(("web", "worker"))]:
        s.kill(name, signal.SIGTERM)
    s.gateways.clear()
    s.start_worker("irc", **worker)
    s.start_gateway(**gateway)


def _secrets(current: str, previous: str = "") -> dict[str, str]:
    return {"SOCKETHUB_SECRET": current, "SOCKETHUB_SECRET_PREVIOUS": previous}


def test_rotating_the_secret_keeps_sessions_and_their_credentials(tmp_path_factory):
    """The procedure of docs/deployment.md, through restarts of every process: sessions
    resume at each step and the worker still opens their credentials (IRC ``connect``)."""
    with run_ngircd(tmp_path_factory.mktemp("ircd")) as ircd:
        env = {"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_REQUEST_TIMEOUT": "20"}
        s = Stack(platforms=("irc",), env_overrides={**env, **_secrets(SECRET_A)}).start()
        try:
            actor = {"id": f"rotor@{ircd.host}", "type": "person", "name": "rotor"}
            creds = {"nick": "rotor", "server": ircd.host, "port": ircd.port, "secure": False}
            c = Client(s.ws_url)
            stored = c.request(
                activity("irc", "credentials", actor=actor, object={"type": "credentials", **creds})
            )
            assert stored["status"] == "completed", stored
            info = c.resume_info
            c.close()

            def resume_and_connect() -> None:
                nonlocal info
                c = Client(s.ws_url, hello={"kind": "hello", "resume": info})
                assert c.welcome["resumed"] is True, c.welcome
                reply = c.request(activity("irc", "connect", actor=actor), 30)
                assert reply["status"] == "completed", reply  # the worker opened them
                assert c.request(activity("irc", "disconnect", actor=actor), 30)["status"] == (
                    "completed"
                )
                info = c.resume_info
                c.close()

            # 1. B is accepted everywhere before anything uses it.
            _restart(s, _secrets(SECRET_A, SECRET_B), _secrets(SECRET_A, SECRET_B))
            resume_and_connect()
            # 2. Half-way through the switch: the gateway has B, the worker still A.
            _restart(s, _secrets(SECRET_B, SECRET_A), _secrets(SECRET_A, SECRET_B))
            resume_and_connect()
            # 3. Everyone on B, A still accepted: using the session rewraps its key.
            _restart(s, _secrets(SECRET_B, SECRET_A), _secrets(SECRET_B, SECRET_A))
            resume_and_connect()
            wrapped = s.redis().hget(keys.session(info["session"]), "wkey")
            sealing.unwrap_key(sealing.server_key(SECRET_B), wrapped, info["session"])
            # 4. A is gone: the session and its credentials live on.
            _restart(s, _secrets(SECRET_B), _secrets(SECRET_B))
            resume_and_connect()
        finally:
            s.stop()


def test_a_secret_changed_without_keeping_the_old_one_starts_a_fresh_session():
    s = Stack(env_overrides=_secrets(SECRET_A)).start()
    try:
        c = Client(s.ws_url)
        info = c.resume_info
        c.close()
        for name in [n for n in s.procs if n.startswith("web")]:
            s.kill(name, signal.SIGTERM)
        s.gateways.clear()
        s.start_gateway(**_secrets(SECRET_B))
        c = Client(s.ws_url, hello={"kind": "hello", "resume": info})
        assert c.welcome["resumed"] is False  # not a resumed session whose keys never open
        assert "SOCKETHUB_SECRET_PREVIOUS" in c.welcome["resumeError"]["message"]
        c.close()
    finally:
        s.stop()
