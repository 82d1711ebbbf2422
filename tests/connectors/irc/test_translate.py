"""Incoming IRC → AS2, checked against captured server output (connectors.irc.translate).

Fixtures: ``ngircd_session.txt`` was captured from a real ngircd by ``tests/servers``;
the Libera ones follow Libera.Chat's formats. Single behaviours: ``test_translate_cases``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.irc.lines import decode_line, parse_line
from connectors.irc.translate import IrcContext, IrcError, flush, translate
from envelopes.errors import AuthenticationFailed, NotFound, Refused

FIXTURES = Path(__file__).parent / "fixtures"
CONTEXT = [
    "https://www.w3.org/ns/activitystreams",
    "https://sockethub.org/ns/context/v1.jsonld",
    "https://sockethub.org/ns/context/platform/irc/v1.jsonld",
]
NG = "127.0.0.1"  # the ngircd capture: the host bob connected to
LC = "irc.libera.chat"  # the Libera fixtures


def person(nick: str, host: str = NG) -> dict[str, str]:
    return {"type": "person", "id": f"{nick}@{host}", "name": nick}


def room(channel: str, host: str = NG) -> dict[str, str]:
    return {"type": "room", "id": f"{channel}@{host}", "name": channel}


def service(host: str = NG) -> dict[str, str]:
    return {"type": "service", "id": host, "name": host}


def act(verb, actor, target=None, obj=None, published=None) -> dict[str, Any]:
    out: dict[str, Any] = {"@context": CONTEXT, "type": verb, "actor": actor}
    if target is not None:
        out["target"] = target
    if obj is not None:
        out["object"] = obj
    if published is not None:
        out["published"] = published
    return out


def load(name: str) -> list[bytes]:
    """A fixture's raw lines (bytes, as on the wire), without comments."""
    lines = []
    for raw in (FIXTURES / name).read_bytes().split(b"\n"):
        raw = raw.rstrip(b"\r")
        if raw and not raw.startswith(b"# "):
            lines.append(raw)
    return lines


def run(name: str, ctx: IrcContext) -> list[Any]:
    out: list[Any] = []
    for raw in load(name):
        out.extend(translate(parse_line(decode_line(raw)), ctx))
    out.extend(flush(ctx))
    return out


def one(line: str, ctx: IrcContext) -> list[Any]:
    return translate(parse_line(line), ctx) + flush(ctx)


def role(verb, setter, nick, name, channel, host=NG):
    obj = {
        "type": "relationship",
        "relationship": "role",
        "role": name,
        "object": room(channel, host),
    }
    return act(verb, person(setter, host), person(nick, host), obj)


def test_id_convention_spelled_out():
    ctx = IrcContext(server="irc.libera.chat", nick="myuser")
    [activity] = one(":raucao!~raucao@user/raucao PRIVMSG #sockethub :hi", ctx)
    assert activity == {
        "@context": CONTEXT,
        "type": "send",
        "actor": {"type": "person", "id": "raucao@irc.libera.chat", "name": "raucao"},
        "target": {"type": "room", "id": "#sockethub@irc.libera.chat", "name": "#sockethub"},
        "object": {"type": "message", "content": "hi"},
    }
    [quit_] = one(":raucao!~raucao@user/raucao QUIT :bye", ctx)
    assert quit_["target"] == {
        "type": "service",
        "id": "irc.libera.chat",
        "name": "irc.libera.chat",
    }


