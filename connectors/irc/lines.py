"""Raw IRC lines: parsing, value checks, splitting long messages, outgoing pacing.

Everything here is pure (no sockets, no sleeping), so it is shared by the connector and
the tests. The grammar is RFC 1459 §2.3.1 / RFC 2812 §2.3.1 with IRCv3 message-tags
(https://ircv3.net/specs/extensions/message-tags) in front.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from envelopes.errors import InvalidEnvelope

__all__ = [
    "MAX_LINE_BYTES",
    "MalformedLine",
    "Message",
    "TokenBucket",
    "check_value",
    "decode_line",
    "encode_line",
    "is_pong",
    "parse_line",
    "split_text",
]

# RFC 2812 §2.3: a message is at most 512 bytes *including* the trailing CR LF. IRCv3
# message-tags have a separate budget and do not count towards it.
MAX_LINE_BYTES = 512

_FORBIDDEN = ("\r", "\n", "\0")

# IRCv3 message-tags: escaped value characters and what they stand for.
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


class MalformedLine(ValueError):
    """A line that is not an IRC message at all (empty, or tags/prefix with no command)."""


@dataclass(frozen=True)
class Message:
    """One parsed IRC message.

    ``command`` is upper-case; numerics stay 3-digit strings ("001", "433"). ``nick``,
    ``user`` and ``host`` come from a ``nick!user@host`` prefix; a server prefix
    (``irc.example.net``) sets ``prefix`` only, leaving ``nick`` ``None``.
    """

    command: str
    params: list[str] = field(default_factory=list)
    prefix: str | None = None
    nick: str | None = None
    user: str | None = None
    host: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def from_server(self) -> bool:
        """True when the message came from a server rather than a user."""
        return self.nick is None


def decode_line(data: bytes) -> str:
    """Bytes from the wire → text, never failing.

    RFC 2812 §2.2 names no character set. UTF-8 is what modern servers and clients use,
    but one old client sending latin-1 must not break a connection, so fall back to
    latin-1 (which decodes any byte) for that line only, as IRCv3 recommends.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _unescape_tag(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, None)
        if nxt is None:  # a trailing lone backslash is dropped (message-tags spec)
            break
        out.append(_TAG_ESCAPES.get(nxt, nxt))
    return "".join(out)


def _parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        # A missing and an empty value are equivalent; a repeated key: the last one wins.
        tags[key] = _unescape_tag(value)
    return tags


def _parse_prefix(prefix: str) -> tuple[str | None, str | None, str | None]:
    """``nick!user@host`` → (nick, user, host); a server name → (None, None, None).

    RFC 2812 §2.3.1: prefix = servername / (nickname [[ "!" user ] "@" host]). Nicknames
    cannot contain ".", server names always do, which tells a bare prefix apart.
    """
    nick, bang, rest = prefix.partition("!")
    if bang:
        user, at, host = rest.partition("@")
        return nick, user, (host if at else None)
    nick, at, host = prefix.partition("@")
    if at:
        return nick, None, host
    if "." in prefix:
        return None, None, None
    return prefix, None, None


def is_pong(msg: Message, token: str) -> bool:
    """The server's answer to our ``PING :<token>``: what we sent before it is handled."""
    return msg.command == "PONG" and bool(msg.params) and msg.params[-1] == token


def parse_line(line: str) -> Message:
    """Parse one line (with or without its CR LF) into a ``Message``.

    Lenient where servers are sloppy: runs of spaces between parameters are tolerated.
    Raises ``MalformedLine`` when there is no command.
    """
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        tags = _parse_tags(raw_tags)
        rest = rest.lstrip(" ")
    prefix = nick = user = host = None
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        nick, user, host = _parse_prefix(prefix)
        rest = rest.lstrip(" ")
    trailing: str | None = None
    head, sep, tail = rest.partition(" :")
    if sep:
        trailing = tail
    words = head.split()
    if not words or words[0].startswith(":"):
        raise MalformedLine(f"not an IRC message: {line!r}")
    command = words[0].upper()
    if command.isdigit():
        command = command.zfill(3)
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(command, params, prefix, nick, user, host, tags)


def check_value(field: str, value: str) -> None:
    """Refuse CR, LF and NUL, which would end or corrupt the line (RFC 2812 §2.3.1).

    ``field`` is the envelope path (``object.content``) so the refusal names it.
    """
    if any(ch in value for ch in _FORBIDDEN):
        raise InvalidEnvelope(
            f"IRC values must not contain CR, LF or NUL characters ({field})", path=field
        )


