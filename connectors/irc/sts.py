"""IRCv3 Strict Transport Security (https://ircv3.net/specs/extensions/sts).

A server offers ``sts`` in its ``CAP LS``. On a plaintext connection the value names a
TLS port (``sts=port=6697``): we close that connection before registering (nothing has
been sent but ``CAP LS``) and connect again with TLS on that port. On a TLS connection
whose certificate we verified, the value's ``duration`` (seconds) is the policy's
lifetime: it is remembered per host for that long, fleet-wide in Redis
(``keys.irc_sts``), so any worker's later plaintext connect to that host goes straight to
TLS on the remembered port; every verified TLS connect refreshes it, and ``duration=0``
removes it. With a policy, a failed TLS connection is an error naming the policy, never
a fallback to plaintext. A connection that skips the certificate check
(``allowInvalidCert``) still upgrades, but does not store a policy (the spec trusts a
policy only from a secure connection).

The store is a seam: ``RedisStsStore`` (blocking redis-py, so the connection calls it in
a thread, never on the loop) and ``MemoryStsStore``, its in-memory twin.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from envelopes import keys

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = [
    "MemoryStsStore",
    "RedisStsStore",
    "StsStore",
    "StsUpgrade",
    "lookup",
    "on_caps",
    "parse",
]

log = logging.getLogger("sockethub.irc")


class StsStore(Protocol):
    def get(self, host: str) -> int | None:
        """The TLS port of ``host``'s policy while it lasts, else None."""

    def put(self, host: str, port: int, duration: int) -> None:
        """Remember ``port`` for ``duration`` seconds; 0 removes the policy."""


class MemoryStsStore:
    """Policies in this process only (tests, and a worker without Redis)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._policies: dict[str, tuple[int, float]] = {}

    def get(self, host: str) -> int | None:
        port, until = self._policies.get(host.lower(), (0, 0.0))
        return port if until > self._clock() else None

    def put(self, host: str, port: int, duration: int) -> None:
        if duration <= 0:
            self._policies.pop(host.lower(), None)
        else:
            self._policies[host.lower()] = (port, self._clock() + duration)


class RedisStsStore:
    """Policies in Redis, one key per host that expires with the policy."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def get(self, host: str) -> int | None:
        raw = self.redis.get(keys.irc_sts(host))
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    def put(self, host: str, port: int, duration: int) -> None:
        if duration <= 0:
            self.redis.delete(keys.irc_sts(host))
        else:
            self.redis.set(keys.irc_sts(host), port, ex=duration)


class StsUpgrade(Exception):  # noqa: N818 (a signal to reconnect, not an error)
    """A plaintext connection was told to use TLS on ``port``."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.port = port


def parse(caps: Iterable[str]) -> dict[str, str] | None:
    """The ``sts`` capability's keys (``port``, ``duration``, ``preload``), or None."""
    for cap in caps:
        name, _, value = cap.partition("=")
        if name == "sts":
            return {k: v for k, _, v in (item.partition("=") for item in value.split(","))}
    return None


def _number(value: str | None, low: int, high: int) -> int | None:
    if value is None or not value.isdigit():
        return None
    number = int(value)
    return number if low <= number <= high else None


async def _in_thread(up: IrcUpstream, call: Callable[..., Any], *args: Any) -> Any:
    """A store call off the loop; a store that fails costs the policy, not the connect."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, call, *args)
    except Exception as exc:  # noqa: BLE001 (Redis down, a timeout)
        log.warning("IRC STS policy store unavailable for %s: %s", up.host, type(exc).__name__)
        return None


async def lookup(up: IrcUpstream) -> int | None:
    """The remembered policy's TLS port for ``up``'s host, if any."""
    port: int | None = await _in_thread(up, up.sts.get, up.host)
    return port


async def on_caps(up: IrcUpstream, caps: Iterable[str]) -> None:
    """Act on the ``sts`` value of ``CAP LS``: upgrade (raise ``StsUpgrade``) on plaintext,
    remember or remove the policy on a verified TLS connection."""
    policy = parse(caps)
    if policy is None:
        return
    if not up.secure:
        port = _number(policy.get("port"), 1, 65535)
        if port is not None:  # without a port the value is ignored (sts 2.1)
            raise StsUpgrade(port)
        return
    duration = _number(policy.get("duration"), 0, 10 * 365 * 86400)
    if duration is not None and up.verify:
        await _in_thread(up, up.sts.put, up.host, up.port, duration)
