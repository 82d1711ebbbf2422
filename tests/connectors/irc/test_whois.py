"""WHOIS numerics → the shared profile shape, from captured lines."""

from __future__ import annotations

import pytest

from connectors.irc.context import IrcContext
from connectors.irc.lines import parse_line
from connectors.irc.whois import profile
from envelopes.errors import NotFound

CTX = IrcContext(server="irc.example.org", nick="me")


def lines(*raw: str) -> list:
    return [parse_line(line) for line in raw]


def test_every_field_the_server_gives_and_nothing_else():
    got = profile(
        lines(
            ":srv 311 me Bob ~bob example.net * :Bob Builder",
            ":srv 312 me Bob tantalum.example.org :Somewhere",
            ":srv 319 me Bob :@+#ops #chat",
            ":srv 319 me Bob :+#more",
            ":srv 301 me Bob :out to lunch",
            ":srv 330 me Bob bobby :is logged in as",
            ":srv 317 me Bob 42 1796187823 :seconds idle, signon time",
            ":srv 671 me Bob :is using a secure connection",
            ":srv 318 me Bob :End of /WHOIS list.",
        ),
        "bob",
        CTX,
    )
    assert got == {
        "type": "profile",
        "name": "Bob",  # as the server spells it
        "host": "~bob@example.net",
        "realName": "Bob Builder",
        "server": "tantalum.example.org",
        "rooms": ["#ops@irc.example.org", "#chat@irc.example.org", "#more@irc.example.org"],
        "away": "out to lunch",
        "account": "bobby",
        "idle": 42,
    }


def test_only_the_basics_when_that_is_all_there_is():
    got = profile(lines(":srv 311 me ann ann host * :", ":srv 318 me ann :End"), "ann", CTX)
    assert got == {"type": "profile", "name": "ann", "host": "ann@host"}


@pytest.mark.parametrize(
    "answer",
    [[":srv 401 me ghost :No such nick/channel", ":srv 318 me ghost :End"], [":srv 318 me x :End"]],
)
def test_an_unknown_nick_is_not_found(answer):
    with pytest.raises(NotFound) as exc:
        profile(lines(*answer), "ghost", CTX)
    assert exc.value.details[0]["condition"] == "no-such-nick"
