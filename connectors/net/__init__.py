"""Outbound network access for connectors, guarded against hosts a browser must not reach.

``guard`` checks addresses and connects only to checked ones (every connector that goes
where a browser says uses it: IRC, XMPP, HTTP); ``http`` is the one HTTP client every
outbound fetch goes through. Both are standard library only.
"""

from __future__ import annotations

from .guard import (
    Address,
    Dial,
    Resolver,
    RoutedDial,
    StaticResolver,
    blocked_reason,
    check_address,
    open_socket,
    resolve_checked,
    system_resolver,
)

__all__ = [
    "Address",
    "Dial",
    "Resolver",
    "RoutedDial",
    "StaticResolver",
    "blocked_reason",
    "check_address",
    "open_socket",
    "resolve_checked",
    "system_resolver",
]
