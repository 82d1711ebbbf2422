"""A Web Push service stand-in on 127.0.0.1: what a browser vendor's push service does.

It speaks https with a self-signed certificate (``ca_file``, given to a worker through
``SSL_CERT_FILE``) and takes RFC 8030 pushes at ``/push/<name>``. For each one it checks
what a real push service checks, independently of the code under test:

- the VAPID ``Authorization: vapid t=<JWT>,k=<key>`` (RFC 8292): the JWT's ES256
  signature against ``k``, ``k`` being the key the application server was set up with,
  ``aud`` this service's origin, ``exp`` in the future and within 24 h;
- the body decrypts (RFC 8291 ``aes128gcm``) with the subscription's private ECDH key and
  auth secret, which ``subscribe`` made as a browser would.

Every push is recorded in ``received`` (decrypted payload, or the reason it was refused);
``gone`` names subscriptions answered with 410.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = ["PushService", "Push", "b64url", "unb64url"]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    crt, pem = folder / "push-crt.pem", folder / "push-key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return crt, pem


@dataclass
class Push:
    name: str  # the subscription it was for
    payload: dict[str, Any] | None  # decrypted; None if refused
    error: str = ""  # why it was refused
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Subscriber:
    private: ec.EllipticCurvePrivateKey
    auth: bytes


class PushService:
    def __init__(self, folder: Path, vapid_public_key: str):
        self.ca_file, key_file = _self_signed(folder)
        self.vapid_public_key = vapid_public_key
        self.received: list[Push] = []
        self.gone: set[str] = set()
        self._subs: dict[str, _Subscriber] = {}
        self._cond = threading.Condition()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                status = service._take(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.ca_file), str(key_file))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.origin = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def subscribe(self, name: str, host: str | None = None) -> dict[str, Any]:
        """A browser's ``PushSubscription.toJSON()``: fresh ECDH key and auth secret."""
        private = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self._subs[name] = _Subscriber(private, auth)
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        origin = self.origin if host is None else f"https://{host}:{self.port}"
        return {
            "endpoint": f"{origin}/push/{name}",
            "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
        }

    def pushes(self, name: str | None = None) -> list[Push]:
        with self._cond:
            return [p for p in self.received if name is None or p.name == name]

    def wait(self, count: int, name: str | None = None, timeout: float = 15) -> list[Push]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(got := [p for p in self.received if name in (None, p.name)]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} push(es) for {name}, not {count}")
                self._cond.wait(left)
            return got

    # -- the service ---------------------------------------------------------------------
    def _take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        name = path.rsplit("/", 1)[-1]
        lower = {k.lower(): v for k, v in headers.items()}
        if name in self.gone:
            self._record(Push(name, None, "gone", lower))
            return 410
        sub = self._subs.get(name)
        if sub is None:
            self._record(Push(name, None, "unknown subscription", lower))
            return 404
        why = self._check_vapid(lower.get("authorization", ""))
        if why:
            self._record(Push(name, None, why, lower))
            return 403
        if lower.get("content-encoding") != "aes128gcm":
            self._record(Push(name, None, "not aes128gcm", lower))
            return 415
        try:
            plain = http_ece.decrypt(
                body, private_key=sub.private, auth_secret=sub.auth, version="aes128gcm"
            )
            payload = json.loads(plain)
        except Exception as exc:
            self._record(Push(name, None, f"does not decrypt: {exc!r}", lower))
            return 400
        self._record(Push(name, payload, "", lower))
        return 201

    def _record(self, push: Push) -> None:
        with self._cond:
            self.received.append(push)
            self._cond.notify_all()

    def _check_vapid(self, auth: str) -> str:
        scheme, _, params = auth.partition(" ")
        if scheme.lower() != "vapid":
            return f"not a vapid Authorization: {auth[:40]!r}"
        parts = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts.get("t", ""), parts.get("k", "")
        if key != self.vapid_public_key:
            return "k is not the application server's key"
        try:
            head, claims, sig = token.split(".")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            raw = unb64url(sig)
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            der = encode_dss_signature(r, s)
            public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature) as exc:
            return f"bad VAPID signature: {exc!r}"
        if json.loads(unb64url(head)).get("alg") != "ES256":
            return "JWT alg is not ES256"
        body = json.loads(unb64url(claims))
        if body.get("aud") != self.origin:
            return f"aud {body.get('aud')!r} is not {self.origin}"
        if not time.time() < int(body.get("exp", 0)) <= time.time() + 24 * 3600:
            return "exp not within 24 h"
        if not str(body.get("sub", "")).startswith(("mailto:", "https:")):
            return "no sub"
        return ""
