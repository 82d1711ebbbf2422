"""Which Redis a ``REDIS_URL`` names: one server, or a primary found through Sentinels.

    redis://[[user]:password@]host:6379/0              one Redis (also rediss://, unix://)
    redis+sentinel://[[user]:password@]host1:26379,host2:26379,host3:26379/mymaster/0

In the second form every client asks the Sentinels (any of them that answers) which server
is the primary of the group named ``mymaster`` now, and asks again after a failover; the
database number (``/0``) is optional, the Sentinel port defaults to 26379, and the user and
password are those of the Redis servers (the Sentinels themselves are asked without).

Our Redis clients (``envelopes/redisclient.py``) and Celery's broker both read this one
variable; kombu spells the same thing differently (``sentinel://h1:26379;sentinel://
h2:26379/0`` with the group in a transport option), so ``celery_broker`` translates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["SENTINEL_SCHEME", "SentinelTarget", "celery_broker", "sentinel_target"]

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SENTINEL_TIMEOUT = 2.0  # seconds for a Sentinel to answer: the next one is asked after it
FORM = f"{SENTINEL_SCHEME}://[:password@]host1:26379,host2:26379,.../mastername[/db]"


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def sentinel_target(url: str) -> SentinelTarget | None:
    """The Sentinels and group ``url`` names; None for a plain Redis URL. A malformed one
    is a ``ValueError`` saying what the form is."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != SENTINEL_SCHEME:
        return None
    netloc, _, path = rest.partition("/")
    path = path.split("?", 1)[0].split("#", 1)[0]
    username = password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user, has_password, secret = auth.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    sentinels = []
    for item in netloc.split(","):
        item = item.strip()
        bare = ":" not in item or item.endswith("]")  # a name, or [IPv6] without a port
        host, colon, port = (item, "", "") if bare else item.rpartition(":")
        host = host.strip("[]")
        if not host or (colon and not port.isdigit()):
            raise ValueError(f"REDIS_URL: Sentinel address {item!r} is not host[:port]; {FORM}")
        sentinels.append((host, int(port) if colon else SENTINEL_PORT))
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError(f"REDIS_URL: name the Sentinels' group, then the database; {FORM}")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelTarget(tuple(sentinels), unquote(parts[0]), db, username, password)


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's ``broker_url`` and the ``broker_transport_options`` it needs for ``url``."""
    target = sentinel_target(url)
    if target is None:
        return url, {}
    auth = ""
    if target.username or target.password is not None:
        auth = quote(target.username or "", safe="")
        if target.password is not None:
            auth += ":" + quote(target.password, safe="")
        auth += "@"
    broker = ";".join(
        f"sentinel://{auth}{_host(host)}:{port}/{target.db}" for host, port in target.sentinels
    )
    options = {
        "master_name": target.master,
        "sentinel_kwargs": {
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
    }
    return broker, options


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
