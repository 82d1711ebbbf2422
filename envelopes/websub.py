"""WebSub (W3C Recommendation, 2018) as the gateway and the feeds worker both need it.

The worker subscribes a followed feed at its hub (``connectors/feeds/websub.py``); the
hub checks our intent with a GET to the gateway's callback and then POSTs new content
there (``gateway/websub.py``). What both sides must agree on lives here, standard library
and PyNaCl only, so the gateway loads no feed library:

* the callback path, ``/websub/<feed id>``;
* each subscription's ``hub.secret``, derived from the server key, the feed id and a
  nonce stored with the feed (``ws_nonce``), so no secret is ever stored;
* the ``X-Hub-Signature`` check (§8: ``method=hex``, HMAC of the body with the secret;
  sha1, sha256, sha384 and sha512 accepted);
* a pushed body, sealed under the server key before it goes into Redis for the worker.
"""

from __future__ import annotations

import hashlib
import hmac

from .atrest import seal, unseal

__all__ = [
    "RENEW_AT",
    "CALLBACK_PATH",
    "callback_url",
    "secret_for",
    "signature_ok",
    "seal_push",
    "open_push",
]

CALLBACK_PATH = "/websub/"
RENEW_AT = 0.75  # of the lease a hub grants: the worker renews then
_METHODS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


def callback_url(public_url: str, fid: str) -> str:
    return f"{public_url.rstrip('/')}{CALLBACK_PATH}{fid}"


def secret_for(server: bytes, fid: str, nonce: str) -> str:
    """The ``hub.secret`` of one subscription (hex; §5.1 allows up to 200 bytes)."""
    return hmac.new(server, f"websub\n{fid}\n{nonce}".encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or "=" not in header:
        return False
    method, _, given = header.partition("=")
    digest = _METHODS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def seal_push(server: bytes, fid: str, body: bytes) -> bytes:
    return seal(server, body, "websub push", fid)


def open_push(server: bytes, fid: str, sealed: bytes) -> bytes:
    return unseal(server, sealed, "websub push", fid)
