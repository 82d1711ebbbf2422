"""One command whose answer spans lines (WHOIS, LIST): sent, and its lines told apart.

With ``labeled-response`` and ``batch`` on (``IrcUpstream.labels``), the command goes out
with a ``label`` tag and its answer is the lines the server marks with it (``batch.Reply``):
two WHOIS in flight, or a WHOIS while the same person's lines go by, cannot be mixed up.
Without them the answer is recognised the way RFC 2812 clients always did, by the
numerics and the nick or channel they name, ending at the end numeric (``fallback``).

Either way each line of the answer goes to ``take``, and ``ask`` returns once the answer
ended. A labelled answer cut short (the server never ended its batch, or it was longer
than ``max_lines``) raises ``ProtocolError`` naming the setting; the connection stays up.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envelopes.errors import ProtocolError

from .batch import Gather, Reply
from .lines import Message
from .numerics import IrcError

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["END", "STOP", "TAKE", "LABEL_PREFIX", "ask"]

TAKE = "take"  # the line is part of the answer, more follows
END = "end"  # the line is the last of the answer
STOP = "stop"  # the answer ended before this line, which is not part of it
LABEL_PREFIX = "sh"

# (line, what it translated to) → None (not ours), TAKE, END, STOP or an IrcError (failed)
Fallback = Callable[[Message, list[Any]], Any]

_labels = itertools.count(1)


async def ask(
    up: IrcUpstream,
    line: str,
    what: str,
    timeout: float,
    *,
    take: Callable[[Message], None],
    fallback: Fallback,
    max_lines: int | None = None,
) -> None:
    """Send ``line``; hand each line of its answer to ``take``; return when it ended.
    ``max_lines`` caps a labelled answer (None: ``take`` bounds what it keeps)."""
    if up.labels:
        label = f"{LABEL_PREFIX}{next(_labels)}"
        gather = Gather(Reply(label, up.batches), max_lines, take)
        waiter = up.expect(lambda msg, _results: gather if gather.feed(msg) else None)
        await up.send_lines([f"@label={label} {line}"])
        await up.wait(waiter, timeout, what)
        if gather.cut is not None:
            setting = (
                "SOCKETHUB_IRC_MAX_REPLY_LINES"
                if max_lines is not None and gather.count > max_lines
                else "SOCKETHUB_IRC_BATCH_SILENCE, SOCKETHUB_IRC_MAX_BATCHES"
            )
            raise ProtocolError(f"{up.host}'s answer to {what} was cut: {gather.cut} ({setting})")
        return

    def unlabelled(msg: Message, results: list[Any]) -> Any:
        verdict = fallback(msg, results)
        if isinstance(verdict, IrcError):
            return verdict
        if verdict in (TAKE, END):
            take(msg)
        return True if verdict in (END, STOP) else None

    waiter = up.expect(unlabelled)
    await up.send_lines([line])
    await up.wait(waiter, timeout, what)
