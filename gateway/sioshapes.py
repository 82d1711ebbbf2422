"""What Sockethub's Socket.IO clients expect to receive, built from our frames.

Pure functions (no socket, no Redis): a reply frame from the session's stream becomes an
ack payload, an event frame a ``message`` push, and a limit the server ``error`` event,
each in the shape Sockethub's server gives (docs/sockethub-compatibility.md):

- success ack: the platform's result, or the request itself when there is none, with the
  platform's canonical ``@context``;
- failure ack: the request with Sockethub's ``error`` string added (the human message of
  our error; its machine code is in our own protocol only);
- a ``credentials`` activity is never echoed with its secrets (Sockethub echoes them;
  nothing a page needs is lost: it sent them).
"""

from __future__ import annotations

from typing import Any

from envelopes.context import (
    AS2_CONTEXT,
    PLATFORM_CONTEXT_PREFIX,
    SOCKETHUB_CONTEXT,
    context_for,
)

__all__ = [
    "ack_payload",
    "error_ack",
    "message_push",
    "server_error",
    "platform_of",
    "RATE_LIMITED",
    "TOO_MANY_SOCKETS",
]

RATE_LIMITED = "rate limit exceeded, temporarily blocked"
TOO_MANY_SOCKETS = "too many concurrent connections from this address"
_ERROR_CONTEXT = [AS2_CONTEXT, SOCKETHUB_CONTEXT, f"{PLATFORM_CONTEXT_PREFIX}error/v1.jsonld"]

Json = dict[str, Any]


def platform_of(activity: Any) -> str | None:
    """The platform an activity's ``@context`` names, if exactly one is readable."""
    context = activity.get("@context") if isinstance(activity, dict) else None
    if not isinstance(context, list):
        return None
    names = [
        c[len(PLATFORM_CONTEXT_PREFIX) :].split("/", 1)[0]
        for c in context
        if isinstance(c, str) and c.startswith(PLATFORM_CONTEXT_PREFIX)
    ]
    return names[0] if len(names) == 1 else None


def _canonical(activity: Json, platform: str | None) -> Json:
    platform = platform_of(activity) or platform
    if platform is None:
        return activity
    return {
        "@context": context_for(platform),
        **{k: v for k, v in activity.items() if k != "@context"},
    }


def _without_secrets(activity: Json) -> Json:
    if activity.get("type") == "credentials" and isinstance(activity.get("object"), dict):
        return {**activity, "object": {"type": "credentials"}}
    return activity


def ack_payload(frame: Json, request: Any) -> Json:
    """The ack for ``request`` from its reply frame (``envelopes.outbox``)."""
    asked = request if isinstance(request, dict) else {}
    platform = platform_of(asked)
    if frame.get("status") == "failed":
        error = frame.get("error") or {}
        return error_ack(asked, str(error.get("message") or error.get("code") or "failed"))
    result = frame.get("result")
    if isinstance(result, dict) and result.get("type") and result.get("type") != "credentials":
        return _canonical(result, platform)
    return _without_secrets(_canonical(asked, platform))


def error_ack(request: Any, message: str) -> Json:
    """A failure ack: the request (never its secrets) with Sockethub's ``error`` string."""
    asked = request if isinstance(request, dict) else {}
    return {**_without_secrets(_canonical(asked, None)), "error": message}


def message_push(activity: Any) -> Any:
    """An unsolicited ``message``: the activity, with its platform's canonical context."""
    return _canonical(activity, None) if isinstance(activity, dict) else activity


def server_error(summary: str) -> Json:
    """The server's ``error`` event (rate limit, per-address cap), as Sockethub sends it."""
    return {
        "type": "Error",
        "@context": list(_ERROR_CONTEXT),
        "actor": {"type": "Application", "name": "sockethub-server"},
        "summary": summary,
    }
