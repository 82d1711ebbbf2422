"""A session's browser push subscriptions, sealed at rest under the session's key.

A subscription (the browser's ``PushSubscription.toJSON()``) is ``{endpoint, keys:
{p256dh, auth}}``. Its endpoint is a capability URL (whoever has it can push to that
browser) and its keys decrypt what is pushed, so each is sealed under the session's own
key (``envelopes.atrest``), with associated data naming the session and the endpoint's
digest: it dies with the session. Stored in ``keys.session_push(sid)``, one field per
endpoint digest, expiring with the session's other keys (``gateway.sessions``).

The gateway adds and removes them (``gateway/push.py``); the worker reads them to push
and removes those the push service says are gone (404/410).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from . import keys
from .atrest import AtRest, seal, unseal
from .errors import InvalidFrame, SockethubError, TooLarge

__all__ = ["PushSubscriptions", "validate_subscription", "MAX_SUBSCRIPTIONS_CAP", "digest"]

MAX_SUBSCRIPTIONS_CAP = 32  # cap of SOCKETHUB_PUSH_MAX_SUBSCRIPTIONS
MAX_ENDPOINT = 2048  # characters; push services' URLs are a few hundred


def digest(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def _b64url(value: Any, path: str, size: int | None) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        raise InvalidFrame(f"{path} must be a base64url string", path=path)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        raise InvalidFrame(f"{path} is not base64url", path=path) from None
    if size is not None and len(raw) != size:
        raise InvalidFrame(f"{path} must decode to {size} bytes, not {len(raw)}", path=path)
    return value


def validate_subscription(sub: Any) -> dict[str, Any]:
    """The subscription as stored, or ``InvalidFrame`` naming the field. The endpoint's
    address is checked by the caller (the guard); here only its form."""
    if not isinstance(sub, dict):
        raise InvalidFrame("subscription must be an object {endpoint, keys}", path="subscription")
    endpoint = sub.get("endpoint")
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT:
        raise InvalidFrame(
            f"subscription.endpoint must be a URL of at most {MAX_ENDPOINT} characters",
            path="subscription.endpoint",
        )
    if not endpoint.lower().startswith("https://"):
        raise InvalidFrame(
            "subscription.endpoint must be an https URL (RFC 8030)", path="subscription.endpoint"
        )
    got = sub.get("keys")
    if not isinstance(got, dict):
        raise InvalidFrame("subscription.keys must hold p256dh and auth", path="subscription.keys")
    # p256dh: an uncompressed P-256 point (65 bytes); auth: 16 bytes (RFC 8291 §3).
    p256dh = _b64url(got.get("p256dh"), "subscription.keys.p256dh", 65)
    auth = _b64url(got.get("auth"), "subscription.keys.auth", 16)
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PushSubscriptions:
    def __init__(self, redis: Any, atrest: AtRest):
        self.redis = redis
        self.atrest = atrest

    def add(self, sid: str, sub: dict[str, Any], limit: int, ttl: int) -> int:
        """Store ``sub`` (validated); the session's count after. Re-adding an endpoint
        replaces it (new keys) and does not count twice."""
        limit = max(1, min(limit, MAX_SUBSCRIPTIONS_CAP))
        name = keys.session_push(sid)
        field = digest(sub["endpoint"])
        have = {_text(f) for f in self.redis.hkeys(name)}
        if field not in have and len(have) >= limit:
            raise TooLarge(
                f"this session has {len(have)} push subscriptions, the most it may "
                f"(SOCKETHUB_PUSH_MAX_SUBSCRIPTIONS={limit}); remove one first"
            )
        key = self.atrest.session_key(sid)
        sealed = seal(key, json.dumps(sub, separators=(",", ":")).encode(), "push", sid, field)
        pipe = self.redis.pipeline()
        pipe.hset(name, field, sealed)
        pipe.expire(name, ttl)
        pipe.execute()
        return len(have | {field})

    def remove(self, sid: str, endpoint_digest: str) -> bool:
        return bool(self.redis.hdel(keys.session_push(sid), endpoint_digest))

    def load(self, sid: str) -> list[tuple[str, dict[str, Any]]]:
        """``(digest, subscription)`` of each one that opens; none once the session ended."""
        raw = self.redis.hgetall(keys.session_push(sid))
        if not raw:
            return []
        try:
            key = self.atrest.session_key(sid)
        except SockethubError:
            return []
        out = []
        for field, sealed in raw.items():
            name = _text(field)
            try:
                sub = json.loads(unseal(key, bytes(sealed), "push", sid, name))
            except (SockethubError, ValueError):
                continue
            out.append((name, sub))
        return out
