"""Checks a process makes before it serves, each failing with one line that says what to set.

``sockethub`` runs them before it starts anything (all three commands), and the Celery
worker runs ``check_config`` itself at ``celeryd_init``, before it consumes a single task, so
``celery -A tasks.app worker`` started by hand refuses too instead of failing every task.
Nothing here imports Celery or connects at import time.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import redis as redis_lib

from envelopes.redisclient import redis_client
from envelopes.registry import Registry, default_registry
from envelopes.settings import ConfigError, Settings

__all__ = ["check_config", "check_redis", "enabled_registry", "redacted", "refuse"]

SECRET_HINT = (
    "16 or more random characters, the same for every process, e.g. "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def enabled_registry(settings: Settings) -> Registry:
    """The platforms ``SOCKETHUB_PLATFORMS`` enables; a typo is an error naming it."""
    registry = default_registry()
    if not settings.platforms:
        return registry
    try:
        return registry.only(settings.platforms)
    except ValueError as exc:
        raise ConfigError(f"SOCKETHUB_PLATFORMS: {exc}") from None


def check_config(
    settings: Settings, *, need: tuple[str, ...] = ("redis_url", "secret")
) -> Registry:
    """What a gateway or worker needs before it can answer anything."""
    missing = [
        var
        for var, attr in (("REDIS_URL", "redis_url"), ("SOCKETHUB_SECRET", "secret"))
        if attr in need and not getattr(settings, attr)
    ]
    if missing:
        hint = f" (SOCKETHUB_SECRET: {SECRET_HINT})" if "SOCKETHUB_SECRET" in missing else ""
        raise ConfigError(f"missing configuration: set {' and '.join(missing)}{hint}")
    if settings.secret and len(settings.secret) < 16:
        raise ConfigError(
            f"SOCKETHUB_SECRET is {len(settings.secret)} characters long: set it to {SECRET_HINT}"
        )
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        raise ConfigError(
            f"SOCKETHUB_LOG_LEVEL={settings.log_level!r}: set it to DEBUG, INFO, WARNING or ERROR"
        )
    return enabled_registry(settings)


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def check_redis(
    url: str, *, wait: float = 3.0, hint: str = "start Redis there or fix REDIS_URL"
) -> None:
    """Fail unless Redis at ``url`` answers a PING.

    It retries for ``wait`` seconds: a Redis started at the same moment (a Procfile, a
    compose file) may not be listening yet.
    """
    deadline = time.monotonic() + wait
    while True:
        client = None
        try:
            # The one factory: a Sentinel URL is checked through its Sentinels' primary.
            client = redis_client(url, timeout=2, max_connections=2, min_timeout=0)
            client.ping()
            return
        except (redis_lib.RedisError, OSError, ValueError) as exc:
            reason = str(exc).rstrip(".") or type(exc).__name__
            if time.monotonic() >= deadline or isinstance(exc, ValueError):
                raise ConfigError(
                    f"cannot reach Redis at REDIS_URL={redacted(url)} ({reason}): {hint}"
                ) from None
        finally:
            if client is not None:
                client.close()
        time.sleep(0.25)


def refuse(prog: str, exc: Exception, code: int = 2) -> NoReturn:
    """Say what is wrong in one line on stderr and exit non-zero."""
    print(f"{prog}: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(code)