def encode_line(line: str, field: str | None = None) -> bytes:
    """The one way a line reaches the wire: ``line`` + CR LF as UTF-8, or a refusal.

    CR, LF or NUL anywhere would end the line early and let whatever follows run as a
    command of its own (RFC 2812 §2.3.1), whichever field it came from, so they are refused
    here for every line we write; so is a line over 512 bytes (RFC 2812 §2.3), which
    servers cut. ``field`` names where the value came from, for the refusal's message.
    """
    where = f" ({field})" if field else ""
    if any(ch in line for ch in _FORBIDDEN):
        raise InvalidEnvelope(
            f"IRC values must not contain CR, LF or NUL characters{where}; nothing was sent",
            path=field,
        )
    data = line.encode("utf-8") + b"\r\n"
    # IRCv3 message-tags: the tags (``@…`` up to the first space) have a budget of their
    # own (``tags.with_tags`` checks it); the 512 bytes are the rest of the line.
    body = data.partition(b" ")[2] if data.startswith(b"@") else data
    if len(body) > MAX_LINE_BYTES:
        raise InvalidEnvelope(
            f"too long for one IRC line ({len(body)} of {MAX_LINE_BYTES} bytes){where}; "
            "nothing was sent",
            path=field,
        )
    return data


def split_text(
    text: str,
    command: str,
    target: str,
    nick: str,
    user: str = "~u",
    host_len: int = 63,
    *,
    reserve: int = 0,
) -> list[str]:
    """Split ``text`` so every ``<command> <target> :<chunk>`` fits in one IRC line.

    The budget is the 512 bytes of RFC 2812 §2.3, CR LF included, minus the prefix the
    server adds when relaying (``:nick!user@host ``), for which ``host_len`` bytes are
    assumed (63, the usual HOSTLEN) unless the caller knows the real host. ``user`` is
    the ident the server shows, often ``~`` + username. ``reserve`` keeps room for
    wrapping, e.g. 9 bytes for CTCP ``\\x01ACTION …\\x01``.

    Chunks end on UTF-8 character boundaries, at a space when one is near the limit (the
    space stays at the end of the earlier chunk), so ``"".join(chunks) == text``. Empty
    text gives no chunks. Raises ``ValueError`` when not even one character fits.
    """
    overhead = len(f":{nick}!{user}@ {command} {target} :\r\n".encode()) + host_len + reserve
    budget = MAX_LINE_BYTES - overhead
    if budget < 4:  # the longest UTF-8 character is 4 bytes
        raise ValueError(f"no room for text in a {command} to {target!r} from {nick!r}")
    data = text.encode("utf-8")
    near = budget // 4  # how far back a space may be and still be preferred
    chunks: list[str] = []
    start = 0
    while len(data) - start > budget:
        end = start + budget
        while data[end] & 0xC0 == 0x80:  # continuation byte: do not cut the character
            end -= 1
        space = data.rfind(b" ", max(start + 1, end - near), end)
        if space != -1:
            end = space + 1
        chunks.append(data[start:end].decode("utf-8"))
        start = end
    if start < len(data):
        chunks.append(data[start:].decode("utf-8"))
    return chunks


class TokenBucket:
    """Outgoing flood control: ``burst`` lines at once, then ``rate`` lines per second.

    Servers penalise fast senders (RFC 1459 §8.10; ngircd stalls a client about 1 s every
    ~10 fast lines), so lines are paced before they leave. Pure arithmetic on ``clock``
    and never sleeps, so it works on an asyncio loop::

        await asyncio.sleep(bucket.take())
        connection.send_raw(line)

    ``take`` reserves a token even when none is available yet (the count goes negative),
    so concurrent senders queue up in order instead of all waking at once.
    """

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._stamp = now

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while reservations are outstanding)."""
        self._refill()
        return self._tokens

    def delay(self) -> float:
        """Seconds until the next line may go; 0.0 when it may go now."""
        self._refill()
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.rate

    def take(self) -> float:
        """Reserve one line; return how many seconds to wait before sending it."""
        wait = self.delay()
        self._tokens -= 1
        return wait

    def reset(self) -> None:
        """Full bucket again, e.g. on a fresh connection."""
        self._tokens = float(self.burst)
        self._stamp = self._clock()