def test_ngircd_session():
    ctx = IrcContext(server=NG, nick="bob")
    topic = {"type": "topic", "content": "Sockethub for Python: ActivityStreams over IRC"}
    topic_update = act("update", person("alice"), room("#sockethub"), topic, "2026-11-28T18:59:49Z")

    def names(*pairs):
        members = [nick for nick, _ in pairs]
        return {"type": "attendance", "members": members, "roles": dict(pairs)}

    results = run("ngircd_session.txt", ctx)
    # Errors are summed up here; their messages are checked in test_libera_errors.
    summary = [
        ("error", r.numeric, r.code, r.target) if isinstance(r, IrcError) else r for r in results
    ]
    assert summary == [
        act("join", person("bob"), room("#sockethub")),
        topic_update,
        act(
            "query",
            room("#sockethub"),
            person("bob"),
            names(("bob", "member"), ("alice", "operator")),
        ),
        role("add", "alice", "bob", "voice", "#sockethub"),
        act(
            "send",
            person("alice"),
            room("#sockethub"),
            {"type": "message", "content": "hello bob, welcome ☕"},
        ),
        act("send", person("alice"), room("#sockethub"), {"type": "me", "content": "waves"}),
        act(
            "send",
            person("alice"),
            room("#sockethub"),
            {"type": "notice", "content": "the meeting starts at 10"},
        ),
        act(
            "send",
            person("alice"),
            person("bob"),
            {"type": "message", "content": "psst, a private word"},
        ),
        role("add", "alice", "bob", "operator", "#sockethub"),
        act("update", person("alice"), room("#sockethub"), {"type": "mode", "content": "+m"}),
        act("update", person("alice"), person("alice_"), {"type": "address"}),
        ("error", "433", "nick-in-use", "alice_"),
        act("join", person("bob"), room("#nope")),
        act("query", room("#nope"), person("bob"), names(("bob", "operator"))),
        ("error", "403", "no-such-channel", "nochan"),
        ("error", "401", "no-such-nick", "#nowhere"),
        ("error", "471", "channel-full", "#full"),
        ("error", "473", "invite-only", "#closed"),
        ("error", "474", "banned", "#banned"),
        ("error", "475", "bad-channel-key", "#locked"),
        role("remove", "alice_", "bob", "operator", "#sockethub"),
        ("error", "482", "not-channel-operator", "#sockethub"),
        ("error", "442", "not-on-channel", "#full"),
        topic_update,  # TOPIC #sockethub asked again: 332 + 333
        act(
            "leave",
            person("bob"),
            room("#sockethub"),
            {"type": "message", "content": "see you later"},
        ),
        act("join", person("bob"), room("#sockethub")),
        topic_update,
        act(
            "query",
            room("#sockethub"),
            person("bob"),
            names(("bob", "member"), ("alice_", "operator")),
        ),
        act(
            "leave",
            person("bob"),
            room("#sockethub"),
            {"type": "kick", "content": "enough for today", "by": person("alice_")},
        ),
        act("join", person("bob"), room("#sockethub")),
        topic_update,
        act(
            "query",
            room("#sockethub"),
            person("bob"),
            names(("bob", "member"), ("alice_", "operator")),
        ),
        # Sent by alice as latin-1 bytes: decoded leniently, not dropped.
        act(
            "send",
            person("alice_"),
            room("#sockethub"),
            {"type": "message", "content": "café crème"},
        ),
        # ngircd puts quit reasons in quotes; we pass them on as the server said them.
        act(
            "leave",
            person("alice_"),
            service(),
            {"type": "message", "content": '"Leaving for lunch"'},
        ),
    ]
    [full] = [r for r in results if isinstance(r, IrcError) and r.numeric == "471"]
    assert full.message == "cannot join #full: the channel is full (+l)"
    assert full.text == "Cannot join channel (+l) -- Channel is full, try later"
    assert ctx.nick == "bob"
    assert ctx.channels == {"#sockethub", "#nope"}
    assert ctx.casemapping == "ascii"  # from ngircd's RPL_ISUPPORT
    assert ctx.chanmodes == ("beI", "k", "l", "imMnOPQRstVz")
    assert ctx.names == {} and ctx.topics == {}


def test_libera_session():
    ctx = IrcContext(server=LC, nick="myuser")
    me, chan = person("myuser", LC), room("#sockethub", LC)
    t = "2026-11-28T17:0"
    # extended-join: the joiner's host, account ("*": none) and real name on the actor
    joiner = {**me, "host": "~myuser@example.net", "realName": "My User"}

    def tagged(nick: str) -> dict[str, str]:  # account-tag: the sender's account
        return {**person(nick, LC), "account": nick}

    def notice(actor, text, published=None):
        return act("send", actor, me, {"type": "notice", "content": text}, published)

    assert run("libera_session.txt", ctx) == [
        # Before registration the server calls us "*": still us.
        notice(service(LC), "*** Checking Ident"),
        notice(service(LC), "*** Looking up your hostname..."),
        notice(service(LC), "*** Found your hostname: example.net"),
        act("join", joiner, chan, None, t + "2:11.412Z"),
        act(
            "update",
            person("raucao", LC),
            chan,
            {
                "type": "topic",
                "content": "Sockethub | https://sockethub.org | be excellent to each other",
            },
            "2023-11-14T22:13:20Z",  # when it was set (333), not when we were told
        ),
        act(
            "query",
            chan,
            me,
            {
                "type": "attendance",
                "members": [
                    "myuser",
                    "galfert",
                    "raucao",
                    "ChanServ",
                    "bkero",
                    "hal8000",
                    "slvrbckt",
                ],
                "roles": {
                    "myuser": "member",
                    "galfert": "voice",
                    "raucao": "operator",
                    "ChanServ": "operator",  # multi-prefix "@+": the highest counts
                    "bkero": "member",
                    "hal8000": "member",
                    "slvrbckt": "member",
                },
                "allRoles": {"ChanServ": ["operator", "voice"]},  # every one, with multi-prefix
            },
            t + "2:11.412Z",
        ),
        act(
            "send",
            tagged("raucao"),
            chan,
            {"type": "message", "content": "welcome myuser!", "id": "lbVTQb5Mdr6iGp8Zdtb4xA"},
            t + "3:00.021Z",
        ),
        act(
            "send",
            tagged("galfert"),
            chan,
            {"type": "me", "content": "waves", "id": "zZq3NDgJkUbyzBJtcNBUVg"},
            t + "3:04.900Z",
        ),
        notice(person("NickServ", LC), "You are now identified for myuser.", t + "3:05.000Z"),
        act(
            "send",
            tagged("raucao"),
            me,
            {"type": "message", "content": "hey, got a minute?", "id": "q0MpB8yhTd1Sd4FMRSq8Xg"},
            t + "3:09.250Z",
        ),
        act(
            "add",
            person("ChanServ", LC),
            person("galfert", LC),
            {"type": "relationship", "relationship": "role", "role": "operator", "object": chan},
            t + "4:00.000Z",
        ),
        act(
            "update",
            person("slvrbckt", LC),
            person("silverbucket", LC),
            {"type": "address"},
            t + "4:30.000Z",
        ),
        act(
            "update",
            tagged("raucao"),
            chan,
            {"type": "topic", "content": "Sockethub 5 released | https://sockethub.org"},
            t + "5:00.000Z",
        ),
        act(
            "leave",
            person("hal8000", LC),
            service(LC),
            {"type": "message", "content": "Quit: Leaving"},
            t + "6:00.000Z",
        ),
        act(
            "leave",
            person("bkero", LC),
            chan,
            {"type": "message", "content": "user has left the channel"},
            t + "6:30.000Z",
        ),
        notice(service(LC), "*** Notice -- This server will restart in 5 minutes", t + "7:00.000Z"),
    ]
    assert ctx.prefixes == {"@": "o", "+": "v"}
    assert ctx.chantypes == "#"
    assert ctx.casemapping == "rfc1459"
    assert ctx.channels == {"#sockethub"}
    assert ctx.monitor == 100  # MONITOR=100 in its RPL_ISUPPORT


