"""Sockethub's HTTP actions (``POST /sockethub-http``) through the real stack.

Gateway 0 runs with the defaults (HTTP actions off); gateway 1 has them on, with small
limits so that each can be reached; gateway 2 has short timeouts; gateway 3 low
per-address limits. Every call goes through the same pipeline as a socket's frames:
the dummy and feeds workers answer, and a local web server serves the feeds.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from envelopes.context import context_for

from ..connectors.fixtureserver import FixtureServer
from ..httpclient import Answer, call, post
from ..stack import Stack
from .test_at_rest import leaks

pytestmark = pytest.mark.integration

MAX_MESSAGES = 5
MAX_BODY = 20000
HTTP_TIMEOUT = 8
IDLE_TIMEOUT = 5


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(
        platforms=("dummy", "feeds"),
        env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "14", "SOCKETHUB_FETCH_TIMEOUT": "10"},
    ).start()
    s.start_gateway(
        SOCKETHUB_HTTP_ACTIONS="true",
        SOCKETHUB_HTTP_MAX_MESSAGES=str(MAX_MESSAGES),
        SOCKETHUB_HTTP_MAX_BODY_BYTES=str(MAX_BODY),
        SOCKETHUB_HTTP_REPLAY_MAX_BYTES="4000",
    )
    s.start_gateway(
        SOCKETHUB_HTTP_ACTIONS="true",
        SOCKETHUB_HTTP_TIMEOUT=str(HTTP_TIMEOUT),
        SOCKETHUB_HTTP_IDLE_TIMEOUT=str(IDLE_TIMEOUT),
    )
    s.start_gateway(
        SOCKETHUB_HTTP_ACTIONS="true",
        SOCKETHUB_NEW_SESSIONS_PER_MINUTE="2",
        SOCKETHUB_MAX_SOCKETS_PER_ADDRESS="1",
    )
    yield s
    s.stop()


def url(stack: Stack, gateway: int = 1, path: str = "") -> str:
    return f"http://127.0.0.1:{stack.gateways[gateway]}/sockethub-http{path}"


def rid() -> str:
    return f"t-{secrets.token_hex(6)}"


def dummy(verb: str, content: str = "hi") -> dict[str, Any]:
    return {
        "@context": context_for("dummy"),
        "type": verb,
        "actor": {"id": "me@dummy", "type": "person"},
        "object": {"type": "message", "content": content},
    }


def feed(address: str) -> dict[str, Any]:
    return {
        "@context": context_for("feeds"),
        "type": "fetch",
        "actor": {"id": address, "type": "feed"},
    }


def echo_of(content: str) -> dict[str, Any]:
    """The line of a dummy echo: its result, with the canonical ``@context``."""
    return {
        "@context": context_for("dummy"),
        "type": "echo",
        "actor": {"id": "dummy", "type": "platform"},
        "target": {"id": "me@dummy", "type": "person"},
        "object": {"type": "message", "content": content},
    }


def test_off_by_default(stack: Stack) -> None:
    for method in ("POST", "GET", "OPTIONS"):
        answer = call(
            method,
            url(stack, 0),
            json.dumps(dummy("echo")).encode(),
            {"Content-Type": "application/json", "X-Request-Id": rid()},
        )
        assert answer.status == 404, (method, answer)
        assert "not enabled" in answer.json()["error"]
    assert call("GET", url(stack, 0, "/some-id")).status == 404


def test_one_activity(stack: Stack) -> None:
    r = rid()
    answer = post(url(stack), dummy("echo", "one"), r)
    assert answer.status == 200, answer
    assert answer.headers["content-type"] == "application/x-ndjson"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-request-id"] == r
    assert answer.headers["x-accel-buffering"] == "no"
    assert "x-idempotent-replay" not in answer.headers
    assert answer.lines == [echo_of("one")]


def test_an_array_one_line_per_activity_in_order(stack: Stack) -> None:
    invalid = {**dummy("echo"), "extra": 1}
    body = [dummy("greet", "you"), dummy("fail", "boom"), invalid, None, 42, "nope"]
    answer = post(url(stack), body[:MAX_MESSAGES], rid())
    assert answer.status == 200, answer
    greet, fail, bad, none, number = answer.lines
    assert greet["object"]["content"] == "Hello you" and "error" not in greet
    assert fail == {**dummy("fail", "boom"), "error": "boom"}
    assert bad["type"] == "echo" and "extra" in bad["error"]
    for line in (none, number):
        assert line["type"] == "error" and line["error"] == "unsupported payload type"
        assert line["actor"] == {"type": "Application", "name": "sockethub-server"}
        assert line["@context"][2].endswith("/platform/error/v1.jsonld")


def test_request_id_and_messages_in_the_body(stack: Stack) -> None:
    r = rid()
    answer = post(url(stack), {"requestId": r, "messages": [dummy("echo", "a"), dummy("echo")]})
    assert answer.status == 200, answer
    assert answer.headers["x-request-id"] == r
    assert answer.lines == [echo_of("a"), echo_of("hi")]
    # the header wins over the body, as in Sockethub
    h = rid()
    answer = post(url(stack), {"requestId": rid(), "messages": [dummy("echo")]}, h)
    assert answer.headers["x-request-id"] == h


def test_lines_come_in_the_order_of_the_body(stack: Stack, web: FixtureServer) -> None:
    """The slow fetch first: its line still comes before the echo that finished first."""
    slow = web.url("/feeds/v/order/rss20.xml?delay=1.5")
    answer = post(url(stack), [feed(slow), dummy("echo", "fast")], rid())
    assert answer.status == 200, answer
    fetched, echoed = answer.lines
    assert fetched["type"] == "collection" and fetched["items"], fetched
    assert echoed == echo_of("fast")


def test_a_feed_fetch_from_curl(stack: Stack, web: FixtureServer) -> None:
    body = json.dumps(feed(web.url("/feeds/atom.xml")))
    out = subprocess.run(
        ["curl", "-sS", "-i", "-X", "POST", url(stack), "-H", "Content-Type: application/json"]
        + ["-H", "X-Request-Id: curl-1", "--data-binary", body],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    head, _, rest = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), out
    (line,) = [json.loads(x) for x in rest.splitlines()]
    assert line["@context"] == context_for("feeds") and line["type"] == "collection", line
    assert line["actor"]["id"] == web.url("/feeds/atom.xml")
    assert all(item["type"] for item in line["items"])


def test_credentials_are_acked_never_echoed_nor_kept(stack: Stack) -> None:
    secret = f"pw-{secrets.token_hex(8)}"
    said = f"said-{secrets.token_hex(8)}"
    creds = {
        "@context": context_for("dummy"),
        "type": "credentials",
        "actor": {"id": "me@dummy", "type": "person"},
        "object": {"type": "credentials", "password": secret},
    }
    no_actor = {**creds, "actor": {"type": "person"}}
    r = rid()
    # The echo comes first in the body; credentials still run (and are answered) first.
    answer = post(url(stack), [dummy("echo", said), creds, no_actor], r)
    assert answer.status == 200, answer
    ack, failed, echoed = answer.lines
    assert ack == {
        "@context": [*context_for("dummy")[:2], context_for("sockethub:internal")[2]],
        "type": "credentials-ack",
        "actor": {"id": "me@dummy", "type": "person"},
    }
    assert failed["type"] == "error" and failed["error"] and "actor" in failed["error"]
    assert echoed == echo_of(said)
    replay = post(url(stack), [], r)
    assert replay.text == answer.text
    for text in (answer.text, replay.text):
        assert secret not in text
    # At rest: neither the secret nor what was said (kept for replay, sealed) is readable.
    assert leaks(stack.redis(), {"secret": secret, "said": said}) == []


def test_idempotent_replay_by_post_and_get(stack: Stack) -> None:
    r = rid()
    first = post(url(stack), [dummy("echo", "once"), dummy("greet", "x")], r)
    assert first.status == 200
    again = post(url(stack), dummy("fail", "other body"), r)  # the body is ignored
    assert again.status == 200 and again.headers["x-idempotent-replay"] == "true"
    assert again.text == first.text and again.headers["x-request-id"] == r
    for got in (
        call("GET", url(stack, path=f"/{r}")),
        call("GET", url(stack, path=f"?requestId={r}")),
    ):
        assert got.status == 200 and got.headers["x-idempotent-replay"] == "true"
        assert got.headers["content-type"] == "application/x-ndjson"
        assert got.text == first.text


def test_a_running_call_is_202_to_get_and_409_to_post(stack: Stack, web: FixtureServer) -> None:
    r = rid()
    slow = web.url("/feeds/v/running/atom.xml?delay=2")
    result: list[Answer] = []
    worker = threading.Thread(target=lambda: result.append(post(url(stack), feed(slow), r)))
    worker.start()
    try:
        deadline = time.time() + 10
        while True:
            got = call("GET", url(stack, path=f"/{r}"))
            if got.status != 404 or time.time() > deadline:
                break
            time.sleep(0.05)
        assert got.status == 202, got
        assert got.json() == {"status": "in-progress", "requestId": r}
        dup = post(url(stack), feed(slow), r)
        assert dup.status == 409
        assert dup.json() == {"error": "request already in progress", "requestId": r}
    finally:
        worker.join(30)
    assert result[0].status == 200 and result[0].lines[0]["type"] == "collection"
    assert call("GET", url(stack, path=f"/{r}")).text == result[0].text


def test_unknown_id_is_404(stack: Stack) -> None:
    r = rid()
    got = call("GET", url(stack, path=f"/{r}"))
    assert got.status == 404 and got.json() == {"error": "request not found", "requestId": r}
    wrong = call("POST", url(stack, path=f"/{r}"), b"{}", {"Content-Type": "application/json"})
    assert wrong.status == 405 and "POST" in wrong.json()["error"]


@pytest.mark.parametrize(
    "body, headers, message",
    [
        (b'{"type":"echo"', {}, "request body is not valid JSON (line 1, column 15)"),
        (b"[]", {}, "request body must be a payload object or array of payloads"),
        (b"42", {}, "request body must be a payload object or array of payloads"),
        (b"{}", {"Content-Type": "text/plain"}, "request body must be a payload object"),
        (json.dumps(dummy("echo")).encode(), {"X-Request-Id": ""}, "requestId is required"),
        (b"{}", {"X-Request-Id": "x" * 129}, "requestId must be at most 128 characters"),
        (b"{}", {"X-Request-Id": "a b/c"}, "requestId contains invalid characters"),
    ],
)
def test_bad_requests_are_400(
    stack: Stack, body: bytes, headers: dict[str, str], message: str
) -> None:
    h = {"Content-Type": "application/json", "X-Request-Id": rid(), **headers}
    if not h["X-Request-Id"]:
        del h["X-Request-Id"]
    answer = call("POST", url(stack), body, h)
    assert answer.status == 400, answer
    assert answer.json()["error"].startswith(message)


def test_limits_are_413(stack: Stack) -> None:
    many = post(url(stack), [dummy("echo")] * (MAX_MESSAGES + 1), rid())
    assert many.status == 413 and many.json() == {
        "error": f"payload limit exceeded (max {MAX_MESSAGES})"
    }
    big = post(url(stack), dummy("echo", "x" * MAX_BODY), rid())
    assert big.status == 413
    assert "SOCKETHUB_HTTP_MAX_BODY_BYTES" in big.json()["error"]


def test_the_kept_answer_is_bounded(stack: Stack) -> None:
    """Gateway 1 keeps 4000 bytes of an answer: the live answer is whole, the replay is
    cut with a line that says so."""
    r = rid()
    body = [dummy("echo", str(i) * 1500) for i in range(4)]
    answer = post(url(stack), body, r)
    assert [line["object"]["content"][0] for line in answer.lines] == ["0", "1", "2", "3"]
    kept = call("GET", url(stack, path=f"/{r}")).lines
    assert [line["object"]["content"][0] for line in kept[:2]] == ["0", "1"]
    assert kept[2]["type"] == "error" and "SOCKETHUB_HTTP_REPLAY_MAX_BYTES" in kept[2]["error"]
    assert len(kept) == 3
    assert stack.redis().pttl(f"sh:hact:{r}") > 0  # it expires


def test_cors(stack: Stack) -> None:
    own = f"http://127.0.0.1:{stack.gateways[1]}"
    pre = call(
        "OPTIONS",
        url(stack),
        headers={
            "Origin": own,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-request-id",
        },
    )
    assert pre.status == 204
    assert pre.headers["access-control-allow-origin"] == own
    assert pre.headers["vary"] == "Origin"
    assert pre.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert pre.headers["access-control-allow-headers"] == (
        "Content-Type, X-Request-Id, X-Sockethub-Request-Id"
    )
    assert pre.headers["access-control-expose-headers"] == "X-Request-Id, X-Idempotent-Replay"
    assert pre.headers["access-control-max-age"] == "600"
    assert call("OPTIONS", url(stack, path="/some-id"), headers={"Origin": own}).status == 204
    other = call("OPTIONS", url(stack), headers={"Origin": "https://elsewhere.example"})
    assert other.status == 204 and "access-control-allow-origin" not in other.headers
    answer = post(url(stack), dummy("echo"), rid(), {"Origin": own})
    assert answer.headers["access-control-allow-origin"] == own
    assert answer.headers["access-control-expose-headers"] == "X-Request-Id, X-Idempotent-Replay"


def test_timeouts_end_the_answer(stack: Stack, web: FixtureServer) -> None:
    # Gateway 2 ends a call after 8 s, or after 5 s without a line; the fetch timeout is 10.
    fast = web.url("/feeds/v/t1/atom.xml?delay=0.2")
    slow = web.url("/feeds/v/t2/atom.xml?delay=15")
    idle = post(url(stack, 2), [feed(slow)], rid())
    assert idle.status == 200
    (line,) = idle.lines
    assert line["type"] == "error" and line["error"] == "request idle timeout", line
    r = rid()
    # the second line about 4 s after the first (under the idle limit, and late enough that
    # the idle limit after it falls past the call's), the third never in time
    later = web.url("/feeds/v/t3/atom.xml?delay=4")
    slower = web.url("/feeds/v/t4/atom.xml?delay=15")
    total = post(url(stack, 2), [feed(fast), feed(later), feed(slower)], r)
    first, second, end = total.lines
    assert first["type"] == "collection" and second["type"] == "collection"
    assert end == {**end, "type": "error", "error": "request timeout", "requestId": r}
    assert call("GET", url(stack, 2, f"/{r}")).text == total.text  # kept, timeout line too


def test_per_address_limits_are_429(stack: Stack, web: FixtureServer) -> None:
    """Gateway 3: two calls per minute per address, one at a time. The address is the
    one the trusted proxy (127.0.0.1) names."""
    if time.time() % 60 > 50:  # the per-minute count must not start afresh halfway
        time.sleep(61 - time.time() % 60)
    a = {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(200) + 1}"}
    slow = web.url("/feeds/v/limits/atom.xml?delay=2")
    running: list[Answer] = []
    worker = threading.Thread(
        target=lambda: running.append(post(url(stack, 3), feed(slow), rid(), a))
    )
    worker.start()
    health = f"http://127.0.0.1:{stack.gateways[3]}/healthz"
    deadline = time.time() + 10
    while call("GET", health).json()["sessions"] < 1 and time.time() < deadline:
        time.sleep(0.05)  # until the slow call runs (its session is attached)
    try:
        busy = post(url(stack, 3), dummy("echo"), rid(), a)
        assert busy.status == 429, busy
        assert "SOCKETHUB_MAX_SOCKETS_PER_ADDRESS" in busy.json()["error"]
    finally:
        worker.join(30)
    assert running[0].status == 200
    over = post(url(stack, 3), dummy("echo"), rid(), a)
    assert over.status == 429 and over.headers["retry-after"] == "60"
    assert over.json()["error"].startswith("Too many requests, please try again later.")
    b = {"X-Forwarded-For": "198.51.100.250"}
    assert post(url(stack, 3), dummy("echo"), rid(), b).status == 200


def test_metrics_count_calls(stack: Stack) -> None:
    post(url(stack), dummy("echo"), rid())
    text = call("GET", f"http://127.0.0.1:{stack.gateways[1]}/metrics").text
    assert 'sockethub_http_actions_total{status="200"}' in text
    assert 'sockethub_requests_total{platform="dummy",verb="echo"}' in text


def test_redis_down_is_503(stack: Stack) -> None:
    """Last: it stops the stack's Redis."""
    seen: list[Answer] = []

    def while_down() -> None:
        seen.append(post(url(stack), dummy("echo"), rid()))
        seen.append(call("GET", url(stack, path="/x1")))

    stack.restart_redis(down=0.5, while_down=while_down)
    for answer in seen:
        assert answer.status == 503, answer
        assert answer.json() == {"error": "idempotency store unavailable"}
