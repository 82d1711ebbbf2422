"""Every Redis key the project uses, named in one place.

Session-scoped keys share the ``sh:s:{sid}`` prefix and the session's time to live.
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "session",
    "session_creds",
    "session_stream",
    "session_seq",
    "request",
    "deadlines",
    "deadline_member",
    "split_deadline_member",
    "gateway_wake",
    "creds_field",
]

PREFIX = "sh"
_SEP = "\x1f"  # unit separator: cannot occur in validated ids


def session(sid: str) -> str:
    """Hash: token hash, wrapped session key, created time, attach generation."""
    return f"{PREFIX}:s:{sid}"


def session_creds(sid: str) -> str:
    """Hash: ``creds_field(platform, actor)`` → sealed credentials."""
    return f"{PREFIX}:s:{sid}:creds"


def session_stream(sid: str) -> str:
    """Stream of replies and events bound for the session's browser, with ``seq``."""
    return f"{PREFIX}:s:{sid}:out"


def session_seq(sid: str) -> str:
    """Counter behind the per-session sequence numbers."""
    return f"{PREFIX}:s:{sid}:seq"


def request(sid: str, rid: str) -> str:
    """``pending`` while a request is in flight, ``done`` once its terminal reply is out."""
    return f"{PREFIX}:s:{sid}:r:{rid}"


def deadlines() -> str:
    """Sorted set of in-flight requests scored by their reply deadline (epoch seconds)."""
    return f"{PREFIX}:deadlines"


def deadline_member(sid: str, rid: str) -> str:
    return f"{sid}{_SEP}{rid}"


def split_deadline_member(member: str) -> tuple[str, str]:
    sid, _, rid = member.partition(_SEP)
    return sid, rid


def gateway_wake(gateway_id: str) -> str:
    """Stream a gateway's pump also reads, so a new session wakes its blocking read."""
    return f"{PREFIX}:gw:{gateway_id}:wake"


def creds_field(platform: str, actor_id: str) -> str:
    return f"{platform}{_SEP}{actor_id}"
