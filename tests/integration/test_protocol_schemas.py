"""The JSON Schemas in docs/schemas/ describe the frames the gateway really sends."""

from __future__ import annotations

import json
import os

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

HERE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "schemas")


def _load():
    schemas = {}
    for name in os.listdir(HERE):
        with open(os.path.join(HERE, name)) as f:
            schemas[name] = json.load(f)
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    return {n: Draft202012Validator(s, registry=registry) for n, s in schemas.items()}


VALIDATORS = _load()


def check(name: str, frame: dict) -> None:
    frame = {k: v for k, v in frame.items() if k != "_seen"}
    errors = sorted(VALIDATORS[name].iter_errors(frame), key=str)
    assert not errors, f"{name}: {errors[0].message} in {frame}"


def test_every_schema_is_valid():
    for validator in VALIDATORS.values():
        Draft202012Validator.check_schema(validator.schema)
    assert {
        "client-hello.json",
        "client-request.json",
        "client-ping.json",
        "server-welcome.json",
        "server-reply.json",
        "server-event.json",
        "server-pong.json",
    } <= set(VALIDATORS)


def test_real_frames_match_their_schemas(stack):
    c = Client(stack.ws_url)
    check("server-welcome.json", c.welcome)
    act = activity("dummy", "echo", object={"type": "message", "content": "x"})
    check("client-request.json", {"kind": "request", "id": "a", "activity": act})
    check("server-reply.json", c.request(act))
    check(
        "server-reply.json",
        c.request(activity("dummy", "fail", object={"type": "message", "content": "no"})),
    )
    check(
        "server-reply.json", c.request(activity("dummy", "echo", actor={"id": 1, "type": "person"}))
    )
    c.send_raw("not json")
    check("server-reply.json", c.wait(lambda f: f.get("kind") == "reply" and f["id"] is None))
    # every kind of failed reply says whether retrying can help (error.json requires it)
    failures = [
        c.request(activity("dummy", "throw", object={"type": "message", "content": "x"})),
        c.request(activity("dummy", "no-such-verb")),
    ]
    c.send(act, rid="dup")
    c.send(act, rid="dup")
    twice = [c.reply("dup"), c.reply("dup")]  # the refusal may come before the echo
    failures += [r for r in twice if r["status"] == "failed"]
    for reply in failures:
        check("server-reply.json", reply)
        assert reply["status"] == "failed" and reply["error"]["retryable"] is False, reply
    assert [r["error"]["code"] for r in failures] == [
        "internal",
        "unknown-verb",
        "duplicate-request",
    ]
    c.send_raw('{"kind":"ping"}')
    check("server-pong.json", c.wait(lambda f: f.get("kind") == "pong"))
    stack.outbox().event(c.welcome["session"], {"type": "send", "actor": {"id": "x"}})
    check("server-event.json", c.wait(lambda f: f.get("kind") == "event"))
    info = c.resume_info
    check("client-hello.json", {"kind": "hello", "resume": info})
    c.close()
    c2 = Client(stack.ws_url, hello={"kind": "hello", "resume": dict(info, token="bad")})
    check("server-welcome.json", c2.welcome)
    assert c2.welcome["resumeError"]["code"] == "session-refused"
    c2.close()


def test_schemas_refuse_wrong_frames():
    with pytest.raises(AssertionError):
        check("server-reply.json", {"kind": "reply", "seq": 1, "id": "x", "status": "completed"})
    with pytest.raises(AssertionError):
        check("client-request.json", {"kind": "request", "id": "", "activity": {}})
