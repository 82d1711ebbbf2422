"""The XMPP platform's wire contract (``envelopes/platforms/xmpp.py``), as the gateway checks it."""

from __future__ import annotations

from typing import Any

import pytest

from envelopes.context import context_for
from envelopes.errors import InvalidEnvelope
from envelopes.platforms.xmpp import PLATFORM, connection_identity, is_bare_jid
from envelopes.registry import Registry
from envelopes.validate import validate_envelope

REGISTRY = Registry([PLATFORM])
ME = {"id": "alice@example.org", "type": "person", "name": "Alice"}
ROOM = {"id": "room@conference.example.org", "type": "room", "name": "room"}
CREDS = {
    "type": "credentials",
    "userAddress": "alice@example.org",
    "password": "pw",
    "resource": "web",
}


def check(verb: str, **parts: Any) -> dict[str, Any]:
    envelope = {"@context": context_for("xmpp"), "type": verb, "actor": ME, **parts}
    return validate_envelope(envelope, REGISTRY).activity


def refused(verb: str, **parts: Any) -> InvalidEnvelope:
    with pytest.raises(InvalidEnvelope) as err:
        check(verb, **parts)
    return err.value


def test_sockethubs_verbs_and_nothing_else():
    assert PLATFORM.verb_names() == [
        "connect",
        "join",
        "leave",
        "send",
        "update",
        "request-friend",
        "remove-friend",
        "make-friend",
        "query",
        "disconnect",
        "credentials",
    ]
    assert PLATFORM.persistent and all(v.needs_credentials for v in PLATFORM.verbs.values())


def test_credentials():
    assert check(
        "credentials",
        object={**CREDS, "server": "xmpp.example.org", "port": 5223, "allowInvalidCert": False},
    )
    assert (
        refused("credentials", object={**CREDS, "userAddress": "alice@example.org/web"}).path
        == "object.userAddress"
    )
    assert (
        refused("credentials", object={k: v for k, v in CREDS.items() if k != "resource"}).path
        == "object.resource"
    )
    assert refused("credentials", object={**CREDS, "tls": False}).path == "object.tls"
    assert refused("credentials", object={**CREDS, "port": "5222"}).path == "object.port"


def test_send_and_its_correction():
    msg = {"type": "message", "content": "hi", "xmpp:replace": {"id": "m1"}}
    assert check("send", target=ROOM, object=msg)["object"]["xmpp:replace"] == {"id": "m1"}
    assert (
        refused("send", target=ROOM, object={"type": "message", "content": ""}).path
        == "object.content"
    )
    assert (
        refused(
            "send",
            target={**ROOM, "id": "room@conference.example.org/nick"},
            object={"type": "message", "content": "x"},
        ).path
        == "target.id"
    )
    assert (
        refused("send", target=ROOM, object={**msg, "xmpp:replace": {"id": "m1", "x": 1}}).path
        == "object.xmpp:replace.x"
    )


def test_update_query_and_friends():
    assert check("update", object={"type": "presence", "presence": "dnd", "content": "busy"})
    assert refused("update", object={"type": "presence"}).path == "object.presence"
    assert (
        refused("update", object={"type": "presence", "presence": "invisible"}).path
        == "object.presence"
    )
    assert check("update", target=ROOM, object={"type": "topic", "content": "news"})
    assert check("query", object={"type": "roster"})
    assert check("query", target=ROOM, object={"type": "room-info"})
    assert refused("query", target=ROOM, object={"type": "members"}).path == "object.type"
    person = {"id": "bob@example.org", "type": "person"}
    assert check("request-friend", target=person, object={"type": "message", "content": "hi"})
    assert refused("make-friend", target=ROOM).path == "target.type"
    assert refused("join").path == "target"


def test_only_identical_credentials_share_a_connection():
    base, secret = connection_identity(CREDS)
    assert secret  # a password is always part of it
    assert connection_identity({**CREDS, "userAddress": "Alice@Example.org"})[0] == base
    for change in (
        {"password": "other"},
        {"resource": "phone"},
        {"server": "h.example"},
        {"port": 5223},
        {"allowInvalidCert": True},
    ):
        assert connection_identity({**CREDS, **change})[0] != base, change


def test_bare_jids():
    assert is_bare_jid("a@b.example") and not is_bare_jid("b.example")
    assert not is_bare_jid("a b@c") and not is_bare_jid("a@b/c")
