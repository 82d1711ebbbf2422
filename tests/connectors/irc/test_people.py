"""IRCv3 lines about people, translated (connectors.irc.people), and the requests that
set our own away state, real name and watch list (connectors.irc.outbound)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.irc import ids
from connectors.irc.lines import parse_line
from connectors.irc.numerics import IrcError
from connectors.irc.outbound import monitor_line, update_lines
from connectors.irc.translate import IrcContext, flush, translate
from envelopes.errors import InvalidEnvelope

S = "irc.example.net"


def ctx() -> IrcContext:
    return IrcContext(server=S, nick="me")


def one(line: str, c: IrcContext) -> list[Any]:
    return translate(parse_line(line), c) + flush(c)


def person(nick: str, **extra: str) -> dict[str, str]:
    return {**ids.person(nick, S), **extra}


def test_away_and_back_are_presence_updates_with_the_host():
    c = ctx()
    [away] = one(":bob!b@host.x AWAY :lunch", c)
    assert away["type"] == "update" and away["target"] == person("me")
    assert away["actor"] == person("bob", host="b@host.x")
    assert away["object"] == {"type": "presence", "presence": "away", "content": "lunch"}
    assert c.away_of("BOB") == "lunch"  # folded
    [back] = one(":bob!b@host.x AWAY", c)
    assert back["object"] == {"type": "presence", "presence": "online"}
    assert c.away_of("bob") is None
    assert one(":me!m@h AWAY :gone", c) == []  # ours: the reply to our own update


def test_names_say_who_is_away_every_role_and_hosts():
    c = ctx()
    one(":bob!b@h AWAY :lunch", c)
    one(":srv 353 me = #c :@+bob!b@h.x %carol!c@h.y dave!d@h.z", c)
    [names] = one(":srv 366 me #c :End", c)
    obj = names["object"]
    assert obj["members"] == ["bob", "carol", "dave"]
    assert obj["roles"] == {"bob": "operator", "carol": "halfop", "dave": "member"}
    assert obj["allRoles"] == {"bob": ["operator", "voice"]}
    assert obj["hosts"] == {"bob": "b@h.x", "carol": "c@h.y", "dave": "d@h.z"}
    assert obj["away"] == {"bob": "lunch"}
    assert c.name_extras == {}


def test_a_who_reply_tells_who_was_away_before_we_came():
    c = ctx()
    line = ":srv 352 me #c ~bob h.x srv bob G@ :0 Bob B"
    [away] = one(line, c)
    assert away["actor"] == person("bob", host="~bob@h.x")
    assert away["object"] == {"type": "presence", "presence": "away"}
    assert one(line, c) == []  # known already
    assert one(":srv 352 me #c ~bob h.x srv bob H :0 Bob B", c) == [] and c.away_of("bob") is None


def test_quit_and_nick_keep_the_away_memory_right():
    c = ctx()
    one(":bob!b@h AWAY :lunch", c)
    one(":bob!b@h NICK robert", c)
    assert c.away_of("robert") == "lunch" and c.away_of("bob") is None
    one(":robert!b@h QUIT :bye", c)
    assert c.away == {}


def test_the_away_memory_is_bounded():
    c = ctx()
    c.people_limit = 2
    for nick in ("a", "b", "c"):
        one(f":{nick}!u@h AWAY :x", c)
    assert list(c.away) == ["b", "c"]


def test_account_changes_and_account_tags():
    c = ctx()
    [login] = one(":bob!b@h ACCOUNT bobby", c)
    assert login["actor"] == person("bob", host="b@h", account="bobby")
    assert login["object"] == {"type": "profile", "account": "bobby"}
    [logout] = one("@account=bobby :bob!b@h ACCOUNT *", c)
    assert logout["actor"] == person("bob", host="b@h")  # logged out: no account
    assert logout["object"] == {"type": "profile", "account": None}
    [said] = one("@account=bobby :bob!b@h PRIVMSG #c :hi", c)
    assert said["actor"] == person("bob", account="bobby")


def test_extended_join_gives_account_real_name_and_host():
    c = ctx()
    [joined] = one(":bob!b@h JOIN #c bobby :Bob Builder", c)
    assert joined["actor"] == person("bob", host="b@h", account="bobby", realName="Bob Builder")
    [anon] = one(":eve!e@h JOIN #c * :Eve", c)
    assert anon["actor"] == person("eve", host="e@h", realName="Eve")
    [plain] = one(":zed!z@h JOIN #c", c)  # no extended-join: as before
    assert plain["actor"] == person("zed")


def test_host_and_real_name_changes_are_profile_updates():
    c = ctx()
    [moved] = one(":bob!b@old.host CHGHOST bee new.host", c)
    assert moved["type"] == "update" and moved["actor"] == person("bob", host="bee@new.host")
    assert moved["object"] == {"type": "profile", "host": "bee@new.host"}
    [renamed] = one(":bob!b@h SETNAME :Robert B", c)
    assert renamed["actor"] == person("bob", host="b@h", realName="Robert B")
    assert renamed["object"] == {"type": "profile", "realName": "Robert B"}


def test_invites_name_who_was_invited_where():
    c = ctx()
    [invite] = one(":op!o@h INVITE bob #secret", c)
    assert invite["type"] == "invite" and invite["actor"] == person("op", host="o@h")
    assert invite["target"] == person("bob")
    assert invite["object"] == ids.room("#secret", S)


def test_monitor_replies_are_presence_updates():
    c = ctx()
    c.apply_isupport(["MONITOR=5"])
    assert c.monitor == 5
    c.watched = {"bob": "", "carol": ""}
    online = one(":srv 730 me :bob!b@h,carol!c@h", c)
    assert [a["actor"] for a in online] == [person("bob", host="b@h"), person("carol", host="c@h")]
    assert {a["object"]["presence"] for a in online} == {"online"}
    [offline] = one(":srv 731 me :bob", c)
    assert offline["object"] == {"type": "presence", "presence": "offline"}
    assert c.watched == {"bob": "offline", "carol": "online"}
    [full] = one(":srv 734 me 5 dave :Monitor list is full.", c)
    assert isinstance(full, IrcError) and full.code == "monitor-list-full"
    assert "5" in full.message and full.target == "dave"


def test_no_monitor_without_its_isupport_token():
    c = ctx()
    c.apply_isupport(["CHANTYPES=#"])
    assert c.monitor is None
    c.apply_isupport(["MONITOR"])
    assert c.monitor == 0  # offered, no limit named


def update(obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": "update", "object": obj}


@pytest.mark.parametrize(
    ("obj", "line"),
    [
        ({"type": "presence", "presence": "away", "content": "lunch"}, "AWAY :lunch"),
        ({"type": "presence", "presence": "away"}, "AWAY :away"),
        ({"type": "presence", "presence": "dnd"}, "AWAY :busy"),
        ({"type": "presence", "presence": "online"}, "AWAY"),
        ({"type": "presence", "presence": "chat", "content": "x"}, "AWAY"),
        ({"type": "profile", "realName": "Ann Example"}, "SETNAME :Ann Example"),
    ],
)
def test_our_presence_and_real_name(obj, line):
    assert update_lines(update(obj)) == [line]


def test_offline_is_not_an_away_and_lines_stay_lines():
    with pytest.raises(InvalidEnvelope) as err:
        update_lines(update({"type": "presence", "presence": "offline"}))
    assert err.value.path == "object.presence" and "disconnect" in err.value.message
    with pytest.raises(InvalidEnvelope):
        update_lines(update({"type": "presence", "presence": "away", "content": "a\r\nQUIT"}))
    with pytest.raises(InvalidEnvelope):
        update_lines(update({"type": "profile"}))


def test_monitor_lines():
    bob = {"type": "person", "id": f"bob@{S}", "name": "bob"}
    watch = {"type": "query", "target": bob, "object": {"type": "presence"}}
    assert monitor_line(watch) == "MONITOR + bob"
    assert (
        monitor_line({**watch, "object": {"type": "presence", "watch": False}}) == "MONITOR - bob"
    )
    with pytest.raises(InvalidEnvelope):
        monitor_line({**watch, "target": {**bob, "name": "bob,carol"}})
