"""The whole pipeline on the dummy platform: WebSocket → gateway → Celery → worker → back."""

from __future__ import annotations

import json

import pytest
import websocket

from envelopes.context import AS2_CONTEXT, SOCKETHUB_CONTEXT, context_for, platform_context_url

from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

MSG = {"type": "message", "content": "hello there"}


@pytest.fixture
def client(stack):
    c = Client(stack.ws_url)
    yield c
    c.close()


def assert_usable(client: Client) -> None:
    reply = client.request(activity("dummy", "echo", object={"type": "message", "content": "ok"}))
    assert reply["status"] == "completed", reply
    assert reply["result"]["object"]["content"] == "ok"


def test_welcome_describes_session_and_platforms(client):
    w = client.welcome
    assert w["session"] and w["token"] and w["resumed"] is False
    assert [p["name"] for p in w["platforms"]] == ["dummy"]
    assert "echo" in w["platforms"][0]["verbs"]
    assert w["limits"]["requestTimeout"] == 4


def test_echo_round_trip(client):
    reply = client.request(activity("dummy", "echo", object=MSG))
    assert reply["status"] == "completed"
    result = reply["result"]
    assert result["actor"] == {"id": "dummy", "type": "platform"}
    assert result["target"] == {"id": "tester", "type": "person"}
    assert result["object"] == MSG
    assert result["@context"] == context_for("dummy")
    assert reply["seq"] >= 1


def test_greet_round_trip(client):
    reply = client.request(activity("dummy", "greet", object={"type": "message", "content": "Ann"}))
    assert reply["status"] == "completed"
    assert reply["result"]["object"]["content"] == "Hello Ann"


def test_fail_gives_failed_reply_with_message(client):
    reply = client.request(activity("dummy", "fail", object={"type": "message", "content": "nope"}))
    assert reply["status"] == "failed"
    assert reply["error"] == {
        "code": "refused",
        "message": "nope",
        "retryable": False,
        "details": [{"condition": "failed", "platform": "dummy"}],
    }
    assert reply["activity"]["type"] == "fail" and reply["activity"]["error"] == "nope"
    assert_usable(client)


def test_throw_gives_failed_reply_and_worker_survives(client, stack):
    """An exception from inside reaches the browser as a reference only; the worker's
    log has the exception (class and text) under that reference."""
    secret = "db password is hunter2 at 10.0.0.7"
    reply = client.request(
        activity("dummy", "throw", object={"type": "message", "content": secret})
    )
    assert reply["status"] == "failed"
    err = reply["error"]
    assert err["code"] == "internal" and err["retryable"] is False
    ref = err["ref"]
    assert f"ref {ref}" in err["message"]
    assert "RuntimeError" not in json.dumps(reply)
    # the echoed activity carries the request's own content, but no error text from inside
    assert reply["activity"]["error"] == err["message"]
    assert secret not in json.dumps(err)
    log = stack.log("worker-dummy")
    (line,) = [x for x in log.splitlines() if f"ref {ref}" in x]
    assert "connector dummy raised on throw" in line
    after = log[log.index(line) :]
    assert f"RuntimeError: {secret}" in after  # the traceback follows the line
    assert_usable(client)


def test_sequence_numbers_increase_without_gaps(client):
    rids = [client.send(activity("dummy", "echo", object=MSG)) for _ in range(20)]
    replies = [client.reply(r) for r in rids]
    seqs = sorted(r["seq"] for r in replies)
    assert seqs == list(range(seqs[0], seqs[0] + 20))


def test_bare_sockethub_envelope_is_accepted(client):
    act = activity("dummy", "echo", object=MSG, id="act-1")
    client.send_raw(json.dumps(act))
    reply = client.reply("act-1")
    assert reply["status"] == "completed"


def test_duplicate_request_id_refused(client):
    act = activity("dummy", "echo", object=MSG)
    client.send(act, rid="same")
    first = client.reply("same")
    assert first["status"] == "completed"
    client.send(act, rid="same")
    again = client.reply("same")
    assert again["status"] == "failed" and again["error"]["code"] == "duplicate-request"