def test_libera_errors():
    ctx = IrcContext(server=LC, nick="myuser")
    got = [(e.code, e.numeric, e.target, e.message) for e in run("libera_errors.txt", ctx)]
    assert got == [
        ("nick-in-use", "433", "myuser", "nickname myuser is already in use"),
        ("erroneous-nick", "432", "9lives", "erroneous nickname: 9lives"),
        ("nick-in-use", "437", "boo", "nickname boo is temporarily unavailable"),
        ("auth-failed", "464", None, "the server password is incorrect"),
        ("auth-failed", "904", None, "SASL authentication failed"),
        ("banned-from-server", "465", None, "you are banned from this server"),
        ("channel-unavailable", "437", "#juped", "channel #juped is temporarily unavailable"),
        ("nick-in-use", "436", "myuser", "nickname collision for myuser"),
        ("no-such-nick", "401", "nobody", "no such nick or channel: nobody"),
        ("no-such-channel", "403", "#gone", "no such channel: #gone"),
        ("cannot-send", "404", "#moderated", "cannot send to channel #moderated"),
        (
            "too-many-channels",
            "405",
            "#one-too-many",
            "cannot join #one-too-many: you have joined too many channels",
        ),
        ("not-on-channel", "442", "#elsewhere", "you are not on channel #elsewhere"),
        ("channel-full", "471", "#full", "cannot join #full: the channel is full (+l)"),
        (
            "invite-only",
            "473",
            "#libera-staff",
            "cannot join #libera-staff: the channel is invite only (+i)",
        ),
        ("banned", "474", "#banned", "cannot join #banned: you are banned from it (+b)"),
        (
            "bad-channel-key",
            "475",
            "#locked",
            "cannot join #locked: wrong or missing channel key (+k)",
        ),
        (
            "needs-registered-nick",
            "477",
            "#registered-only",
            "#registered-only requires a registered nickname",
        ),
        (
            "not-channel-operator",
            "482",
            "#sockethub",
            "you are not a channel operator on #sockethub",
        ),
    ]


def test_irc_errors_become_envelope_errors_with_the_irc_condition_in_details():
    nick = IrcError("nick-in-use", "433", "nickname myuser is already in use", "myuser")
    err = nick.exception()
    assert type(err) is Refused
    assert err.to_dict() == {
        "code": "refused",  # the class code; what IRC said is the condition in details
        "message": "nickname myuser is already in use",
        "retryable": False,
        "details": [
            {"condition": "nick-in-use", "platform": "irc", "numeric": "433", "target": "myuser"}
        ],
    }
    assert type(IrcError("auth-failed", "904", "SASL authentication failed").exception()) is (
        AuthenticationFailed
    )
    assert IrcError("auth-failed", "904", "x").exception().to_dict()["details"] == [
        {"condition": "auth-failed", "platform": "irc", "numeric": "904"}
    ]
    assert type(IrcError("no-such-channel", "403", "x", "#gone").exception()) is NotFound
    assert type(IrcError("channel-full", "471", "x", "#full").exception()) is Refused
