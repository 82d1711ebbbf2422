"""LineReader: lines out of reads of any size, with the RFC 2812 and IRCv3 tag caps."""

from __future__ import annotations

import time

import pytest

from connectors.irc.reader import LineReader, LineTooLong


def lines(reader: LineReader) -> list[bytes]:
    out = []
    while (line := reader.next_line()) is not None:
        out.append(line)
    return out


def test_crlf_and_bare_lf_both_end_a_line():
    r = LineReader()
    r.feed(b"PING :a\r\nPING :b\nPING :c\r")
    assert lines(r) == [b"PING :a", b"PING :b"]
    r.feed(b"\n")
    assert lines(r) == [b"PING :c"]
    assert len(r) == 0


def test_a_line_split_across_reads_comes_out_whole():
    r = LineReader()
    data = b":n!u@h PRIVMSG #c :hello there\r\n:srv 001 me :hi\r\n"
    out: list[bytes] = []
    for i in range(len(data)):
        r.feed(data[i : i + 1])
        out.extend(lines(r))
    assert out == [b":n!u@h PRIVMSG #c :hello there", b":srv 001 me :hi"]


def test_empty_lines_come_out_empty():
    r = LineReader()
    r.feed(b"\r\n\nPING x\r\n")
    assert lines(r) == [b"", b"", b"PING x"]


def test_latin1_bytes_pass_through_untouched():
    r = LineReader()
    r.feed(b"PRIVMSG #c :caf\xe9\r\n")
    assert lines(r) == [b"PRIVMSG #c :caf\xe9"]  # decoding is decode_line's, lenient


def test_512_bytes_with_crlf_is_fine_513_is_not():
    r = LineReader()
    ok = b"PRIVMSG #c :" + b"x" * (510 - 12) + b"\r\n"
    assert len(ok) == 512
    r.feed(ok)
    assert lines(r) == [ok[:-2]]
    r.feed(b"PRIVMSG #c :" + b"x" * (511 - 12) + b"\r\n")
    with pytest.raises(LineTooLong) as info:
        r.next_line()
    assert info.value.what == "line" and info.value.limit == 512


def test_overflow_without_a_newline_is_refused_at_once():
    r = LineReader()
    r.feed(b"x" * 513)
    with pytest.raises(LineTooLong):
        r.next_line()


def test_tags_have_their_own_budget():
    r = LineReader()
    tags = b"@" + b"a=" + b"v" * (8191 - 4) + b" "
    assert len(tags) == 8191
    line = tags + b":n!u@h PRIVMSG #c :" + b"x" * 400 + b"\r\n"
    r.feed(line)
    assert lines(r) == [line[:-2]]


def test_tags_over_8191_are_refused_before_their_end_arrives():
    r = LineReader()
    r.feed(b"@" + b"a" * 8191)
    with pytest.raises(LineTooLong) as info:
        r.next_line()
    assert info.value.what == "IRCv3 tags"


def test_a_message_after_tags_is_still_capped_at_512():
    r = LineReader()
    r.feed(b"@a=b " + b"x" * 600)
    with pytest.raises(LineTooLong) as info:
        r.next_line()
    assert info.value.what == "line"


def test_caps_are_settable():
    r = LineReader(max_line=20, max_tags=10)
    r.feed(b"@a=bbbbbbbbbb x\r\n")
    with pytest.raises(LineTooLong):
        r.next_line()


def test_many_small_reads_cost_linear_time():
    # jaraco's LineBuffer re-split everything held on every read: quadratic. Ours scans
    # only what each read adds, and never holds more than a line past the last end.
    r = LineReader(max_line=1 << 30)
    start = time.process_time()
    for _ in range(20_000):
        r.feed(b"y" * 100)
        assert r.next_line() is None
    assert time.process_time() - start < 2.0
    assert len(r) == 2_000_000


def test_memory_is_given_back_once_lines_are_taken():
    r = LineReader()
    r.feed(b"PING a\r\n" * 1000 + b"PART")
    assert len(lines(r)) == 1000
    r.feed(b" #c\r\n")
    assert lines(r) == [b"PART #c"]
    assert len(r) == 0
