"""WebSub's shared rules: the per-subscription secret, X-Hub-Signature, sealed pushes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from envelopes.errors import SockethubError
from envelopes.sealing import server_key
from envelopes.websub import callback_url, open_push, seal_push, secret_for, signature_ok

SERVER = server_key("test-secret-0123456789abcdef")


def sign(secret: str, body: bytes, method: str = "sha256") -> str:
    return f"{method}=" + hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()


def test_secrets_differ_per_feed_and_nonce() -> None:
    assert secret_for(SERVER, "f1", "n1") == secret_for(SERVER, "f1", "n1")
    assert len({secret_for(SERVER, f, n) for f in ("f1", "f2") for n in ("n1", "n2")}) == 4


def test_signature_check() -> None:
    secret, body = secret_for(SERVER, "f", "n"), b"<rss/>"
    for method in ("sha1", "sha256", "sha384", "sha512"):
        assert signature_ok(secret, body, sign(secret, body, method))
    assert signature_ok(secret, body, sign(secret, body).upper().replace("SHA256", "sha256"))
    assert not signature_ok(secret, body + b" ", sign(secret, body))
    assert not signature_ok(secret, body, sign("other", body))
    for header in (None, "", "sha256", "md5=" + hashlib.md5(body).hexdigest(), "=abc"):
        assert not signature_ok(secret, body, header)


def test_pushes_are_sealed_to_their_feed() -> None:
    sealed = seal_push(SERVER, "f1", b"body")
    assert b"body" not in sealed and open_push(SERVER, "f1", sealed) == b"body"
    with pytest.raises(SockethubError):
        open_push(SERVER, "f2", sealed)
    assert callback_url("https://e.org/", "abc") == "https://e.org/websub/abc"
