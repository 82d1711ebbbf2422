"""One Web Push message: RFC 8291 encryption, RFC 8292 VAPID, through the guarded client.

``pywebpush`` encrypts the payload (``aes128gcm``, RFC 8188/8291) for the subscription's
``p256dh`` key and ``auth`` secret, and ``py_vapid`` signs the VAPID JWT (ES256, RFC 8292
§2: ``aud`` the endpoint's origin, ``exp`` within 24 h, ``sub`` the operator's contact).
The POST itself (RFC 8030 §5) goes through ``connectors.net.http.fetch`` like every other
outbound request: the endpoint came from a browser, so its host passes the address guard
(https and public addresses only unless ``SOCKETHUB_ALLOW_PRIVATE_ADDRESSES``), and the
socket goes to the checked address. Blocking: called from a worker's push thread, never
from the loop.
"""

from __future__ import annotations

import base64
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from envelopes.errors import BlockedAddress

from .http import fetch

__all__ = ["Vapid", "push", "public_key_of", "new_vapid_pair", "GONE"]

GONE = (404, 410)  # RFC 8030 §7.3: the subscription expired or was removed
TTL = 24 * 3600  # seconds a push service may hold the message for an offline browser
_EXP = 12 * 3600  # the JWT's lifetime (RFC 8292 §2: at most 24 hours)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_key_of(private_key: str) -> str:
    """The application server key a browser subscribes with (``applicationServerKey``):
    the uncompressed P-256 point, base64url."""
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid02

    vapid = Vapid02.from_string(private_key)
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(raw)


def new_vapid_pair() -> tuple[str, str]:
    """``(private, public)``: a fresh key pair, base64url (raw private scalar)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = _b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    return private, public_key_of(private)


@dataclass(frozen=True)
class Vapid:
    private_key: str
    subject: str

    def headers(self, endpoint: str) -> dict[str, str]:
        from py_vapid import Vapid02

        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": self.subject,
            "exp": int(time.time()) + _EXP,
        }
        signed: dict[str, str] = Vapid02.from_string(self.private_key).sign(claims)
        return {"Authorization": signed["Authorization"]}


def push(
    subscription: dict[str, Any],
    data: bytes,
    vapid: Vapid,
    *,
    allow_private: bool,
    timeout: float,
    urgency: str = "high",
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """Send ``data`` to the subscription's push service; the HTTP status it answered
    (201 accepted; 404/410 gone). Errors are ``envelopes.errors`` ones (blocked address,
    unreachable, timeout, TLS)."""
    from pywebpush import WebPusher

    endpoint = str(subscription["endpoint"])
    if urlsplit(endpoint).scheme.lower() != "https":
        raise BlockedAddress(f"push endpoints must be https URLs: {endpoint[:80]}")
    body = WebPusher(subscription).encode(data, "aes128gcm")["body"]
    headers = {
        **vapid.headers(endpoint),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL),
        "Urgency": urgency,  # RFC 8030 §5.3: someone spoke to the user
    }
    answer = fetch(
        endpoint,
        method="POST",
        body=bytes(body),
        headers=headers,
        allow_private=allow_private,
        any_status=True,
        max_redirects=0,
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
        total_timeout=timeout,
        max_bytes=65536,
        ssl_context=ssl_context,
    )
    return answer.status
