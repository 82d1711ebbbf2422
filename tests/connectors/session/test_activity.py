"""The AS2 shapes every persistent platform builds its events from."""

from __future__ import annotations

import json

from connectors.session.activity import activity, error_activity
from envelopes.context import context_for
from envelopes.errors import NotFound

ACTOR = {"type": "person", "id": "ann@irc.example", "name": "ann"}
ROOM = {"type": "room", "id": "irc.example/#x", "name": "#x"}


def test_an_activity_has_only_what_was_given_in_one_key_order():
    bare = activity("irc", "join", ACTOR)
    assert bare == {"@context": context_for("irc"), "type": "join", "actor": ACTOR}
    full = activity("xmpp", "send", ACTOR, ROOM, {"type": "message"}, "2026-01-02T03:04:05Z")
    assert list(full) == ["@context", "type", "actor", "target", "object", "published"]
    assert full["@context"] == context_for("xmpp")


def test_activities_do_not_share_their_context_list():
    a, b = activity("irc", "join", ACTOR), activity("irc", "join", ACTOR)
    a["@context"].append("mutated")
    assert b["@context"] == context_for("irc")


def test_an_error_event_carries_the_reply_code_the_condition_and_the_protocol_extras():
    event = error_activity(
        "irc",
        ROOM,
        ACTOR,
        NotFound("no such channel"),
        "no-such-channel",
        "No such channel",
        numeric="403",
    )
    assert event["type"] == "error" and event["error"] == "No such channel"
    assert event["object"] == {
        "type": "error",
        "code": "not-found",
        "condition": "no-such-channel",
        "retryable": False,
        "numeric": "403",
        "content": "No such channel",
    }
    assert json.loads(json.dumps(event)) == event