def test_credentials_are_stored_not_echoed(client):
    creds = {"type": "credentials", "password": "pa55-word-zz"}
    reply = client.request(activity("dummy", "credentials", object=creds))
    assert reply["status"] == "completed"
    assert "object" not in reply["result"]
    assert "pa55-word-zz" not in json.dumps(reply)


def _deep(n: int) -> str:
    return '{"kind":"request","id":"deep","activity":' + '{"a":' * n + "1" + "}" * n + "}"


BAD_INPUTS = [
    # (name, raw frame or activity, expected code, words in message, path)
    ("not json", "this is not json", "invalid-frame", "not valid JSON", None),
    ("json array", "[1, 2, 3]", "invalid-frame", "must be a JSON object", None),
    ("json string", '"hello"', "invalid-frame", "must be a JSON object", None),
    ("unknown kind", '{"kind": "shout", "id": "k"}', "invalid-frame", "unknown frame kind", None),
    (
        "request without id",
        '{"kind": "request", "activity": {}}',
        "invalid-frame",
        "must have an id",
        None,
    ),
    (
        "request without activity",
        '{"kind": "request", "id": "x1"}',
        "invalid-frame",
        "must have an activity",
        "activity",
    ),
    ("activity not object", {"_activity": 5}, "invalid-envelope", "not an object", ""),
    (
        "missing @context",
        {"type": "echo", "actor": {"id": "a", "type": "person"}},
        "invalid-envelope",
        "@context",
        "@context",
    ),
    (
        "unknown platform",
        {
            "@context": [AS2_CONTEXT, SOCKETHUB_CONTEXT, platform_context_url("nosuch")],
            "type": "echo",
            "actor": {"id": "a", "type": "person"},
        },
        "unknown-platform",
        "nosuch",
        "@context",
    ),
    (
        "two platforms",
        {
            "@context": [AS2_CONTEXT, platform_context_url("dummy"), platform_context_url("irc")],
            "type": "echo",
            "actor": {"id": "a", "type": "person"},
        },
        "unknown-platform",
        "Multiple platform @context values",
        "@context",
    ),
    (
        "context without sockethub url",
        {
            "@context": [AS2_CONTEXT, "https://example.org/ctx", platform_context_url("dummy")],
            "type": "echo",
            "actor": {"id": "a", "type": "person"},
        },
        "invalid-envelope",
        "must contain https://sockethub.org",
        "@context",
    ),
    (
        "context not a list",
        {"@context": "dummy", "type": "echo", "actor": {"id": "a", "type": "person"}},
        "invalid-envelope",
        "array of strings",
        "@context",
    ),
    ("unknown verb", activity("dummy", "dance"), "unknown-verb", "dance", "type"),
    (
        "missing type",
        {"@context": context_for("dummy"), "actor": {"id": "a", "type": "person"}},
        "invalid-envelope",
        "type",
        "type",
    ),
    (
        "missing actor",
        {"@context": context_for("dummy"), "type": "echo"},
        "invalid-envelope",
        "actor",
        "actor",
    ),
    (
        "actor id wrong type",
        activity("dummy", "echo", actor={"id": 42, "type": "person"}),
        "invalid-envelope",
        "Not a valid string",
        "actor.id",
    ),
    (
        "actor type not allowed",
        activity("dummy", "echo", actor={"id": "a", "type": "robot"}),
        "invalid-envelope",
        "Must be one of",
        "actor.type",
    ),
    (
        "object content wrong type",
        activity("dummy", "echo", object={"type": "message", "content": ["x"]}),
        "invalid-envelope",
        "Not a valid string",
        "object.content",
    ),
    (
        "unknown top-level field",
        activity("dummy", "echo", colour="blue"),
        "invalid-envelope",
        "colour",
        "colour",
    ),
    (
        "unknown nested field",
        activity("dummy", "echo", object={"type": "message", "content": "x", "extra": 1}),
        "invalid-envelope",
        "Unknown field",
        "object.extra",
    ),
    (
        "huge string",
        activity("dummy", "echo", actor={"id": "x" * 5000, "type": "person"}),
        "invalid-envelope",
        "between 1 and 1024",
        "actor.id",
    ),
    (
        "bad date",
        activity("dummy", "echo", published="yesterday"),
        "invalid-envelope",
        "datetime",
        "published",
    ),
    ("deep nesting", _deep(3000), "invalid-frame", "nested too deeply", None),
    (
        "frame over the limit",
        activity("dummy", "echo", object={"type": "message", "content": "y" * 70000}),
        "frame-too-large",
        "over the limit",
        None,
    ),
    ("binary frame", b"\x00\x01binary", "invalid-frame", "binary frames", None),
]


