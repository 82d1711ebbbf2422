"""What the translator remembers about one IRC connection.

The translator updates it as lines go by: our nick (RPL_WELCOME, NICK), the channels we
are in (our own JOIN, PART, KICK), what the server announced in RPL_ISUPPORT, NAMES
replies until RPL_ENDOFNAMES and a topic until its RPL_TOPICWHOTIME. The connector may
read it (e.g. the channels to rejoin after a reconnect) and creates one per connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ids import CHANNEL_PREFIXES, casefold

__all__ = ["IrcContext", "ROLE_BY_MODE"]

# Channel status modes and the role names activities use for them.
ROLE_BY_MODE = {"q": "owner", "a": "admin", "o": "operator", "h": "halfop", "v": "voice"}


def _default_prefixes() -> dict[str, str]:
    return {"~": "q", "&": "a", "@": "o", "%": "h", "+": "v"}


@dataclass
class IrcContext:
    server: str  # the host the user connected to (ids use it)
    nick: str  # our current nick
    channels: set[str] = field(default_factory=set)  # joined, spelled as the server does
    casemapping: str = "rfc1459"
    chantypes: str = CHANNEL_PREFIXES
    # RPL_ISUPPORT PREFIX: status symbol → channel mode letter, highest first.
    prefixes: dict[str, str] = field(default_factory=_default_prefixes)
    # RPL_ISUPPORT CHANMODES: list modes, always-param, param-when-set, never-param.
    chanmodes: tuple[str, str, str, str] = ("beIq", "k", "lfj", "")
    # Folded channel → (spelling, {nick: role}) while 353s arrive, until 366.
    names: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    # Folded channel → (spelling, topic) from a 332 until its 333 (or a flush).
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)

    def fold(self, name: str) -> str:
        return casefold(name, self.casemapping)

    def is_me(self, nick: str | None) -> bool:
        return nick is not None and self.fold(nick) == self.fold(self.nick)

    def joined(self, channel: str) -> bool:
        return any(self.fold(c) == self.fold(channel) for c in self.channels)

    def enter(self, channel: str) -> None:
        self.leave(channel)  # keep the server's latest spelling only
        self.channels.add(channel)

    def leave(self, channel: str) -> None:
        self.channels = {c for c in self.channels if self.fold(c) != self.fold(channel)}

    def apply_isupport(self, tokens: list[str]) -> None:
        """Take in RPL_ISUPPORT (005) tokens (modern.ircdocs.horse/#rplisupport-005)."""
        for token in tokens:
            key, _, value = token.partition("=")
            if key == "PREFIX" and value.startswith("(") and ")" in value:
                letters, _, symbols = value[1:].partition(")")
                self.prefixes = dict(zip(symbols, letters, strict=False))
            elif key == "CHANTYPES" and value:
                self.chantypes = value
            elif key == "CASEMAPPING" and value:
                self.casemapping = value
            elif key == "CHANMODES" and value.count(",") >= 3:
                a, b, c, d = value.split(",")[:4]
                self.chanmodes = (a, b, c, d)
