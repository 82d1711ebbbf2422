"""The waiters every persistent platform matches server answers with (no socket)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from connectors.session.waiters import Waiters
from envelopes.errors import NotFound, SockethubError, UpstreamTimeout, UpstreamUnavailable


def run(coro):
    with ThreadPoolExecutor(1) as pool:  # a loop of its own, whatever pytest runs in
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Oops:
    """A protocol's error value, as ``IrcError``/``XmppError`` are."""

    text: str

    def exception(self) -> SockethubError:
        return NotFound(self.text)


def test_the_first_matching_answer_settles_the_waiter_and_removes_it():
    async def go():
        waiters = Waiters("irc.example", Oops)
        pong = waiters.expect(lambda line: line if line.startswith("PONG") else None)
        assert waiters.offer("NOTICE hi") == [] and pong in waiters
        waiters.offer("PONG a")
        waiters.offer("PONG b")  # nobody waits any more: ignored
        assert pong not in waiters and len(waiters) == 0
        return await waiters.wait(pong, 1, "a ping")

    assert run(go()) == "PONG a"


def test_a_failure_outcome_fails_the_waiter_with_its_error_and_is_returned_as_claimed():
    async def go():
        waiters = Waiters("irc.example", Oops)
        err = Oops("no such channel")
        joined = waiters.expect(lambda received: received)  # the failure itself answers
        other = waiters.expect(lambda received: None)
        assert waiters.offer(err) == [err]
        assert other in waiters  # a waiter that did not answer stays
        with pytest.raises(NotFound, match="no such channel"):
            await waiters.wait(joined, 1, "the join")

    run(go())


def test_every_waiter_is_shown_what_arrives_with_all_its_arguments():
    async def go():
        waiters = Waiters("irc.example", Oops)
        seen = []
        a = waiters.expect(lambda msg, results: seen.append(("a", msg, results)) or True)
        b = waiters.expect(lambda msg, results: seen.append(("b", msg, results)) or 2)
        waiters.offer("JOIN #x", [1])
        return seen, await waiters.wait(a, 1, "a"), await waiters.wait(b, 1, "b")

    seen, a, b = run(go())
    assert seen == [("a", "JOIN #x", [1]), ("b", "JOIN #x", [1])] and (a, b) == (True, 2)


def test_a_timeout_names_the_server_and_the_request_and_forgets_the_waiter():
    async def go():
        waiters = Waiters("irc.example", Oops)
        w = waiters.expect(lambda line: None)
        with pytest.raises(UpstreamTimeout, match="irc.example did not answer NAMES within 0 s"):
            await waiters.wait(w, 0, "NAMES")  # at least 0.1 s, then a timeout
        return len(waiters)

    assert run(go()) == 0


def test_an_answer_already_there_is_taken_even_with_no_time_left():
    async def go():
        waiters = Waiters("irc.example", Oops)
        w = waiters.expect(lambda line: line)
        waiters.offer("done")
        return await waiters.wait(w, -5, "it")

    assert run(go()) == "done"


def test_a_broken_check_is_skipped_and_the_others_still_see_the_line():
    async def go():
        waiters = Waiters("irc.example", Oops)
        broken = waiters.expect(lambda line: 1 / 0)
        fine = waiters.expect(lambda line: line)
        waiters.offer("x")
        return broken in waiters, await waiters.wait(fine, 1, "x")

    assert run(go()) == (True, "x")


def test_fail_all_fails_every_waiter_and_stops_a_line_being_offered_further():
    async def go():
        waiters = Waiters("irc.example", Oops)
        lost = UpstreamUnavailable("connection to irc.example lost: EOF")
        # The first check ends the connection (a cap broken): the second is never asked.
        asked = []
        first = waiters.expect(lambda line: waiters.fail_all(lost))
        second = waiters.expect(lambda line: asked.append(line))
        waiters.offer("CAP * LS :a b c")
        waiters.offer("later")
        assert asked == [] and len(waiters) == 0
        for w in (first, second):
            with pytest.raises(UpstreamUnavailable, match="lost: EOF"):
                await w.future

    run(go())


def test_a_waiter_settled_elsewhere_is_removed_without_an_error():
    async def go():
        waiters = Waiters("irc.example", Oops)
        w = waiters.expect(lambda line: Oops("late"))
        w.future.cancel()  # its request gave up
        assert waiters.offer("x") == []  # not claimed: nobody got this failure
        return len(waiters)

    assert run(go()) == 0
