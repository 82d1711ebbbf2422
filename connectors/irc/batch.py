"""IRCv3 ``batch`` and ``labeled-response``: which lines answer which of our commands.

A server that offers ``labeled-response`` (https://ircv3.net/specs/extensions/labeled-response)
repeats the ``label`` tag we put on a command on its answer: one line carrying the label,
or a ``BATCH +<ref> labeled-response`` line carrying it, then the answer's lines tagged
``batch=<ref>``, then ``BATCH -<ref>`` (https://ircv3.net/specs/extensions/batch); an
answer with no lines at all is an ``ACK`` with the label. Batches nest: a ``BATCH +`` line
may itself carry a ``batch`` tag, and its lines belong to the outer batch too.

``Batches`` follows the open batches of one connection; ``Reply`` says, line by line,
whether a line is part of the answer to one labelled command and when that answer has
ended; ``Gather`` keeps those lines, at most ``max_lines`` of them. Nothing here trusts the
server to end what it opens: open batches are capped in number and in age (a batch that
never ends is forgotten, and a ``Reply`` waiting on it ends *cut*, saying why), so a
hostile server cannot make a connection hold more than the caps. Age counts from a batch's
last line: a long answer that keeps coming (a channel list) is not cut, a silent one is.
Pure: no socket; the clock is passed in.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .lines import Message

__all__ = ["Batches", "Gather", "OpenBatch", "Reply"]


@dataclass
class OpenBatch:
    ref: str
    type: str
    params: list[str]
    parent: str | None  # the batch this one is nested in
    label: str | None  # labeled-response: the label of the command it answers
    seen: float  # clock() at its last line (or when it opened)


class Batches:
    """The open batches of one connection: at most ``max_open``, none older than
    ``max_age`` seconds silent (the longest silent are forgotten first; ``cut`` remembers
    why)."""

    def __init__(
        self,
        max_open: int = 64,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_open = max_open
        self.max_age = max_age
        self.clock = clock
        self.open: OrderedDict[str, OpenBatch] = OrderedDict()
        # Recently forgotten refs → why (kept as few as the open ones).
        self.cut: OrderedDict[str, str] = OrderedDict()

    def feed(self, msg: Message) -> None:
        """Take in one line: ``BATCH +ref type params`` opens, ``BATCH -ref`` closes."""
        self._expire()
        if "batch" in msg.tags:
            self._touch(msg.tags["batch"])
        if msg.command != "BATCH" or not msg.params:
            return
        head = msg.params[0]
        if head.startswith("+") and len(head) > 1 and len(msg.params) > 1:
            ref = head[1:]
            self.open.pop(ref, None)
            self.cut.pop(ref, None)  # a ref the server uses again is a new batch
            parent = msg.tags.get("batch")
            self.open[ref] = OpenBatch(
                ref, msg.params[1], msg.params[2:], parent, msg.tags.get("label"), self.clock()
            )
            while len(self.open) > self.max_open:
                old, _ = self.open.popitem(last=False)
                self._forget(old, f"more than {self.max_open} batches were open at once")
        elif head.startswith("-"):
            self.open.pop(head[1:], None)

    def _touch(self, ref: str | None) -> None:
        """A line of batch ``ref``: it and the batches it is nested in are not silent."""
        now = self.clock()
        for _ in range(self.max_open + 1):  # a parent chain cannot be longer than this
            batch = self.open.get(ref) if ref is not None else None
            if batch is None:
                return
            batch.seen = now
            self.open.move_to_end(batch.ref)
            ref = batch.parent

    def _expire(self) -> None:
        if not self.open:
            return
        limit = self.clock() - self.max_age
        while self.open:
            ref, first = next(iter(self.open.items()))
            if first.seen > limit:
                break
            del self.open[ref]
            self._forget(ref, f"it was silent for {self.max_age:.0f} s without ending")

    def _forget(self, ref: str, why: str) -> None:
        self.cut[ref] = why
        while len(self.cut) > self.max_open:
            self.cut.popitem(last=False)

    def labelled(self, msg: Message) -> bool:
        """Whether ``msg`` answers a labelled command: it carries a label, or it is in a
        batch (at any depth) that does."""
        if "label" in msg.tags:
            return True
        current = msg.tags.get("batch")
        for _ in range(self.max_open + 1):
            batch = self.open.get(current) if current is not None else None
            if batch is None:
                return False
            if batch.label is not None:
                return True
            current = batch.parent
        return False

    def of_type(self, msg: Message, kind: str) -> bool:
        """Whether ``msg`` is in an open batch of type ``kind``, at any depth."""
        current = msg.tags.get("batch")
        for _ in range(self.max_open + 1):
            batch = self.open.get(current) if current is not None else None
            if batch is None:
                return False
            if batch.type == kind:
                return True
            current = batch.parent
        return False

    def within(self, msg: Message, ref: str) -> bool:
        """Whether ``msg`` belongs to batch ``ref``, directly or through nested batches."""
        current = msg.tags.get("batch")
        for _ in range(self.max_open + 1):  # a parent chain cannot be longer than this
            if current is None:
                return False
            if current == ref:
                return True
            inner = self.open.get(current)
            current = inner.parent if inner is not None else None
        return False


@dataclass
class Reply:
    """The answer to one command sent with ``label``: feed it each line after ``Batches``
    saw it. ``take`` says whether the line is part of the answer; ``done`` is set once the
    answer is over, and ``cut`` then says why it ended early (the server never closed its
    batch), else stays None."""

    label: str
    batches: Batches
    ref: str | None = None
    done: bool = False
    cut: str | None = None

    def take(self, msg: Message) -> bool:
        if self.done:
            return False
        if msg.tags.get("label") == self.label and msg.tags.get("batch") is None:
            if msg.command == "BATCH" and msg.params and msg.params[0].startswith("+"):
                self.ref = msg.params[0][1:]
                return False
            self.done = True  # one line, or an ACK: nothing else will come
            return msg.command != "ACK"
        if self.ref is None:
            return False
        if msg.command == "BATCH" and msg.params and msg.params[0] == f"-{self.ref}":
            self.done = True
            return False
        if self.ref in self.batches.cut:
            self.done, self.cut = True, self.batches.cut[self.ref]
            return False
        if not self.batches.within(msg, self.ref):
            return False
        return msg.command != "BATCH"  # a nested batch's own markers are not answers


@dataclass
class Gather:
    """The lines of a ``Reply``: kept in ``lines``, or handed to ``sink`` when given (which
    then bounds what it keeps); more than ``max_lines`` (None: no cap) and it is ``cut``."""

    reply: Reply
    max_lines: int | None = 1000
    sink: Callable[[Message], None] | None = None
    lines: list[Message] = field(default_factory=list)
    count: int = 0
    cut: str | None = None

    def feed(self, msg: Message) -> bool:
        """Take ``msg`` if it is part of the answer; True once the answer is complete or
        cut (``cut`` says why)."""
        if self.reply.take(msg):
            self.count += 1
            if self.max_lines is not None and self.count > self.max_lines:
                self.cut = f"its answer was longer than {self.max_lines} lines"
                return True
            if self.sink is not None:
                self.sink(msg)
            else:
                self.lines.append(msg)
        if self.reply.done:
            self.cut = self.reply.cut
            return True
        return False
