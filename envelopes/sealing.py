"""Sealing secrets with PyNaCl.

Each session has its own random 32-byte key. Credentials are sealed under it with an AEAD
whose associated data binds the ciphertext to the session, platform and actor, so a sealed
value copied to another session or field does not open. The session key itself is stored
only wrapped by a key derived from the server secret (``SOCKETHUB_SECRET``). Deleting the
wrapped key makes everything sealed under it unreadable for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret
import nacl.utils

from .errors import CredentialsInvalid

__all__ = [
    "KEY_BYTES",
    "new_session_key",
    "new_token",
    "token_digest",
    "tokens_match",
    "server_key",
    "wrap_key",
    "unwrap_key",
    "seal_json",
    "open_json",
    "connection_key",
]

KEY_BYTES = nacl.secret.Aead.KEY_SIZE


def new_session_key() -> bytes:
    return nacl.utils.random(KEY_BYTES)


def new_token() -> str:
    """A resume token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored instead of the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


def server_key(secret: str) -> bytes:
    """Derive the wrapping key from the operator's secret string."""
    return nacl.hash.blake2b(
        secret.encode(),
        digest_size=KEY_BYTES,
        person=b"sockethub-wrap",
        encoder=nacl.encoding.RawEncoder,
    )


def wrap_key(server: bytes, session_key: bytes, sid: str) -> bytes:
    return bytes(nacl.secret.Aead(server).encrypt(session_key, sid.encode()))


def unwrap_key(server: bytes, wrapped: bytes, sid: str) -> bytes:
    try:
        return nacl.secret.Aead(server).decrypt(wrapped, sid.encode())
    except nacl.exceptions.CryptoError:
        raise CredentialsInvalid(
            "the session key cannot be unwrapped (was SOCKETHUB_SECRET changed?)"
        ) from None


def seal_json(key: bytes, value: Any, aad: str) -> bytes:
    data = json.dumps(value, separators=(",", ":")).encode()
    return bytes(nacl.secret.Aead(key).encrypt(data, aad.encode()))


def open_json(key: bytes, sealed: bytes, aad: str) -> Any:
    try:
        return json.loads(nacl.secret.Aead(key).decrypt(sealed, aad.encode()))
    except nacl.exceptions.CryptoError:
        raise CredentialsInvalid("stored credentials cannot be opened") from None


def connection_key(server: bytes, identity: str, secret_bearing: bool, sid: str) -> str:
    """The key of an upstream connection: equal only for identical secret-bearing
    credentials; without a secret the session id is mixed in, so nobody shares it.

    A keyed hash, so the key reveals nothing of the credentials it was made from.
    """
    data = identity if secret_bearing else f"{identity}\x1f{sid}"
    return nacl.hash.blake2b(
        data.encode(),
        key=server,
        digest_size=16,
        person=b"sockethub-conn",
        encoder=nacl.encoding.HexEncoder,
    ).decode()
