"""Dialling a persistent upstream (IRC, XMPP): every resolved address, in order, until one
answers.

A name often resolves to several addresses (IPv6 and IPv4, several servers of one
network). Trying only the first turns one dead or unreachable address into a failed
connect although the next would have worked; RFC 6724 orders the answer and RFC 8305 §4
asks a client to go on down the list. ``dial_each`` resolves and checks the name
(``guard.resolve_checked``, off the loop: DNS blocks), then runs ``attempt`` on each
address in turn; the first that succeeds wins and the last failure is raised, so the
browser reads why the final address failed. ``attempt`` decides what counts as "try the
next": it raises ``UpstreamUnavailable`` (or ``OSError``) for that, anything else stops.

Asyncio only; ``resolver`` is the seam tests replace (``guard.StaticResolver``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from envelopes.errors import UpstreamUnavailable, os_reason

from .guard import Address, Resolver, resolve_checked, system_resolver

__all__ = ["dial_each"]

T = TypeVar("T")


async def dial_each(
    host: str,
    port: int,
    allow_private: bool,
    attempt: Callable[[Address], Awaitable[T]],
    *,
    resolver: Resolver = system_resolver,
) -> T:
    addresses = await asyncio.to_thread(
        resolve_checked, host, port, allow_private, resolver=resolver
    )
    last: Exception = UpstreamUnavailable(f"no address found for {host}")
    for address in addresses:
        try:
            return await attempt(address)
        except UpstreamUnavailable as exc:
            last = exc
        except OSError as exc:
            last = UpstreamUnavailable(f"could not connect to {host}:{port}: {os_reason(exc)}")
    raise last
