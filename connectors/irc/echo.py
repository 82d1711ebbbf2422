"""A ``send`` confirmed by the server's echo (IRCv3 echo-message).

With ``echo-message`` on, the server sends each PRIVMSG/NOTICE we write back to us, with
its ``msgid`` and ``time`` tags when those are on too: the message has been taken and
these are its id and time for everyone. The echo answers the request; it is not an event
(``client`` drops our own echoed messages). Without it a ``send`` completes at a PING
(``IrcUpstream.roundtrip``), and a PING follows the lines here too: a server answers in
order, so its PONG comes after any echo, and a line the server took but did not echo
(it offered echo-message, yet some servers skip it for some targets) does not leave the
``send`` waiting until its deadline.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .lines import Message, is_pong, parse_line
from .numerics import IrcError, failure

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["echoed"]

_tokens = itertools.count(1)


async def echoed(
    up: IrcUpstream, lines: list[str], fail_on: Callable[[IrcError], bool], timeout: float
) -> dict[str, Any] | None:
    """Send PRIVMSG/NOTICE ``lines``; done when the server has echoed each of them, failed
    by a matching error first. Returns the first line's echo as an activity (the server's
    ``msgid`` as ``object.id``, its time as ``published``)."""
    pending = [parse_line(line) for line in lines]
    first: list[dict[str, Any]] = []
    token = f"sh-echo{next(_tokens)}"

    def check(msg: Message, results: list[Any]) -> Any:
        if (err := failure(results, fail_on)) is not None:
            return err
        if is_pong(msg, token):
            return first[0] if first else True  # taken, whether echoed or not
        if not pending:
            return None
        want = pending[0]
        if (
            msg.command == want.command
            and up.ctx.is_me(msg.nick)
            and msg.params
            and up.ctx.fold(msg.params[0]) == up.ctx.fold(want.params[0])
        ):
            # In order, as the server got them; not by text, which a server may change
            # (colours stripped, a long line cut).
            pending.pop(0)
            if not first:
                first.extend(r for r in results if isinstance(r, dict))
            if not pending:
                return first[0] if first else True
        return None

    waiter = up.expect(check)
    await up.send_lines(lines)
    up.raw(f"PING :{token}")
    outcome = await up.wait(waiter, timeout, "the message")
    return outcome if isinstance(outcome, dict) else None
