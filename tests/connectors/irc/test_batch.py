"""Gathering labelled answers from scripted lines: single lines, batches, nested batches,
other traffic in between, two commands in flight, and batches that never end."""

from __future__ import annotations

from connectors.irc.batch import Batches, Gather, Reply
from connectors.irc.lines import parse_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gather(batches: Batches, label: str, max_lines: int = 1000) -> Gather:
    return Gather(Reply(label, batches), max_lines)


def play(batches: Batches, gathers: list[Gather], script: list[str]) -> list[bool]:
    """Each line to the tracker, then to every gatherer; what each said at the last line."""
    ended = [False] * len(gathers)
    for line in script:
        msg = parse_line(line)
        batches.feed(msg)
        for i, g in enumerate(gathers):
            if not ended[i]:
                ended[i] = g.feed(msg)
    return ended


def commands(g: Gather) -> list[str]:
    return [m.command for m in g.lines]


def test_a_labelled_batch_is_gathered_and_ends_at_its_end():
    b = Batches()
    g = gather(b, "sh1")
    script = [
        "@label=sh1 :srv BATCH +r1 labeled-response",
        "@batch=r1 :srv 311 me bob ~b host * :Bob",
        ":alice!a@h PRIVMSG #x :not part of it",
        "@batch=r1 :srv 318 me bob :End of /WHOIS list.",
    ]
    assert play(b, [g], script) == [False]
    assert commands(g) == ["311", "318"]
    assert play(b, [g], ["BATCH -r1"]) == [True]
    assert g.cut is None and "r1" not in b.open


def test_a_single_labelled_line_or_an_ack_is_the_whole_answer():
    b = Batches()
    one, ack = gather(b, "sh1"), gather(b, "sh2")
    script = ["@label=sh1 :srv 401 me nobody :No such nick", "@label=sh2 ACK"]
    assert play(b, [one, ack], script) == [True, True]
    assert commands(one) == ["401"] and ack.lines == [] and ack.cut is None


def test_nested_batches_belong_to_the_outer_answer():
    b = Batches()
    g = gather(b, "sh1")
    script = [
        "@label=sh1 BATCH +outer labeled-response",
        "@batch=outer BATCH +inner chathistory #x",
        "@batch=inner :bob!b@h PRIVMSG #x :old",
        "@batch=outer :srv 322 me #x 3 :topic",
        "@batch=outer BATCH -inner",
        "BATCH -outer",
    ]
    assert play(b, [g], script) == [True]
    assert commands(g) == ["PRIVMSG", "322"]


def test_two_commands_in_flight_each_get_their_own_lines():
    b = Batches()
    first, second = gather(b, "sh1"), gather(b, "sh2")
    script = [
        "@label=sh1 BATCH +a labeled-response",
        "@label=sh2 BATCH +b labeled-response",
        "@batch=b :srv 311 me carol ~c h * :Carol",
        "@batch=a :srv 311 me bob ~b h * :Bob",
        "BATCH -b",
    ]
    assert play(b, [first, second], script) == [False, True]
    assert play(b, [first], ["@batch=a :srv 318 me bob :End", "BATCH -a"]) == [True]
    assert [m.params[1] for m in first.lines] == ["bob", "bob"]
    assert [m.params[1] for m in second.lines] == ["carol"]


def test_a_batch_that_never_ends_is_cut_by_age_and_says_so():
    clock = Clock()
    b = Batches(max_age=30, clock=clock)
    g = gather(b, "sh1")
    assert play(b, [g], ["@label=sh1 BATCH +r labeled-response", "@batch=r :srv 311 me x"]) == [
        False
    ]
    clock.now += 31
    assert play(b, [g], [":srv NOTICE me :anything later"]) == [True]
    assert g.cut == "it was silent for 30 s without ending"
    assert b.open == {}


def test_a_batch_longer_than_the_cap_is_cut_and_says_so():
    b = Batches()
    g = gather(b, "sh1", max_lines=3)
    script = ["@label=sh1 BATCH +r labeled-response"]
    script += [f"@batch=r :srv 322 me #c{i} 1 :t" for i in range(10)]
    assert play(b, [g], script) == [True]
    assert len(g.lines) == 3 and g.cut == "its answer was longer than 3 lines"


def test_a_long_answer_that_keeps_coming_is_not_cut_by_age():
    clock = Clock()
    b = Batches(max_age=30, clock=clock)
    g = gather(b, "sh1")
    play(b, [g], ["@label=sh1 BATCH +r labeled-response"])
    for i in range(5):
        clock.now += 20
        assert play(b, [g], [f"@batch=r :srv 322 me #c{i} 1 :t"]) == [False]
    assert play(b, [g], ["BATCH -r"]) == [True]
    assert g.cut is None and len(g.lines) == 5


def test_open_batches_are_capped_oldest_forgotten_first():
    b = Batches(max_open=2)
    g = gather(b, "sh1")
    play(b, [g], ["@label=sh1 BATCH +mine labeled-response", "BATCH +x netsplit", "BATCH +y t"])
    assert list(b.open) == ["x", "y"]
    assert play(b, [g], ["@batch=mine :srv 311 me bob"]) == [True]
    assert g.cut == "more than 2 batches were open at once"


def test_a_nesting_loop_from_the_server_does_not_hang():
    b = Batches()
    b.feed(parse_line("@batch=q BATCH +p t"))
    b.feed(parse_line("@batch=p BATCH +q t"))
    assert not b.within(parse_line("@batch=p :srv 322 me #x 1 :t"), "elsewhere")
