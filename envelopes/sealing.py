"""Sealing secrets with PyNaCl.

Each session has its own random 32-byte key. Credentials are sealed under it with an AEAD
whose associated data binds the ciphertext to the session, platform and actor, so a sealed
value copied to another session or field does not open. The session key itself is stored
only wrapped by a key derived from the server secret (``SOCKETHUB_SECRET``). Deleting the
wrapped key makes everything sealed under it unreadable for good.

A ``Keyring`` holds the key of the current secret and those of earlier ones
(``SOCKETHUB_SECRET_PREVIOUS``): it wraps with the current key only and unwraps with any,
saying when an earlier one opened it so the caller rewraps under the current key. That is
what lets the secret change while sessions live on (docs/deployment.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret
import nacl.utils

from .errors import CredentialsInvalid

__all__ = [
    "KEY_BYTES",
    "Keyring",
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


@dataclass(frozen=True)
class Keyring:
    """The server keys: ``current`` wraps, ``current`` or any of ``previous`` unwraps."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_secrets(cls, secret: str, previous: str | Sequence[str] = "") -> Keyring:
        earlier = [previous] if isinstance(previous, str) else list(previous)
        return cls(server_key(secret), tuple(server_key(p) for p in earlier if p))

    @classmethod
    def of(cls, keys: bytes | Keyring) -> Keyring:
        """A bare server key (one secret, nothing to rotate from) as a keyring."""
        return keys if isinstance(keys, Keyring) else cls(keys)

    def wrap(self, session_key: bytes, sid: str) -> bytes:
        return wrap_key(self.current, session_key, sid)

    def unwrap(self, wrapped: bytes, sid: str) -> tuple[bytes, bool]:
        """The session key, and whether an earlier secret wrapped it (rewrap it then)."""
        for index, server in enumerate((self.current, *self.previous)):
            try:
                return nacl.secret.Aead(server).decrypt(wrapped, sid.encode()), index > 0
            except nacl.exceptions.CryptoError:
                continue
        raise CredentialsInvalid(
            "the session key cannot be unwrapped with SOCKETHUB_SECRET"
            + (" or SOCKETHUB_SECRET_PREVIOUS" if self.previous else "")
            + " (was the secret changed without keeping the old one as "
            "SOCKETHUB_SECRET_PREVIOUS?)"
        )

    def connection_keys(self, identity: str, secret_bearing: bool, sid: str) -> list[str]:
        """The connection key under the current secret, then under each earlier one."""
        return [
            connection_key(server, identity, secret_bearing, sid)
            for server in (self.current, *self.previous)
        ]


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
