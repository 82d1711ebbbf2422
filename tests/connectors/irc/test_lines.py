"""Raw lines: parsing, value checks, splitting and pacing (connectors.irc.lines)."""

from __future__ import annotations

import base64
import random

import pytest

from connectors.irc.lines import (
    MAX_LINE_BYTES,
    MalformedLine,
    Message,
    TokenBucket,
    check_value,
    decode_line,
    encode_line,
    parse_line,
    split_text,
)
from connectors.irc.register import sasl_chunks
from envelopes.errors import InvalidEnvelope

# --- parse_line -------------------------------------------------------------------------


def test_user_prefix_and_trailing():
    msg = parse_line(":alice!~alice@127.0.0.1 PRIVMSG #sockethub :hello: you  there \r\n")
    assert msg == Message(
        command="PRIVMSG",
        params=["#sockethub", "hello: you  there "],
        prefix="alice!~alice@127.0.0.1",
        nick="alice",
        user="~alice",
        host="127.0.0.1",
        tags={},
    )
    assert not msg.from_server


def test_server_prefix_numeric():
    msg = parse_line(":irc.sockethub.test 353 bob = #sockethub :bob @alice")
    assert msg.command == "353"
    assert msg.params == ["bob", "=", "#sockethub", "bob @alice"]
    assert msg.prefix == "irc.sockethub.test"
    assert (msg.nick, msg.user, msg.host) == (None, None, None)
    assert msg.from_server


def test_bare_nick_prefix_is_a_nick_not_a_server():
    # RFC 2812 §2.3.1: nicknames have no ".", server names do.
    msg = parse_line(":bob MODE hyper_slvrbckt :+i")
    assert (msg.nick, msg.user, msg.host) == ("bob", None, None)
    assert msg.params == ["hyper_slvrbckt", "+i"]


def test_nick_at_host_prefix():
    msg = parse_line(":NickServ@services. NOTICE me :hi")
    assert (msg.nick, msg.user, msg.host) == ("NickServ", None, "services.")


def test_no_prefix_and_lower_case_command():
    msg = parse_line("ping :tungsten.libera.chat")
    assert msg == Message("PING", ["tungsten.libera.chat"])


def test_numeric_is_zero_padded_and_middle_params_tolerate_runs_of_spaces():
    msg = parse_line(":srv 5 me  A=1   B :are supported")
    assert msg.command == "005"
    assert msg.params == ["me", "A=1", "B", "are supported"]


def test_empty_trailing_and_colon_inside_a_middle_param():
    assert parse_line(":a!b@c PRIVMSG #x :").params == ["#x", ""]
    assert parse_line(":s MODE #x +b *!*@2001:db8::1").params == ["#x", "+b", "*!*@2001:db8::1"]


def test_ircv3_tags_are_unescaped():
    line = (
        r"@time=2026-11-28T17:03:00.021Z;msgid=abc;+draft/reply=x\:y\sz\\w\r\n;flag;"
        r"empty=;trail=ab\;bad=\q;dup=1;dup=2 :n!u@h PRIVMSG #c :hi"
    )
    msg = parse_line(line)
    assert msg.tags == {
        "time": "2026-11-28T17:03:00.021Z",
        "msgid": "abc",
        "+draft/reply": "x;y z\\w\r\n",
        "flag": "",
        "empty": "",
        "trail": "ab",  # a lone trailing backslash is dropped
        "bad": "q",  # an unknown escape is the character itself
        "dup": "2",  # the last of repeated keys wins
    }
    assert (msg.nick, msg.command, msg.params) == ("n", "PRIVMSG", ["#c", "hi"])


@pytest.mark.parametrize("line", ["", "\r\n", "   ", "@a=b", "@a=b :srv", ":srv", ":srv  "])
def test_lines_without_a_command_are_malformed(line):
    with pytest.raises(MalformedLine):
        parse_line(line)


# --- decode_line ------------------------------------------------------------------------


def test_decode_utf8_and_fall_back_to_latin1_per_line():
    assert decode_line("café ☕".encode()) == "café ☕"
    assert decode_line(b"caf\xe9 cr\xe8me") == "café crème"
    assert decode_line(b"\xff\xfe") == "ÿþ"


# --- check_value ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\rb", "a\nPRIVMSG #x :pwned", "nul\0"])
def test_check_value_refuses_cr_lf_nul_naming_the_field(bad):
    with pytest.raises(InvalidEnvelope) as caught:
        check_value("object.content", bad)
    err = caught.value
    assert err.message == "IRC values must not contain CR, LF or NUL characters (object.content)"
    assert err.path == "object.content"
    assert err.code == "invalid-envelope"


def test_check_value_accepts_ordinary_text():
    check_value("target.name", "#sockethub")
    check_value("object.content", "tab\tand ☕ and \x01ACTION\x01 are fine")


# --- split_text -------------------------------------------------------------------------


def _full_line(chunk: str, target: str, nick: str, user: str, host_len: int) -> bytes:
    # What a receiving client gets: the server adds its prefix with our longest host.
    prefix = f":{nick}!{user}@{'h' * host_len} "
    return f"{prefix}PRIVMSG {target} :{chunk}\r\n".encode()


def _check_split(text: str, *, target="#sockethub", nick="alice", user="~alice", host_len=63):
    chunks = split_text(text, "PRIVMSG", target, nick, user, host_len)
    assert "".join(chunks) == text
    for chunk in chunks:
        assert chunk
        assert len(_full_line(chunk, target, nick, user, host_len)) <= MAX_LINE_BYTES
    return chunks


