"""The pure part of HTTP actions: request ids, body shapes, answer lines."""

from __future__ import annotations

import pytest

from gateway.httpbody import (
    CREDENTIALS,
    MESSAGE,
    UNSUPPORTED,
    BodyError,
    credentials_ack,
    error_line,
    items_of,
    request_id,
)


def test_request_id_places_in_order() -> None:
    body = {"requestId": "from-body", "messages": []}
    assert request_id({}, body) == "from-body"
    assert request_id({"X-Sockethub-Request-Id": "sh"}, body) == "sh"
    assert request_id({"X-Request-Id": " x1 ", "X-Sockethub-Request-Id": "sh"}, body) == "x1"
    assert request_id({"X-Request-Id": "h"}, None, "from-path") == "from-path"
    assert request_id({"X-Request-Id": "  "}, None) is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ("x" * 129, "requestId must be at most 128 characters"),
        ("a/b", "requestId contains invalid characters"),
        ("é", "requestId contains invalid characters"),
    ],
)
def test_bad_request_ids(raw: str, message: str) -> None:
    with pytest.raises(BodyError) as caught:
        request_id({"X-Request-Id": raw})
    assert caught.value.status == 400 and caught.value.message == message
    assert request_id({"X-Request-Id": "A-z.0_9:x" + "y" * 119}) is not None  # 128: fine


def test_body_shapes() -> None:
    act = {"type": "echo", "actor": "me"}
    creds = {"type": "credentials", "actor": "me"}
    assert [i.kind for i in items_of(act, 20)] == [MESSAGE]
    assert [i.kind for i in items_of([creds, act, None, 4, "x", {}], 20)] == [
        CREDENTIALS,
        MESSAGE,
        UNSUPPORTED,
        UNSUPPORTED,
        UNSUPPORTED,
        UNSUPPORTED,
    ]
    assert [i.value for i in items_of({"requestId": "r", "messages": [act]}, 20)] == [act]
    for bad in ([], 42, "x", None, {"messages": []}):
        with pytest.raises(BodyError) as caught:
            items_of(bad, 20)
        assert caught.value.status == 400
    with pytest.raises(BodyError) as caught:
        items_of([act] * 3, 2)
    assert caught.value.status == 413 and caught.value.message == "payload limit exceeded (max 2)"


def test_credentials_ack_never_carries_the_object() -> None:
    creds = {"type": "credentials", "actor": {"id": "a@b"}, "object": {"password": "pw"}}
    ack = credentials_ack(creds, None, "r")
    assert ack["type"] == "credentials-ack" and ack["actor"] == {"id": "a@b", "type": "person"}
    assert "object" not in ack and "pw" not in str(ack)
    assert credentials_ack(creds, "bad", "r")["error"] == "bad"
    assert credentials_ack({"actor": "a@b"}, None, None)["actor"]["id"] == "a@b"
    assert credentials_ack({"actor": None}, "no actor", "r") == error_line("no actor", "r")
