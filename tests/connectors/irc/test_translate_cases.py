"""Single translator behaviours, one line or a few at a time (connectors.irc.translate)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.irc import ids
from connectors.irc.lines import parse_line
from connectors.irc.translate import IrcContext, connection_event, flush, translate

# The convention itself is pinned literally in test_translate.test_id_convention_spelled_out.
CONTEXT = [
    "https://www.w3.org/ns/activitystreams",
    "https://sockethub.org/ns/context/v1.jsonld",
    "https://sockethub.org/ns/context/platform/irc/v1.jsonld",
]
NG = "127.0.0.1"
LC = "irc.libera.chat"


def person(nick: str, host: str = NG) -> dict[str, str]:
    return ids.person(nick, host)


def room(channel: str, host: str = NG) -> dict[str, str]:
    return ids.room(channel, host)


def service(host: str = NG) -> dict[str, str]:
    return ids.service(host)


def act(verb, actor, target=None, obj=None) -> dict[str, Any]:
    out: dict[str, Any] = {"@context": CONTEXT, "type": verb, "actor": actor}
    if target is not None:
        out["target"] = target
    if obj is not None:
        out["object"] = obj
    return out


def role(verb, setter, nick, name, channel):
    obj = {"type": "relationship", "relationship": "role", "role": name, "object": room(channel)}
    return act(verb, setter, person(nick), obj)


def one(line: str, ctx: IrcContext) -> list[Any]:
    return translate(parse_line(line), ctx) + flush(ctx)


# --- single behaviours ------------------------------------------------------------------


def test_topic_without_333_is_flushed_by_the_next_line_or_by_flush():
    ctx = IrcContext(server=NG, nick="bob")
    assert translate(parse_line(":srv.x 332 bob #a :first"), ctx) == []
    from_service = act("update", service(), room("#a"), {"type": "topic", "content": "first"})
    assert translate(parse_line("PING :srv.x"), ctx) == [from_service]
    assert translate(parse_line(":srv.x 332 bob #a :again"), ctx) == []
    again = act("update", service(), room("#a"), {"type": "topic", "content": "again"})
    assert flush(ctx) == [again]
    assert flush(ctx) == []


def test_333_for_another_channel_does_not_steal_a_pending_topic():
    ctx = IrcContext(server=NG, nick="bob")
    translate(parse_line(":srv.x 332 bob #a :topic a"), ctx)
    out = translate(parse_line(":srv.x 333 bob #b carol 0"), ctx)
    assert out == [act("update", service(), room("#a"), {"type": "topic", "content": "topic a"})]


def test_no_topic_is_an_empty_topic():
    ctx = IrcContext(server=NG, nick="bob")
    assert one(":srv.x 331 bob #a :No topic is set", ctx) == [
        act("update", service(), room("#a"), {"type": "topic", "content": ""})
    ]


def test_names_for_every_channel_end_together():
    ctx = IrcContext(server=NG, nick="bob")
    translate(parse_line(":srv.x 353 bob = #a :@x y"), ctx)
    translate(parse_line(":srv.x 353 bob * #b :%z!zed@host"), ctx)  # userhost-in-names
    out = one(":srv.x 366 bob * :End of NAMES list", ctx)
    assert [(a["actor"]["name"], a["object"]["roles"]) for a in out] == [
        ("#a", {"x": "operator", "y": "member"}),
        ("#b", {"z": "halfop"}),
    ]


def test_end_of_names_without_names_is_an_empty_room():
    ctx = IrcContext(server=NG, nick="bob")
    [result] = one(":srv.x 366 bob #empty :End of NAMES list", ctx)
    assert result["object"] == {"type": "attendance", "members": [], "roles": {}}


def test_owner_and_admin_prefixes():
    ctx = IrcContext(server=NG, nick="bob")
    translate(parse_line(":srv.x 353 bob = #a :~own &adm @op %half +v plain"), ctx)
    [result] = one(":srv.x 366 bob #a :End", ctx)
    assert result["object"]["roles"] == {
        "own": "owner",
        "adm": "admin",
        "op": "operator",
        "half": "halfop",
        "v": "voice",
        "plain": "member",
    }


def test_mode_with_parameters_and_roles():
    ctx = IrcContext(server=NG, nick="bob")
    out = one(":op!o@h MODE #a +lkh-v+b 10 sesame carol dave *!*@spam.example", ctx)
    assert out == [
        role("add", person("op"), "carol", "halfop", "#a"),
        role("remove", person("op"), "dave", "voice", "#a"),
        act(
            "update",
            person("op"),
            room("#a"),
            {"type": "mode", "content": "+lkb 10 sesame *!*@spam.example"},
        ),
    ]


def test_mode_unset_limit_takes_no_parameter_and_server_set_modes_come_from_the_service():
    ctx = IrcContext(server=NG, nick="bob")
    assert one(":srv.example MODE #a -l+o bob", ctx) == [
        role("add", service(), "bob", "operator", "#a"),
        act("update", service(), room("#a"), {"type": "mode", "content": "-l"}),
    ]


def test_user_modes_and_other_ctcp_give_nothing():
    ctx = IrcContext(server=NG, nick="bob")
    assert one(":bob MODE bob :+i", ctx) == []
    assert one(":x!y@z PRIVMSG bob :\x01VERSION\x01", ctx) == []
    assert one(":x!y@z NOTICE bob :\x01VERSION irssi 1.4\x01", ctx) == []
    assert one(":srv.x 372 bob :- message of the day", ctx) == []


def test_action_without_closing_ctrl_a():
    ctx = IrcContext(server=NG, nick="bob")
    [result] = one(":x!y@z PRIVMSG #a :\x01ACTION dances", ctx)
    assert result["object"] == {"type": "me", "content": "dances"}


def test_statusmsg_target_is_the_channel():
    ctx = IrcContext(server=NG, nick="bob")
    [result] = one(":x!y@z NOTICE @#a :ops only", ctx)
    assert result["target"] == room("#a")


def test_our_own_nick_change_kick_and_part_update_the_context():
    ctx = IrcContext(server=NG, nick="bob")
    one(":srv.x 001 bob_ :Welcome", ctx)  # the server may give us another nick
    assert ctx.nick == "bob_"
    one(":bob_!b@h JOIN :#a", ctx)
    one(":bob_!b@h JOIN :#b", ctx)
    one(":bob_!b@h NICK :robert", ctx)
    assert ctx.nick == "robert"
    [kicked] = one(":op!o@h KICK #a robert", ctx)
    assert kicked["object"] == {"type": "kick", "content": "user was kicked", "by": person("op")}
    assert ctx.channels == {"#b"}
    one(":robert!b@h PART #b :bye", ctx)
    assert ctx.channels == set()


def test_channels_compare_with_the_servers_casemapping():
    ctx = IrcContext(server=NG, nick="Bob[1]")
    one(":bob{1}!b@h JOIN :#Foo[x]", ctx)  # rfc1459: {} are the lower case of []
    assert ctx.channels == {"#Foo[x]"}
    assert ctx.joined("#foo{x}")
    one(":BOB[1]!b@h PART #FOO{X}", ctx)
    assert ctx.channels == set()


def test_part_without_reason_and_quit_without_message():
    ctx = IrcContext(server=NG, nick="bob")
    [part] = one(":x!y@z PART #a", ctx)
    assert part["object"] == {"type": "message", "content": "user has left the channel"}
    [quit_] = one(":x!y@z QUIT", ctx)
    assert quit_ == act(
        "leave", person("x"), service(), {"type": "message", "content": "user has quit"}
    )


def test_truncated_lines_give_nothing_instead_of_failing():
    ctx = IrcContext(server=NG, nick="bob")
    for line in ["PRIVMSG", ":x!y@z JOIN", ":x!y@z KICK #a", ":s.x 353 bob", ":s.x 333 bob"]:
        assert one(line, ctx) == []


# --- connection events ------------------------------------------------------------------


def test_connection_events():
    assert connection_event("connected", LC, "myuser") == {
        "@context": CONTEXT,
        "type": "connect",
        "actor": service(LC),
        "target": person("myuser", LC),
        "object": {"type": "connection", "state": "connected"},
    }
    assert connection_event(
        "reconnecting", LC, "myuser", attempt=2, delay=4.0, reason="Connection reset by peer"
    )["object"] == {
        "type": "connection",
        "state": "reconnecting",
        "attempt": 2,
        "delay": 4.0,
        "reason": "Connection reset by peer",
    }
    gone = connection_event("disconnected", LC, reason="Closing Link: (Quit: bye)")
    assert gone["type"] == "disconnect"
    assert "target" not in gone
    assert connection_event("connecting", LC)["type"] == "connect"


def test_unknown_connection_state_is_refused():
    with pytest.raises(ValueError):
        connection_event("exploded", LC)


def test_topic_time_zero_means_unknown():
    ctx = IrcContext(server=NG, nick="bob")
    translate(parse_line(":srv.x 332 bob #a :topic a"), ctx)
    assert one(":srv.x 333 bob #a carol!c@h 0", ctx) == [
        act("update", person("carol"), room("#a"), {"type": "topic", "content": "topic a"})
    ]
