"""Sockethub's Socket.IO flows through the real stack, with the real socket.io-client 4.

Node runs the client (``tests/js/sio-driver.js``); ``SdkClient`` adds what Sockethub's
SDK does on every (re)connect: the ``schemas`` handshake and the replay of credentials,
connect and join without acks. Every flow runs over long-polling alone and over a
WebSocket (the client's default: polling, then the upgrade).
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from envelopes.context import context_for
from envelopes.jsonschema.payload import registry_payload
from envelopes.registry import default_registry

from ..connectors.fixtureserver import FixtureServer
from ..sioclient import SdkClient, SioClient, need_node
from ..stack import Stack

pytestmark = pytest.mark.integration

TRANSPORTS = ["polling", "polling,websocket"]
TIMEOUT = 6  # the request timeout of this stack: the worker-death test waits for it


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    need_node()
    s = Stack(
        platforms=("dummy", "feeds", "metadata"),
        env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": str(TIMEOUT), "SOCKETHUB_FETCH_TIMEOUT": "3"},
    ).start()
    s.start_gateway()  # a second process: every Socket.IO session stays on its own
    yield s
    s.stop()


@pytest.fixture(params=TRANSPORTS)
def sdk(request: Any, stack: Stack) -> Iterator[SdkClient]:
    c = SdkClient(stack.url, request.param)
    yield c
    c.close()


def dummy(verb: str, content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "@context": context_for("dummy"),
        "type": verb,
        "actor": {"id": "me@dummy", "type": "person"},
        "object": {"type": "message", "content": content},
        **extra,
    }


def test_schemas_handshake_fresh_then_with_a_matching_fingerprint(stack: Stack) -> None:
    c = SioClient(stack.url, "polling")
    try:
        fresh = c.emit("schemas", None)  # the SDK's first request: ``420["schemas",null]``
        assert len(fresh["fingerprint"]) == 16 and int(fresh["fingerprint"], 16) >= 0
        assert isinstance(fresh["contexts"]["as"], str) and isinstance(fresh["platforms"], list)
        ids = [p["id"] for p in fresh["platforms"]]
        assert ids == ["dummy", "feeds", "metadata"]
        expected = registry_payload(default_registry().only(("dummy", "feeds", "metadata")))
        assert fresh == expected  # the payload envelopes/jsonschema builds, unchanged
        same = c.emit("schemas", fresh["fingerprint"])
        assert same == {"fingerprint": fresh["fingerprint"], "unchanged": True}
        stale = c.emit("schemas", "0000000000000000")
        assert stale["fingerprint"] == fresh["fingerprint"] and "platforms" in stale
        # no ack asked: the same answer comes as a ``schemas`` event
        c.emit_nowait("schemas", fresh["fingerprint"], ack=False)
        assert c.event("schemas") == same
    finally:
        c.close()


def test_dummy_echo_greet_fail_throw(sdk: SdkClient) -> None:
    echo = sdk.send("message", dummy("echo", "hello"))
    assert echo["@context"] == context_for("dummy")
    assert echo["actor"] == {"id": "dummy", "type": "platform"}
    assert echo["target"]["id"] == "me@dummy" and echo["object"]["content"] == "hello"
    assert "error" not in echo
    greet = sdk.send("message", dummy("greet", "you"))
    assert greet["object"]["content"] == "Hello you"
    fail = sdk.send("message", dummy("fail", "boom"))
    assert fail["error"] == "boom" and fail["type"] == "fail"  # the request, plus ``error``
    assert fail["actor"]["id"] == "me@dummy" and fail["@context"] == context_for("dummy")
    throw = sdk.send("message", dummy("throw", "secret detail"))
    assert throw["error"].startswith("internal error (ref ") and "secret" not in throw["error"]


def test_an_invalid_activity_is_acked_with_error(sdk: SdkClient) -> None:
    bad = sdk.send("message", dummy("nope"))
    assert "not supported by dummy platform" in bad["error"] and bad["type"] == "nope"
    extra = sdk.send("message", {**dummy("echo"), "surprise": 1})
    assert "surprise" in extra["error"]
    no_ctx = sdk.send("message", {"type": "echo", "actor": {"id": "x", "type": "person"}})
    assert no_ctx["error"] == "activity stream must contain an @context array."
    not_creds = sdk.send("credentials", dummy("echo"))
    assert not_creds["error"] == "credential activity streams must have credentials set as type"


def test_credentials_are_acked_without_their_secrets(sdk: SdkClient) -> None:
    creds = {
        "@context": context_for("dummy"),
        "type": "credentials",
        "actor": {"id": "me@dummy", "type": "person"},
        "object": {"type": "credentials", "password": "hunter2"},
    }
    ack = sdk.send("credentials", creds)
    assert ack["type"] == "credentials" and "error" not in ack
    assert ack["object"] == {"type": "credentials"} and "hunter2" not in str(ack)


def test_feeds_and_metadata_fetch(sdk: SdkClient, web: FixtureServer) -> None:
    url = web.url("/feeds/atom.xml")
    result = sdk.send(
        "message",
        {"@context": context_for("feeds"), "type": "fetch", "actor": {"id": url, "type": "feed"}},
        timeout=40,
    )
    assert result["type"] == "collection" and result["@context"] == context_for("feeds")
    assert result["summary"] == "Tide Tables & Other Stories" and result["totalItems"] > 0
    page = web.url("/pages/opengraph.html")
    meta = sdk.send(
        "message",
        {
            "@context": context_for("metadata"),
            "type": "fetch",
            "actor": {"id": page, "type": "website"},
        },
        timeout=40,
    )
    assert meta["@context"] == context_for("metadata") and meta["object"]["type"] == "page"
    missing = sdk.send(
        "message",
        {
            "@context": context_for("feeds"),
            "type": "fetch",
            "actor": {"id": web.url("/nothing-here.xml"), "type": "feed"},
        },
        timeout=40,
    )
    assert "nothing-here.xml" in missing["error"]


def test_two_gateway_processes_each_hold_their_own_sessions(stack: Stack) -> None:
    clients = [
        SdkClient(f"http://127.0.0.1:{port}", "polling,websocket") for port in stack.gateways
    ]
    try:
        for i, c in enumerate(clients):
            assert c.send("message", dummy("echo", f"via {i}"))["object"]["content"] == f"via {i}"
    finally:
        for c in clients:
            c.close()


def test_the_rate_limit_error_event_in_sockethubs_shape() -> None:
    s = Stack(env_overrides={"SOCKETHUB_RATE_LIMIT": "2", "SOCKETHUB_RATE_BURST": "4"}).start()
    try:
        c = SioClient(s.url, "websocket")
        ns = [c.emit_nowait("message", dummy("echo", f"n{i}")) for i in range(10)]
        err = c.event("error")
        assert err == {
            "type": "Error",
            "@context": [
                "https://www.w3.org/ns/activitystreams",
                "https://sockethub.org/ns/context/v1.jsonld",
                "https://sockethub.org/ns/context/platform/error/v1.jsonld",
            ],
            "actor": {"type": "Application", "name": "sockethub-server"},
            "summary": "rate limit exceeded, temporarily blocked",
        }
        first = c.ack_of(ns[0])
        assert first["object"]["content"] == "n0"
        limited = [a for a in (c.ack_of(n, 10) for n in ns[4:6])]
        assert all("requests per second" in a["error"] for a in limited), limited
        assert len(c.events("error")) == 1  # once per block, as Sockethub sends it
        c.close()
    finally:
        s.stop()


def test_the_per_address_cap_error_event_then_disconnect() -> None:
    s = Stack(env_overrides={"SOCKETHUB_MAX_SOCKETS_PER_ADDRESS": "1"}).start()
    try:
        first = SioClient(s.url, "websocket")
        second = SioClient(s.url, "websocket")
        err = second.event("error")
        assert err["summary"] == "too many concurrent connections from this address"
        gone = second.wait(lambda m: m["type"] == "disconnect")
        assert gone["reason"] == "io server disconnect"  # socket.io-client does not retry
        assert first.emit("message", dummy("echo"))["object"]["content"] == "hi"
        first.close()
        second.close()
    finally:
        s.stop()


def test_a_request_whose_worker_dies_gets_one_timeout_ack(stack: Stack) -> None:
    c = SioClient(stack.url, "websocket")
    try:
        assert c.emit("message", dummy("echo"))["object"]["content"] == "hi"
        stack.kill("worker-dummy")
        started = time.monotonic()
        n = c.emit_nowait("message", dummy("echo", "into the void"))
        ack = c.ack_of(n, TIMEOUT + 20)
        assert "no reply from the platform's workers within the deadline" in ack["error"], ack
        assert ack["object"]["content"] == "into the void"
        assert time.monotonic() - started >= TIMEOUT - 1
        time.sleep(1.0)
        assert sum(1 for m in c.seen if m["type"] == "ack" and m["id"] == n) == 1
    finally:
        c.close()
        stack.start_worker("dummy")


def test_a_gateway_shutting_down_drops_the_transport_so_clients_reconnect(stack: Stack) -> None:
    port = stack.start_gateway()
    name = f"web{len(stack.gateways) - 1}"
    c = SioClient(f"http://127.0.0.1:{port}", "polling,websocket")
    try:
        assert c.emit("message", dummy("echo"))["object"]["content"] == "hi"
        stack.kill(name, signal.SIGTERM)
        gone = c.wait(lambda m: m["type"] == "disconnect", 20)
        # Not "io server disconnect", after which socket.io-client would never come back.
        assert gone["reason"] == "transport close", gone
        c.wait(lambda m: m["type"] == "connect_error", 20)  # it tries: the process is gone
    finally:
        c.close()
        stack.gateways.remove(port)


def test_origins_follow_our_policy(stack: Stack) -> None:
    """Polling (CORS) and the WebSocket upgrade: the gateway's own host, or
    ``SOCKETHUB_ALLOWED_ORIGINS``; a client without ``Origin`` is let through."""
    url = f"{stack.url}/sockethub/?EIO=4&transport=polling"

    def status(origin: str | None) -> int:
        req = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    assert status(None) == 200
    assert status(stack.url) == 200  # the gateway's own host
    assert status("https://elsewhere.example") == 400


def test_payload_limits_and_unicode(sdk: SdkClient) -> None:
    big = sdk.send("message", dummy("echo", "x" * 100_000))  # over 64 KiB, under 256 KiB
    assert "over the limit of 65536 bytes" in big["error"], big["error"][:200]
    lone = sdk.send("message", dummy("echo", "\ud800"))
    assert "lone UTF-16 surrogate" in lone["error"]
    # Over SOCKETHUB_SIO_MAX_PAYLOAD_BYTES: the transport closes, no ack, and the client
    # reconnects on its own (Sockethub's behaviour).
    mark = len(sdk.seen)
    sdk.emit_nowait("message", dummy("echo", "y" * 300_000))
    sdk.wait(lambda m: m["type"] == "disconnect", 20, after=mark)
    sdk.wait(lambda m: m["type"] == "connect", 20, after=mark)
    assert sdk.send("message", dummy("echo", "back"))["object"]["content"] == "back"


def test_socketio_requests_count_in_the_same_metrics(stack: Stack) -> None:
    from .test_metrics import scrape

    before = scrape(stack)
    c = SioClient(stack.url, "websocket")
    try:
        assert c.emit("message", dummy("echo"))["object"]["content"] == "hi"
        assert "error" in c.emit("message", dummy("dance"))
        after = scrape(stack)
        key = 'sockethub_requests_total{platform="dummy",verb="echo"}'
        assert after[key] == before.get(key, 0) + 1
        refused = 'sockethub_refusals_total{code="unknown-verb"}'
        assert after[refused] == before.get(refused, 0) + 1
        started = "sockethub_sessions_started_total"
        assert after[started] >= before.get(started, 0) + 1
        assert after["sockethub_sessions"] >= 1
    finally:
        c.close()


def test_a_client_that_falls_behind_is_dropped_and_reconnects() -> None:
    """A burst far over SOCKETHUB_SEND_BUFFER_BYTES to a client that is not reading
    (SIGSTOP): the gateway drops the transport (4008 on our side) instead of holding it
    all, and the client reconnects once it runs again, as after a network drop."""
    s = Stack(env_overrides={"SOCKETHUB_STREAM_MAX_BYTES": str(64 << 20)}).start()
    try:
        c = SioClient(s.url, "websocket")
        sio_id = c.connected["id"]
        sid = None
        deadline = time.monotonic() + 10
        while sid is None and time.monotonic() < deadline:  # logged just after the connect
            said = [ln for ln in s.log("web0").splitlines() if f"(Socket.IO {sio_id})" in ln]
            sid = said[0].split("session ")[1].split(" ")[0] if said else None
            time.sleep(0.05)
        assert sid is not None
        c.proc.send_signal(signal.SIGSTOP)
        outbox = s.outbox()
        body = "e" * 65536
        for i in range(600):  # about 40 MiB at once
            assert outbox.event(sid, {"type": "send", "object": {"content": f"{i}:{body}"}}) > 0
        deadline = time.monotonic() + 20
        while "too far behind" not in s.log("web0") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "too far behind; resume from lastSeq (4008)" in s.log("web0")
        c.proc.send_signal(signal.SIGCONT)
        mark = len(c.seen)
        gone = c.wait(lambda m: m["type"] == "disconnect", 30, after=mark)
        assert gone["reason"] == "transport close"  # not a server disconnect: it comes back
        c.wait(lambda m: m["type"] == "connect", 30, after=mark)
        got = [m for m in c.seen if m["type"] == "event" and m["event"] == "message"]
        assert len(got) < 600  # it was not sent everything
        c.close()
    finally:
        s.stop()
