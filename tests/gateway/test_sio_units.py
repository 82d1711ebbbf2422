"""The Socket.IO adapter's pieces without a socket: payload shapes, the reattach rule
(against a real Redis), the router."""

from __future__ import annotations

from typing import Any

from envelopes import keys, sealing
from envelopes.context import context_for
from envelopes.outbox import failure_frame, reply_frame
from envelopes.vault import Vault
from gateway.sioreattach import Reattach
from gateway.sioshapes import ack_payload, message_push, platform_of, server_error

A = "a" * 32
IDENT = ('{"nick": "n", "server": "irc.example"}', False)


def request(verb: str = "echo", **extra: Any) -> dict[str, Any]:
    return {"@context": context_for("dummy"), "type": verb, "actor": {"id": "me"}, **extra}


def test_a_success_ack_is_the_result_or_else_the_request() -> None:
    result = {**request(), "actor": {"id": "dummy", "type": "platform"}}
    assert ack_payload(reply_frame("r", result), request()) == result
    assert ack_payload(reply_frame("r", {}), request("join")) == request("join")


def test_a_failure_ack_is_the_request_plus_the_error_string() -> None:
    frame = failure_frame("r", {"code": "refused", "message": "boom"}, request("fail"))
    assert ack_payload(frame, request("fail")) == {**request("fail"), "error": "boom"}


def test_credentials_are_never_echoed_with_their_secrets() -> None:
    creds = request("credentials", object={"type": "credentials", "password": "hunter2"})
    ok = ack_payload(reply_frame("r", {k: v for k, v in creds.items() if k != "object"}), creds)
    assert ok["object"] == {"type": "credentials"}
    failed = ack_payload(failure_frame("r", {"message": "no"}), creds)
    assert "hunter2" not in str(failed) and failed["error"] == "no"


def test_pushes_get_the_canonical_context_and_errors_sockethubs_shape() -> None:
    pushed = message_push({"@context": ["x", context_for("irc")[2]], "type": "send"})
    assert pushed["@context"] == context_for("irc")
    assert platform_of({"@context": context_for("xmpp")}) == "xmpp"
    assert platform_of({"@context": "nope"}) is None
    err = server_error("too many concurrent connections from this address")
    assert err["type"] == "Error" and err["actor"]["name"] == "sockethub-server"
    assert err["@context"][2].endswith("/platform/error/v1.jsonld")


def test_reattach_takes_a_released_connection_only(redis_client) -> None:
    vault = Vault(redis_client, sealing.server_key(A))
    for n in range(1, 8):
        redis_client.set(keys.session(f"s{n}"), "x")  # every session alive
    first = Reattach(redis_client, vault, 60, "s1", "10.0.0.1")
    assert first.key_sid("irc", IDENT) is None  # the first session: its own key
    live = Reattach(redis_client, vault, 60, "s2", "10.0.0.1")
    assert live.key_sid("irc", IDENT) is None  # s1's socket is open: never taken
    elsewhere = Reattach(redis_client, vault, 60, "s3", "10.0.0.2")
    first.release()
    assert elsewhere.key_sid("irc", IDENT) is None  # another address: not the same client
    again = Reattach(redis_client, vault, 60, "s4", "10.0.0.1")
    assert again.key_sid("irc", IDENT) == "s1"  # s1 has gone: s4 takes its connection
    late = Reattach(redis_client, vault, 60, "s5", "10.0.0.1")
    assert late.key_sid("irc", IDENT) is None  # s4 holds it now
    again.release()
    after = Reattach(redis_client, vault, 60, "s6", "10.0.0.1")
    assert after.key_sid("irc", IDENT) == "s1"  # the chain keeps the first key
    with_secret = Reattach(redis_client, vault, 60, "s7", "10.0.0.1")
    assert with_secret.key_sid("irc", (IDENT[0], True)) is None  # shared by secret anyway


def test_a_released_record_lasts_the_grace_period(redis_client) -> None:
    vault = Vault(redis_client, sealing.server_key(A))
    redis_client.set(keys.session("s1"), "x")
    first = Reattach(redis_client, vault, 7, "s1", "10.0.0.1")
    first.key_sid("irc", IDENT)
    first.release()
    ttls = [redis_client.ttl(k) for k in redis_client.keys("sh:reattach:*")]
    assert len(ttls) == 1 and 0 < ttls[0] <= 7


def test_the_router_sends_only_engineio_requests_to_socketio() -> None:
    from gateway.sio import SioRouter

    calls: list[str] = []

    class Endpoint:
        class server:
            @staticmethod
            def handle_request(environ: Any, start_response: Any) -> list[bytes]:
                calls.append("sio " + environ["PATH_INFO"])
                return []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        calls.append("flask " + environ["PATH_INFO"])
        return []

    router = SioRouter(app, Endpoint(), "/sockethub", 5)  # type: ignore[arg-type]
    router({"PATH_INFO": "/sockethub/", "QUERY_STRING": "EIO=4&transport=polling"}, None)
    router({"PATH_INFO": "/sockethub", "QUERY_STRING": ""}, None)
    router({"PATH_INFO": "/other", "QUERY_STRING": "EIO=4"}, None)
    assert calls == ["sio /sockethub/", "flask /sockethub", "flask /other"]


def test_a_record_held_by_a_session_that_is_gone_does_not_block(redis_client) -> None:
    """A gateway that died never released its sessions' records: once such a session
    has expired, the client's next session records its own connection."""
    vault = Vault(redis_client, sealing.server_key(A))
    redis_client.set(keys.session("s1"), "x")
    crashed = Reattach(redis_client, vault, 60, "s1", "10.0.0.1")
    assert crashed.key_sid("irc", IDENT) is None  # held by s1, never released
    redis_client.delete(keys.session("s1"))  # s1 expired (no heartbeat)
    fresh = Reattach(redis_client, vault, 60, "s2", "10.0.0.1")
    assert fresh.key_sid("irc", IDENT) is None  # its own key, and the record is s2's now
    fresh.release()
    later = Reattach(redis_client, vault, 60, "s3", "10.0.0.1")
    assert later.key_sid("irc", IDENT) == "s2"
