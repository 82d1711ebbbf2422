"""Incoming bytes → IRC lines, with a cap on what one line may hold.

RFC 2812 §2.3 allows 512 bytes per message, CR LF included; IRCv3 message-tags
(https://ircv3.net/specs/extensions/message-tags) add at most 8,191 bytes of tags in front,
counting the leading ``@`` and the space after them. A server is chosen by a browser and
may be hostile, so the reader never holds more than one line's worth past the last end it
saw: a line (or the start of one) over its cap raises ``LineTooLong`` at once, without
waiting for an end that may never come.

Each ``feed`` scans only the bytes it adds (jaraco's ``LineBuffer`` re-split the whole
buffer on every read: 16 MB without a newline cost 89 s of CPU on the worker's loop).
``next_line`` hands lines out one at a time so the caller can pace them (see
``wire.IrcWire``). Lines end at LF; a CR before it is dropped; decoding is the caller's
(``lines.decode_line``, lenient). Pure: no socket, no clock.
"""

from __future__ import annotations

__all__ = ["LineReader", "LineTooLong", "MAX_TAG_BYTES"]

# IRCv3 message-tags: "the length of tags is limited to 8191 bytes, including the leading
# '@' and trailing space".
MAX_TAG_BYTES = 8191


class LineTooLong(ValueError):
    """A line, or its tags, over the cap; ``what`` says which and ``limit`` the cap."""

    def __init__(self, what: str, size: int, limit: int):
        super().__init__(f"{what} of {size}+ bytes, over the limit of {limit}")
        self.what = what
        self.size = size
        self.limit = limit


class LineReader:
    """Feed it bytes; take complete lines out with ``next_line``.

    ``max_line`` caps the message after its tags, line end included (512 per RFC 2812);
    ``max_tags`` caps the tags part, ``@`` and trailing space included.
    """

    def __init__(self, max_line: int = 512, max_tags: int = MAX_TAG_BYTES):
        self.max_line = max_line
        self.max_tags = max_tags
        self._buf = bytearray()
        self._start = 0  # where the next line begins
        self._scan = 0  # bytes before this are known to hold no LF

    def __len__(self) -> int:
        """Bytes held that are not yet handed out."""
        return len(self._buf) - self._start

    def feed(self, data: bytes | memoryview) -> None:
        if self._start:
            # Drop what was handed out; what stays is at most one partial line (capped)
            # plus the lines of the last read not taken yet.
            del self._buf[: self._start]
            self._scan -= self._start
            self._start = 0
        self._buf += data

    def next_line(self) -> bytes | None:
        """The next complete line without its CR LF (b"" for an empty line), or None
        when no complete line is held. Raises ``LineTooLong``."""
        end = self._buf.find(b"\n", self._scan)
        if end == -1:
            self._scan = len(self._buf)
            self._check(len(self._buf))
            return None
        self._check(end + 1)
        line = bytes(self._buf[self._start : end])
        self._start = self._scan = end + 1
        if len(self._buf) == self._start:  # all handed out: let the memory go
            self._buf.clear()
            self._start = self._scan = 0
        return line[:-1] if line.endswith(b"\r") else line

    def _check(self, stop: int) -> None:
        """Refuse ``_buf[_start:stop]``, a whole line or the start of one, if its tags or
        its message are over their caps (the same caps hold for both)."""
        start, size = self._start, stop - self._start
        tags = 0
        if size and self._buf[start] == 0x40:  # "@": tags up to the first space
            space = self._buf.find(b" ", start, min(stop, start + self.max_tags))
            if space == -1:
                if size >= self.max_tags:
                    raise LineTooLong("IRCv3 tags", size, self.max_tags)
                return  # tags still arriving, under their cap
            tags = space + 1 - start
        message = size - tags
        if message > self.max_line:
            raise LineTooLong("line", message, self.max_line)
