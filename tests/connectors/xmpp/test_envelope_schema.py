"""The XMPP platform's wire contract (``envelopes/platforms/xmpp.py``), as the gateway checks it."""

from __future__ import annotations

from typing import Any

import pytest

from envelopes.context import context_for
from envelopes.errors import InvalidEnvelope
from envelopes.platforms.xmpp import PLATFORM, connection_identity, is_bare_jid
from envelopes.registry import Registry
from envelopes.validate import validate_envelope

from ...envelopes.platform_cases import XMPP
from ...envelopes.validation_cases import Case, copied

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


def test_sockethubs_verbs_and_nothing_else():
    assert PLATFORM.verb_names() == [
        "connect",
        "join",
        "leave",
        "send",
        "update",
        "typing",
        "receipt",
        "react",
        "delete",
        "request-friend",
        "remove-friend",
        "make-friend",
        "query",
        "disconnect",
        "upload",
        "credentials",
    ]
    assert PLATFORM.persistent and all(v.needs_credentials for v in PLATFORM.verbs.values())


@pytest.mark.parametrize("case", copied(XMPP), ids=lambda c: c.name)
def test_case(case: Case):
    """The cases live in tests/envelopes/platform_cases.py, shared with the AJV test."""
    if case.valid:
        validate_envelope(case.activity, REGISTRY)
        return
    assert case.error is not None
    with pytest.raises(case.error) as info:
        validate_envelope(case.activity, REGISTRY)
    assert info.value.path == case.path


def test_a_correction_is_kept():
    msg = {"type": "message", "content": "hi", "xmpp:replace": {"id": "m1"}}
    assert check("send", target=ROOM, object=msg)["object"]["xmpp:replace"] == {"id": "m1"}


def test_an_upload_names_a_file_and_a_message_may_carry_only_a_link():
    up = {"type": "file", "name": "a b.png", "size": 5, "mediaType": "image/png"}
    assert check("upload", object=up)["object"] == up
    for bad, path in (
        ({**up, "name": "../x"}, "object.name"),
        ({**up, "size": 0}, "object.size"),
        ({**up, "size": "5"}, "object.size"),
        ({**up, "mediaType": "png"}, "object.mediaType"),
    ):
        with pytest.raises(InvalidEnvelope) as info:
            check("upload", object=bad)
        assert info.value.path == path
    link = {"type": "file", "url": "https://d.example/a.png", "name": "a.png"}
    sent = check("send", target=ROOM, object={"type": "message", "attachment": link})
    assert sent["object"]["attachment"] == link
    with pytest.raises(InvalidEnvelope):
        bad_link = {"type": "file", "url": "javascript:alert(1)"}
        check("send", target=ROOM, object={"type": "message", "attachment": bad_link})


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
