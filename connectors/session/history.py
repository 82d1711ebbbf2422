"""What a chat connection's server history gives the history query (tasks/history.py),
shared by IRC ``chathistory`` (connectors/irc/chathistory.py) and XMPP MAM
(connectors/xmpp/mam.py): one page type and one check of the window asked for."""

from __future__ import annotations

from typing import Any

from envelopes.errors import InvalidEnvelope

__all__ = ["History", "MAX_LIMIT", "check_window"]

MAX_LIMIT = 500  # the history query's cap (docs/protocol.md)


class History(list[dict[str, Any]]):
    """A page of ``send`` activities, oldest first; ``more`` says whether the server has
    older (``before``) and newer (``after``) messages than the page."""

    more: dict[str, bool]


def check_window(limit: int, before: str | None, after: str | None, around: str | None) -> None:
    """A page of 1..``MAX_LIMIT`` messages, around at most one cursor."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidEnvelope(f"limit must be 1..{MAX_LIMIT}", path="object.limit")
    if sum(c is not None for c in (before, after, around)) > 1:
        raise InvalidEnvelope("give one of before, after and around", path="object")
