"""The platform registry: what each platform offers, read by the gateway and the workers.

A platform joins by adding one module under ``envelopes/platforms/`` that defines
``PLATFORM`` and naming it in ``PLATFORM_MODULES``. Its connector is named by dotted path
and imported only by the worker that runs it, so the web process never loads a protocol
library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from marshmallow import Schema

from .context import platform_context_url

__all__ = [
    "CLIENT_ADDRESS",
    "PLATFORM_MODULES",
    "Platform",
    "Registry",
    "Verb",
    "default_registry",
]

PLATFORM_MODULES: tuple[str, ...] = (
    "envelopes.platforms.dummy",
    "envelopes.platforms.irc",
    "envelopes.platforms.feeds",
    "envelopes.platforms.metadata",
    "envelopes.platforms.xmpp",
    "envelopes.platforms.caldav",
    "envelopes.platforms.carddav",
)


@dataclass(frozen=True)
class Verb:
    """One verb of a platform: which parts of the envelope it takes, and how.

    ``object``/``target`` name a marshmallow schema for that part, or ``None`` when the verb
    refuses it. ``actor`` overrides the platform's actor schema for this verb (a verb about
    the session rather than one upstream thing). ``timeout`` overrides the gateway's reply
    deadline for slow verbs.
    """

    name: str
    actor: type[Schema] | None = None
    object: type[Schema] | None = None
    object_required: bool = False
    target: type[Schema] | None = None
    target_required: bool = False
    needs_credentials: bool = False
    timeout: float | None = None


# The field the gateway adds to a platform's sealed credentials: the browser's address,
# as the gateway saw it through its trusted proxies (IRC's WEBIRC). Never from a browser:
# the credentials schema has no such field, and the gateway sets it after validation.
CLIENT_ADDRESS = "_clientAddress"


@dataclass(frozen=True)
class Platform:
    name: str
    connector: str  # "package.module:Class", imported by workers only
    verbs: Mapping[str, Verb]
    credentials: type[Schema] | None = None  # schema of a credentials envelope's object
    actor: type[Schema] | None = None  # overrides the shared actor schema
    persistent: bool = False
    # A worker serving this platform starts its connector at start-up, not at the first
    # request (feeds: the poller of followed feeds must run with no request coming).
    background: bool = False
    # Persistent platforms: credentials → (identity of the upstream connection, whether it
    # holds a secret). Only identical secret-bearing credentials share a connection.
    connection_identity: Callable[[Mapping[str, Any]], tuple[str, bool]] | None = None
    description: str = ""
    # Verbs that answer without waiting on a network: a gateway may batch its requests
    # (SOCKETHUB_ENQUEUE_BATCH), and a batch runs one after another in one task. A fetch
    # must not wait behind another: platforms with an upstream leave this off.
    batchable: bool = False
    # The setting (a ``Settings`` attribute) that, when set, makes the gateway add the
    # browser's address to this platform's credentials (``CLIENT_ADDRESS``), as does a cap
    # per browser address (``SOCKETHUB_UPSTREAM_MAX_PER_BROWSER``); "": never.
    client_address: str = ""

    @property
    def context_url(self) -> str:
        return platform_context_url(self.name)

    @property
    def queue(self) -> str:
        return self.name

    @property
    def task_name(self) -> str:
        return f"sockethub.platform.{self.name}"

    def verb_names(self) -> list[str]:
        names = list(self.verbs)
        if self.credentials is not None:
            names.append("credentials")
        return names


class Registry:
    """The enabled platforms, looked up by name or by platform context URL."""

    def __init__(self, platforms: Iterable[Platform]):
        self._by_name = {p.name: p for p in platforms}
        self._by_url = {p.context_url: p for p in self._by_name.values()}

    def __iter__(self):
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def get(self, name: str) -> Platform | None:
        return self._by_name.get(name)

    def by_context_url(self, url: str) -> Platform | None:
        return self._by_url.get(url)

    def only(self, names: Iterable[str]) -> Registry:
        """A registry of just ``names``; an unknown name is an error that names it."""
        wanted = list(names)
        unknown = [n for n in wanted if n not in self._by_name]
        if unknown:
            raise ValueError(
                f"unknown platform(s) {', '.join(unknown)}; known: {', '.join(self._by_name)}"
            )
        return Registry(self._by_name[n] for n in wanted)

    def describe(self) -> list[dict[str, object]]:
        """What the gateway tells clients about each platform."""
        return [
            {
                "name": p.name,
                "contextUrl": p.context_url,
                "verbs": p.verb_names(),
                "timeouts": {v.name: v.timeout for v in p.verbs.values() if v.timeout},
                "persistent": p.persistent,
                "description": p.description,
            }
            for p in self
        ]


def load_platforms(modules: Iterable[str] = PLATFORM_MODULES) -> list[Platform]:
    return [importlib.import_module(m).PLATFORM for m in modules]


@cache
def default_registry() -> Registry:
    return Registry(load_platforms())
