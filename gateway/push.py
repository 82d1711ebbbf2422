"""The ``push`` frame: a session registers (or removes) a browser push subscription.

    {"kind": "push", "id": "p1", "subscription": {"endpoint", "keys": {"p256dh", "auth"}}}
    {"kind": "push", "id": "p2", "remove": "<endpoint>"}

answered by a ``reply`` with that id: ``result {type: "push", subscriptions: <count>}``,
or failed (``refused`` when push is off here, ``blocked-address`` for an endpoint the
address guard refuses, ``too-large`` past ``SOCKETHUB_PUSH_MAX_SUBSCRIPTIONS``,
``invalid-frame`` for a malformed one). The endpoint's host is resolved and checked now,
as every URL a browser names is (``connectors/net/guard.py``), and again at each push.
Stored sealed under the session's key (``envelopes/pushsubs.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectors.net.guard import resolve_checked
from envelopes.errors import BlockedAddress, InvalidFrame, Refused
from envelopes.outbox import reply_frame
from envelopes.pushsubs import PushSubscriptions, digest, validate_subscription

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["handle_push", "vapid_public_key"]


def vapid_public_key(private_key: str) -> str:
    """The application server key for the welcome (``push.vapidPublicKey``)."""
    from connectors.net.webpush import public_key_of

    return public_key_of(private_key)


def _check_endpoint(endpoint: str, allow_private: bool) -> None:
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname or "", parts.port or 443
    except ValueError:
        raise InvalidFrame(
            "subscription.endpoint is not a URL", path="subscription.endpoint"
        ) from None
    try:
        resolve_checked(host, port, allow_private)
    except BlockedAddress as exc:
        raise BlockedAddress(f"push endpoint refused: {exc.message}") from None


def handle_push(hub: Hub, sid: str, rid: str, frame: dict[str, Any]) -> dict[str, Any]:
    """The reply frame for one ``push`` frame; raises ``SockethubError`` to refuse it."""
    s = hub.settings
    if not s.vapid_private_key:
        raise Refused(
            "Web Push is off on this gateway (no SOCKETHUB_VAPID_PRIVATE_KEY); the welcome "
            "has no push.vapidPublicKey when it is"
        )
    subs = PushSubscriptions(hub.redis, hub.atrest)
    if "remove" in frame:
        endpoint = frame["remove"]
        if not isinstance(endpoint, str):
            raise InvalidFrame("remove must be the subscription's endpoint", path="remove")
        subs.remove(sid, digest(endpoint))
        count = len(subs.load(sid))
    else:
        sub = validate_subscription(frame.get("subscription"))
        _check_endpoint(sub["endpoint"], s.allow_private_addresses)
        count = subs.add(sid, sub, s.push_max_subscriptions, hub.sessions.attached_ttl)
    return reply_frame(rid, {"type": "push", "subscriptions": count})