@pytest.mark.parametrize("name,bad,code,words,path", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_failed_reply_and_session_stays_usable(client, name, bad, code, words, path):
    if isinstance(bad, dict):
        act = bad.get("_activity", bad)
        rid = client.send(act)
    else:
        client.send_raw(bad)
        rid = None
        if isinstance(bad, str) and '"id": "x1"' in bad:
            rid = "x1"
    reply = client.wait(lambda f: f.get("kind") == "reply" and f.get("status") == "failed")
    if rid is not None:
        assert reply["id"] == rid
    assert reply["error"]["code"] == code, reply
    assert words in reply["error"]["message"], reply
    if path is not None:
        assert reply["error"].get("path") == path, reply
    assert_usable(client)


def test_bad_inputs_cover_twenty_kinds():
    assert len(BAD_INPUTS) >= 20


def close_frame(ws: websocket.WebSocket) -> tuple[int, str]:
    """Read until the server's close frame; its code and reason."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big"), data[2:].decode()


def test_frame_far_over_limit_closes_with_1009(stack):
    c = Client(stack.ws_url)
    c.send_raw("z" * (65536 * 16 + 10))
    code, _reason = close_frame(c.ws)
    assert code == 1009
    c.close()


def test_origin_not_allowed_is_closed_with_reason(stack):
    ws = websocket.create_connection(stack.ws_url, origin="http://evil.example", timeout=5)
    code, reason = close_frame(ws)
    assert code == 1008
    assert reason == "origin not allowed: http://evil.example"
    ws.close()


def test_same_host_origin_allowed(stack):
    c = Client(stack.ws_url, origin=stack.url)
    assert_usable(c)
    c.close()


def test_rate_limit_refuses_excess_with_clear_reply():
    # A slow rate on a stack of its own, so the refill while the frames are handled (slow
    # on a loaded machine) cannot hide the excess.
    s = Stack(env_overrides={"SOCKETHUB_RATE_LIMIT": "2", "SOCKETHUB_RATE_BURST": "20"}).start()
    try:
        c = Client(s.ws_url)
        burst = c.welcome["limits"]["rateBurst"]
        # Past the burst, refusals until the debt reaches half of it (then silence, see
        # gateway/ratelimit.py): burst // 2 - 1 over is as far as every frame gets a reply.
        rids = [
            c.send(activity("dummy", "echo", object=MSG)) for _ in range(burst + burst // 2 - 1)
        ]
        replies = [c.reply(r, timeout=30) for r in rids]
        limited = [r for r in replies if r["status"] == "failed"]
        assert len(limited) >= 3, "the excess was not rate limited"
        assert all(r["error"]["code"] == "rate-limited" for r in limited)
        assert "requests per second" in limited[0]["error"]["message"]
        c.close()
    finally:
        s.stop()


def test_healthz_reports_redis(stack):
    import urllib.request

    with urllib.request.urlopen(stack.url + "/healthz", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "ok" and body["redis"]["ok"] is True
    assert "dummy" in body["queues"]
