"""The three-URL ``@context`` of Sockethub envelopes and how a platform is read from it."""

from __future__ import annotations

__all__ = [
    "AS2_CONTEXT",
    "SOCKETHUB_CONTEXT",
    "PLATFORM_CONTEXT_PREFIX",
    "context_for",
    "platform_context_url",
]

AS2_CONTEXT = "https://www.w3.org/ns/activitystreams"
SOCKETHUB_CONTEXT = "https://sockethub.org/ns/context/v1.jsonld"
PLATFORM_CONTEXT_PREFIX = "https://sockethub.org/ns/context/platform/"


def platform_context_url(platform: str) -> str:
    """The platform URL that picks ``platform``, as Sockethub spells it."""
    return f"{PLATFORM_CONTEXT_PREFIX}{platform}/v1.jsonld"


def context_for(platform: str) -> list[str]:
    """The canonical ``@context`` array for an envelope addressed to ``platform``."""
    return [AS2_CONTEXT, SOCKETHUB_CONTEXT, platform_context_url(platform)]
