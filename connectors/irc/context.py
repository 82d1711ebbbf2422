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
    # Folded channel → {nick: (every role, "user@host" or "")} while 353s arrive, for
    # what multi-prefix and userhost-in-names add to ``names``.
    name_extras: dict[str, dict[str, tuple[list[str], str]]] = field(default_factory=dict)
    # Folded nick → away message ("" when the message is unknown), from AWAY, 301 and WHO.
    away: dict[str, str] = field(default_factory=dict)
    # Folded nick → "online"/"offline"/"" (not answered yet): the people we MONITOR.
    watched: dict[str, str] = field(default_factory=dict)
    # RPL_ISUPPORT MONITOR: None when the server has no MONITOR, 0 when it names no limit.
    monitor: int | None = None
    chathistory: int = 0  # RPL_ISUPPORT CHATHISTORY=<n>: most messages per request (0: any)
    # Most people whose away state is remembered (oldest forgotten first).
    people_limit: int = 20000

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

    def set_away(self, nick: str, text: str | None) -> None:
        """Remember ``nick`` away with ``text`` (None: back)."""
        key = self.fold(nick)
        self.away.pop(key, None)
        if text is None:
            return
        self.away[key] = text
        while len(self.away) > self.people_limit:
            del self.away[next(iter(self.away))]

    def away_of(self, nick: str) -> str | None:
        return self.away.get(self.fold(nick))

    def rename(self, old: str, new: str) -> None:
        """A NICK change: ``old``'s away state is now ``new``'s (MONITOR watches nicks,
        not people: the 730/731 of each nick say the rest)."""
        if (text := self.away.pop(self.fold(old), None)) is not None:
            self.set_away(new, text)

    def watched_state(self, nick: str, state: str) -> None:
        if self.fold(nick) in self.watched:
            self.watched[self.fold(nick)] = state

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
            elif key == "MONITOR":  # IRCv3 Monitor: MONITOR[=<limit>]
                self.monitor = int(value) if value.isdigit() else 0
            elif key == "CHATHISTORY":  # IRCv3 chathistory: CHATHISTORY=<max per request>
                self.chathistory = int(value) if value.isdigit() else 0
            elif key == "CHANMODES" and value.count(",") >= 3:
                a, b, c, d = value.split(",")[:4]
                self.chanmodes = (a, b, c, d)
