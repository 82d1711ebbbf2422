"""IRCv3 client tags: escaping, their size limit, ``+typing``, ``+draft/reply`` and
``+draft/react`` both ways (connectors.irc.tags, outbound, translate)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.irc.lines import encode_line, parse_line
from connectors.irc.outbound import react_lines, send_lines, typing_lines
from connectors.irc.tags import (
    MAX_CLIENT_TAG_BYTES,
    TYPING_INTERVAL,
    TypingThrottle,
    escape_value,
    with_tags,
)
from connectors.irc.translate import IrcContext, translate
from envelopes.errors import InvalidEnvelope

H = "irc.example.org"
ME = {"type": "person", "id": f"me@{H}", "name": "me"}
CHAN = {"type": "room", "id": f"#chat@{H}", "name": "#chat"}
BOB = {"type": "person", "id": f"bob@{H}", "name": "bob"}


def act(verb: str, target: Any, obj: Any) -> dict[str, Any]:
    return {"type": verb, "actor": ME, "target": target, "object": obj}


def ctx() -> IrcContext:
    c = IrcContext(server=H, nick="me")
    c.enter("#chat")
    return c


def test_tag_values_are_escaped_and_parse_back():
    value = "a;b c\\d\re\nf"
    line = with_tags({"+x": value}, "TAGMSG #chat", "object.content")
    assert line == "@+x=a\\:b\\sc\\\\d\\re\\nf TAGMSG #chat"
    assert parse_line(line).tags["+x"] == value
    assert escape_value("plain") == "plain"


def test_client_tags_over_the_servers_limit_are_refused_naming_the_field():
    big = "x" * MAX_CLIENT_TAG_BYTES
    with pytest.raises(InvalidEnvelope) as err:
        with_tags({"+draft/reply": big}, "TAGMSG #chat", "object.inReplyTo")
    assert err.value.path == "object.inReplyTo"
    assert "4094" in err.value.message


def test_tags_do_not_count_towards_the_512_bytes_of_a_line():
    body = "PRIVMSG #chat :" + "x" * 480
    line = with_tags({"+draft/reply": "y" * 300}, body, "object.inReplyTo")
    assert encode_line(line).endswith(body.encode() + b"\r\n")
    with pytest.raises(InvalidEnvelope):
        encode_line("@+a=b " + body + "x" * 40)  # the message part itself is over


@pytest.mark.parametrize(
    ("state", "wire"),
    [("composing", "active"), ("paused", "paused"), ("active", "done"), ("gone", "done")],
)
def test_typing_states_map_to_the_typing_tag(state, wire):
    lines = typing_lines(act("typing", CHAN, {"type": "typing", "state": state}))
    assert lines == [f"@+typing={wire} TAGMSG #chat"]


def test_a_reaction_is_a_tagmsg_replying_to_the_message():
    obj = {"type": "reaction", "inReplyTo": "abc123", "content": "👍"}
    assert react_lines(act("react", CHAN, obj)) == [
        "@+draft/reply=abc123;+draft/react=👍 TAGMSG #chat"
    ]
    removed = react_lines(act("react", BOB, {**obj, "remove": True}))
    assert removed == ["@+draft/reply=abc123;+draft/unreact=👍 TAGMSG bob"]


def test_a_reply_tags_each_line_of_the_message():
    obj = {"type": "message", "content": "w " * 400, "inReplyTo": "m1"}
    lines = send_lines(act("send", CHAN, obj), nick="me", tags=True)
    assert len(lines) == 2
    assert all(line.startswith("@+draft/reply=m1 PRIVMSG #chat :") for line in lines)
    # Without message-tags the same reply goes out as a plain message.
    plain = send_lines(act("send", CHAN, obj), nick="me", tags=False)
    assert all(line.startswith("PRIVMSG #chat :") for line in plain)


def test_incoming_typing_becomes_the_typing_verb():
    c = ctx()
    (got,) = translate(parse_line("@+typing=active :bob!b@h TAGMSG #chat"), c)
    assert got["type"] == "typing"
    assert got["actor"]["id"] == f"bob@{H}" and got["target"]["id"] == f"#chat@{H}"
    assert got["object"] == {"type": "typing", "state": "composing"}
    (done,) = translate(parse_line("@+typing=done :bob!b@h TAGMSG me"), c)
    assert done["object"]["state"] == "active" and done["target"]["id"] == f"me@{H}"
    assert translate(parse_line("@+typing=bogus :bob!b@h TAGMSG #chat"), c) == []


def test_incoming_reactions_and_unreactions():
    c = ctx()
    line = "@msgid=r1;+draft/reply=m1;+draft/react=🎉 :bob!b@h TAGMSG #chat"
    (got,) = translate(parse_line(line), c)
    assert got["type"] == "react"
    assert got["object"] == {"type": "reaction", "inReplyTo": "m1", "content": "🎉"}
    line = "@+draft/reply=m1;+draft/unreact=🎉 :bob!b@h TAGMSG #chat"
    (gone,) = translate(parse_line(line), c)
    assert gone["object"] == {
        "type": "reaction",
        "inReplyTo": "m1",
        "content": "🎉",
        "remove": True,
    }
    # A reaction without the message it is about is nothing.
    assert translate(parse_line("@+draft/react=x :bob!b@h TAGMSG #chat"), c) == []


def test_an_incoming_reply_carries_in_reply_to():
    c = ctx()
    line = "@msgid=m2;+draft/reply=m1 :bob!b@h PRIVMSG #chat :me too"
    (got,) = translate(parse_line(line), c)
    assert got["object"] == {"type": "message", "content": "me too", "id": "m2", "inReplyTo": "m1"}


def test_typing_active_is_sent_at_most_every_three_seconds_per_target():
    now = [100.0]
    throttle = TypingThrottle(clock=lambda: now[0])
    assert throttle.allow("#chat", "active")
    assert not throttle.allow("#chat", "active")
    assert throttle.allow("bob", "active")  # another conversation
    assert throttle.allow("#chat", "done")  # done and paused always go
    assert throttle.allow("#chat", "active")  # done ended the run: typing again is news
    now[0] += TYPING_INTERVAL
    assert throttle.allow("#chat", "active")


def test_a_redaction_is_the_delete_verb_both_ways():
    from connectors.irc.outbound import delete_lines

    obj = {"type": "message", "id": "m9"}
    assert delete_lines(act("delete", CHAN, obj)) == ["REDACT #chat m9"]
    (got,) = translate(parse_line(":bob!b@h REDACT #chat m9 :oops"), ctx())
    assert got["type"] == "delete" and got["object"] == obj
    assert got["actor"]["id"] == f"bob@{H}"


def test_redact_against_a_scripted_server_that_offers_message_redaction():
    """InspIRCd 3 has no draft/message-redaction; a scripted server that offers it gets
    our REDACT and sends one, which becomes a ``delete`` event."""
    import asyncio

    from connectors.irc.outbound import delete_lines

    from .test_client import PRIVATE_OK, ScriptedServer, run, upstream

    events: list[dict[str, Any]] = []

    async def go() -> None:
        ls = ["CAP * LS :message-tags draft/message-redaction"]
        theirs = b":bob!b@h REDACT #chat m0 :oops\r\n"
        async with ScriptedServer(sasl=False, cap_ls=ls, welcome=theirs) as srv:
            up = upstream(srv.port, PRIVATE_OK, emit=events.append)
            await up.connect()
            try:
                assert "draft/message-redaction" in up.enabled
                obj = {"type": "message", "id": "m9"}
                await up.roundtrip(delete_lines(act("delete", CHAN, obj)), lambda _e: False, 5)
                assert "REDACT #chat m9" in srv.lines
                for _ in range(100):
                    if events:
                        break
                    await asyncio.sleep(0.02)
            finally:
                up._abort()  # not close(): this server never ends the connection on QUIT

    run(go())
    (got,) = [e for e in events if e["type"] == "delete"]
    assert got["object"] == {"type": "message", "id": "m0"}
