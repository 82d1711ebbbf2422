"""Request activities → IRC lines, and what is refused (connectors.irc.outbound)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.irc.lines import MAX_LINE_BYTES
from connectors.irc.outbound import to_irc
from connectors.irc.translate import to_irc as reexported
from envelopes.errors import InvalidEnvelope, UnknownVerb

H = "irc.libera.chat"
ME = {"type": "person", "id": f"myuser@{H}", "name": "myuser"}
CHAN = {"type": "room", "id": f"#sockethub@{H}", "name": "#sockethub"}


def activity(verb: str, target: Any = None, obj: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": verb, "actor": ME}
    if target is not None:
        out["target"] = target
    if obj is not None:
        out["object"] = obj
    return out


def lines(act: dict[str, Any]) -> list[str]:
    return to_irc(act, nick="myuser", user="~myuser")


def refusal(act: dict[str, Any]) -> InvalidEnvelope:
    with pytest.raises(InvalidEnvelope) as caught:
        lines(act)
    return caught.value


def test_translate_reexports_to_irc():
    assert reexported is to_irc


def test_join_leave_query_disconnect():
    assert lines(activity("join", CHAN)) == ["JOIN #sockethub"]
    assert lines(activity("leave", CHAN)) == ["PART #sockethub"]
    leave = activity("leave", CHAN, {"type": "message", "content": "see you"})
    assert lines(leave) == ["PART #sockethub :see you"]
    assert lines(activity("query", CHAN, {"type": "attendance"})) == ["NAMES #sockethub"]
    assert lines(activity("disconnect")) == ["QUIT"]
    bye = activity("disconnect", None, {"type": "message", "content": "gone fishing"})
    assert lines(bye) == ["QUIT :gone fishing"]


def test_name_comes_from_the_id_when_missing():
    assert lines(activity("join", {"type": "room", "id": f"#kosmos@{H}"})) == ["JOIN #kosmos"]
    assert lines(activity("join", {"type": "room", "id": "&local"})) == ["JOIN &local"]


def test_send_to_a_channel_and_to_a_person():
    msg = {"type": "message", "content": "hello: world"}
    assert lines(activity("send", CHAN, msg)) == ["PRIVMSG #sockethub :hello: world"]
    raucao = {"type": "person", "id": f"raucao@{H}", "name": "raucao"}
    assert lines(activity("send", raucao, msg)) == ["PRIVMSG raucao :hello: world"]


@pytest.mark.parametrize(
    ("obj", "line"),
    [
        ({"type": "message", "content": "/me waves"}, "PRIVMSG #sockethub :\x01ACTION waves\x01"),
        ({"type": "me", "content": "waves"}, "PRIVMSG #sockethub :\x01ACTION waves\x01"),
        ({"type": "message", "content": "/notice heads up"}, "NOTICE #sockethub :heads up"),
        ({"type": "notice", "content": "heads up"}, "NOTICE #sockethub :heads up"),
        ({"type": "message", "content": "/mean it"}, "PRIVMSG #sockethub :/mean it"),
    ],
)
def test_send_commands(obj, line):
    assert lines(activity("send", CHAN, obj)) == [line]


@pytest.mark.parametrize("content", ["x" * 3000, "☕ " * 900, "/me " + "dances " * 300])
def test_long_messages_are_split_to_fit_512_bytes(content):
    out = lines(activity("send", CHAN, {"type": "message", "content": content}))
    assert len(out) > 1
    prefix = ":myuser!~myuser@" + "h" * 63 + " "  # what the server adds when relaying
    for line in out:
        assert len((prefix + line + "\r\n").encode()) <= MAX_LINE_BYTES
    if content.startswith("/me "):
        assert all(line.startswith("PRIVMSG #sockethub :\x01ACTION ") for line in out)
        assert all(line.endswith("\x01") for line in out)
        texts = [line[len("PRIVMSG #sockethub :\x01ACTION ") : -1] for line in out]
        assert "".join(texts) == content[4:]
    else:
        assert "".join(line[len("PRIVMSG #sockethub :") :] for line in out) == content


def test_update_nick_and_topic():
    new = {"type": "person", "id": f"myuser2@{H}", "name": "myuser2"}
    assert lines(activity("update", new, {"type": "address"})) == ["NICK myuser2"]
    topic = activity("update", CHAN, {"type": "topic", "content": "new topic"})
    assert lines(topic) == ["TOPIC #sockethub :new topic"]
    clear = activity("update", CHAN, {"type": "topic", "content": ""})
    assert lines(clear) == ["TOPIC #sockethub :"]


@pytest.mark.parametrize(
    ("act", "path"),
    [
        (
            activity("send", CHAN, {"type": "message", "content": "hi\r\nQUIT :pwned"}),
            "object.content",
        ),
        (activity("send", CHAN, {"type": "message", "content": "nul\0"}), "object.content"),
        (activity("join", {"type": "room", "id": "x", "name": "#a\nJOIN #b"}), "target.name"),
        (activity("join", {"type": "room", "id": "#a\r@h"}), "target.id"),
        (
            activity(
                "update", {"type": "person", "id": "x", "name": "n\nQUIT"}, {"type": "address"}
            ),
            "target.name",
        ),
        (activity("leave", CHAN, {"type": "message", "content": "bye\n"}), "object.content"),
        (activity("disconnect", None, {"type": "message", "content": "a\rb"}), "object.content"),
    ],
)
def test_cr_lf_nul_are_refused_naming_the_field(act, path):
    err = refusal(act)
    assert err.message == f"IRC values must not contain CR, LF or NUL characters ({path})"
    assert err.path == path


@pytest.mark.parametrize(
    ("target", "path", "words"),
    [
        ({"type": "room", "id": "x", "name": "sockethub"}, "target.name", "must start with"),
        ({"type": "room", "id": "x", "name": "#a,#b"}, "target.name", "comma"),
        ({"type": "room", "id": "x", "name": "#a b"}, "target.name", "space"),
        ({"type": "room", "id": "x", "name": "#" + "c" * 50}, "target.name", "50"),
        ({"type": "room", "id": "nochan@h"}, "target.id", "must start with"),
    ],
)
def test_bad_channel_names_are_refused(target, path, words):
    err = refusal(activity("join", target))
    assert err.path == path
    assert words in err.message


@pytest.mark.parametrize("nick", ["9lives", "a b", "-dash", "#chan", "a,b", ":colon"])
def test_bad_nicks_are_refused(nick):
    err = refusal(
        activity("update", {"type": "person", "id": "x", "name": nick}, {"type": "address"})
    )
    assert err.path == "target.name"
    assert "not a valid IRC nickname" in err.message


def test_rfc_2812_special_characters_are_valid_in_nicks():
    target = {"type": "person", "id": "x", "name": "[a]\\`_^{|}-9"}
    assert lines(activity("update", target, {"type": "address"})) == ["NICK [a]\\`_^{|}-9"]


def test_other_refusals():
    assert refusal(activity("send", CHAN, {"type": "message", "content": ""})).path == (
        "object.content"
    )
    assert refusal(activity("send", CHAN, {"type": "message", "content": "/me "})).path == (
        "object.content"
    )
    assert refusal(activity("send", CHAN)).path == "object.content"
    assert refusal(activity("join")).path == "target"
    unknown = refusal(activity("update", CHAN, {"type": "colour"}))
    assert (unknown.path, unknown.message) == ("object.type", "unknown update action: colour")
    assert refusal(activity("query", CHAN, {"type": "members"})).path == "object.type"
    long_topic = activity("update", CHAN, {"type": "topic", "content": "t" * 600})
    assert "too long" in refusal(long_topic).message


def test_a_target_too_long_to_leave_room_for_text_is_refused():
    long_nick = {"type": "person", "id": "x", "name": "n" * 480}
    err = refusal(activity("send", long_nick, {"type": "message", "content": "hi"}))
    assert err.path == "target.name"


def test_verbs_without_lines():
    with pytest.raises(UnknownVerb):
        lines(activity("connect"))
