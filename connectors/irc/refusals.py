"""What an IRC server means when it sends us away: a ban, a throttle, too many clones.

There is no numeric for most of it: servers say it in the text of ``ERROR`` (RFC 2812
§3.7.4), usually ``Closing Link: <host> (<why>)``. The words below are those of the
common servers (charybdis/solanum ``Throttled: Reconnecting too fast``, InspIRCd ``No
more connections allowed from your host via this connect class (local)``, ngircd ``Too
many connections from your IP address``, hybrid/unreal ``You are banned from this server``
and ``K-Lined``); ``465`` (ERR_YOUREBANNEDCREEP) is a ban whatever its text. A flood of
our own lines (``Excess Flood``) is not a refusal: the connection's own flood control and
backoff answer that. Pure: no socket, no Redis.
"""

from __future__ import annotations

import re

from ..persistent import Refusal

__all__ = ["classify", "refusal_of"]

_BANNED = re.compile(
    r"\b[kgzd]-?lined?\b|\bbanned\b|\bakill|\bgline|\bkline|not welcome|autokill", re.I
)
_TOO_MANY = re.compile(
    r"too many (?:host |user |global |local )?connections|too many clients|no more "
    r"connections|clone|session limit|max(?:imum)? (?:number of )?(?:connections|clients)",
    re.I,
)
_THROTTLED = re.compile(
    r"throttl|reconnect(?:ing)? too (?:fast|soon|quickly)|connect(?:ing|ions?)? too "
    r"(?:fast|soon|quickly)|wait a while|try again later",
    re.I,
)


def classify(text: str) -> str | None:
    """The condition an ``ERROR`` text names (``banned``, ``too-many-connections``,
    ``throttled``), or None for an ordinary goodbye (a ping timeout, a QUIT)."""
    if _BANNED.search(text):
        return "banned"
    if _TOO_MANY.search(text):
        return "too-many-connections"
    if _THROTTLED.search(text):
        return "throttled"
    return None


def refusal_of(command: str, text: str, webirc: bool) -> Refusal | None:
    """The refusal a line means: ``465`` or an ``ERROR`` naming one. ``webirc``: the
    server saw the browser's own address, so it refused that browser, not us."""
    condition = "banned" if command == "465" else classify(text) if command == "ERROR" else None
    if condition is None:
        return None
    return Refusal(condition, text or "you are banned from this server", shared=not webirc)