def test_short_text_is_one_chunk_and_empty_text_none():
    assert split_text("hello", "PRIVMSG", "#c", "alice") == ["hello"]
    assert split_text("", "PRIVMSG", "#c", "alice") == []


def test_split_uses_the_whole_budget_without_spaces():
    nick, target, user = "alice", "#sockethub", "~alice"
    budget = MAX_LINE_BYTES - len(f":{nick}!{user}@ PRIVMSG {target} :\r\n") - 63
    chunks = _check_split("x" * 1000)
    assert [len(c) for c in chunks] == [budget, budget, 1000 - 2 * budget]
    exact = _check_split("y" * budget)
    assert exact == ["y" * budget]  # exactly full: one line at 512 bytes
    assert len(_full_line(exact[0], target, nick, user, 63)) == MAX_LINE_BYTES


def test_split_prefers_a_nearby_space_and_keeps_it():
    words = " ".join(f"word{i:03d}" for i in range(200))
    chunks = _check_split(words)
    assert len(chunks) > 3
    assert all(c.endswith(" ") for c in chunks[:-1])
    assert all(not c.startswith(" ") for c in chunks)


def test_split_ignores_a_space_that_is_far_back():
    text = "a " + "b" * 2000
    chunks = _check_split(text)
    assert chunks[0].startswith("a b")  # not a one-word first line


@pytest.mark.parametrize("char", ["é", "☕", "𝄞"])
def test_split_never_cuts_a_multibyte_character(char):
    text = char * 600
    chunks = _check_split(text)
    width = len(char.encode())
    for chunk in chunks:
        assert len(chunk.encode()) % width == 0
        assert chunk == char * (len(chunk) // len(char))


def test_split_random_mixed_text():
    rng = random.Random(1459)
    alphabet = ["a", "b", " ", "é", "ß", "☕", "中", "𝄞", "\t", "!"]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 1500)))
        nick = "n" * rng.randint(1, 30)
        _check_split(text, nick=nick, target="#" + "c" * rng.randint(1, 49))


def test_split_honours_reserve_and_host_len():
    plain = split_text("z" * 2000, "PRIVMSG", "#c", "alice")
    wrapped = split_text("z" * 2000, "PRIVMSG", "#c", "alice", reserve=9)
    short_host = split_text("z" * 2000, "PRIVMSG", "#c", "alice", host_len=9)
    assert len(wrapped[0]) == len(plain[0]) - 9
    assert len(short_host[0]) == len(plain[0]) + 54


def test_split_without_room_for_one_character_raises():
    with pytest.raises(ValueError):
        split_text("hi", "PRIVMSG", "#" + "c" * 300, "n" * 200)


# --- TokenBucket ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_paces_at_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=4, clock=clock)
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    assert bucket.delay() == pytest.approx(1.0)
    clock.now += 0.25
    assert bucket.delay() == pytest.approx(0.75)
    clock.now += 0.75
    assert bucket.delay() == 0.0
    assert bucket.take() == 0.0
    assert bucket.delay() == pytest.approx(1.0)


def test_bucket_reservations_queue_in_order():
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=2, clock=clock)
    waits = [bucket.take() for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])
    clock.now += 2.0  # everything reserved has now gone out
    assert bucket.delay() == pytest.approx(0.5)
    assert bucket.tokens == pytest.approx(0.0)


def test_bucket_refills_only_up_to_burst_and_resets():
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 3600
    assert bucket.tokens == pytest.approx(3.0)
    assert [bucket.take() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 1.0])
    bucket.reset()
    assert bucket.tokens == pytest.approx(3.0)
    assert bucket.delay() == 0.0


def test_bucket_ignores_a_clock_going_backwards():
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    bucket.take()
    clock.now -= 10
    assert bucket.delay() == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 4), (1, 0)])
def test_bucket_refuses_nonsense(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


# -- encode_line: the one way a line reaches the wire ---------------------------------------


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\0b", "\r", "x\r\nQUIT"])
def test_encode_line_refuses_what_would_end_a_line(bad):
    with pytest.raises(InvalidEnvelope, match=r"CR, LF or NUL .*\(actor\.name\)") as info:
        encode_line(f"USER u 0 * :{bad}", "actor.name")
    assert info.value.path == "actor.name"


def test_encode_line_adds_crlf_and_caps_at_512_bytes():
    assert encode_line("PING :x") == b"PING :x\r\n"
    assert len(encode_line("P" * 510)) == 512
    with pytest.raises(InvalidEnvelope, match="too long"):
        encode_line("P" * 511)
    with pytest.raises(InvalidEnvelope, match="too long"):
        encode_line("é" * 256)  # 512 bytes of UTF-8 before CR LF


def test_sasl_chunks_follow_ircv3_sasl_3_1():
    assert sasl_chunks(b"") == ["+"]
    assert sasl_chunks(b"a\0a\0pw") == ["YQBhAHB3"]
    assert [len(c) for c in sasl_chunks(b"x" * 300)] == [400, 1]
    assert [len(c) for c in sasl_chunks(b"x" * 301)] == [400, 4]
    assert "".join(sasl_chunks(b"y" * 1000)).encode() == base64.b64encode(b"y" * 1000)
