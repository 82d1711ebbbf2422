"""A WebSub hub stand-in (W3C WebSub §5, §7) on 127.0.0.1, for the follow tests.

``POST /`` takes a subscription request (form fields ``hub.mode``, ``hub.topic``,
``hub.callback``, ``hub.secret``, ``hub.lease_seconds``), answers ``202 Accepted`` and
then, as a hub does, verifies the subscriber's intent with a GET to the callback carrying
a ``hub.challenge``: the subscription counts only if the callback echoes it. Every request
is kept (``requests``, with the time it came), and every verified subscription
(``subscriptions``: topic → the latest one).

``publish(topic, body)`` POSTs ``body`` to the topic's subscriber with
``X-Hub-Signature: sha256=<HMAC of the body under its secret>``; ``secret=`` signs with
another one. Each answer's status is returned.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

__all__ = ["Hub", "Subscription"]


@dataclass
class Subscription:
    topic: str
    callback: str
    secret: str
    lease: int
    verified_at: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(size).decode()).items()}
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.owner.asked(form)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: Hub


class Hub:
    def __init__(self, lease: int | None = None) -> None:
        self.grant = lease  # the lease granted; None: what was asked
        self.requests: list[tuple[float, dict[str, str]]] = []
        self.subscriptions: dict[str, Subscription] = {}
        self.verifications: list[tuple[float, str, bool]] = []  # when, topic, echoed
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def asked(self, form: dict[str, str]) -> None:
        with self.lock:
            self.requests.append((time.time(), form))
        threading.Thread(target=self._verify, args=(form,), daemon=True).start()

    def _verify(self, form: dict[str, str]) -> None:
        time.sleep(0.05)  # §5.3: verification comes after the 202
        lease = self.grant or int(form.get("hub.lease_seconds") or 3600)
        challenge = secrets.token_hex(8)
        query = urlencode(
            {
                "hub.mode": form["hub.mode"],
                "hub.topic": form["hub.topic"],
                "hub.challenge": challenge,
                "hub.lease_seconds": lease,
            }
        )
        try:
            with urllib.request.urlopen(f"{form['hub.callback']}?{query}", timeout=5) as got:
                ok = got.status == 200 and got.read().decode() == challenge
        except (urllib.error.URLError, OSError):
            ok = False
        with self.lock:
            self.verifications.append((time.time(), form["hub.topic"], ok))
            if ok and form["hub.mode"] == "subscribe":
                self.subscriptions[form["hub.topic"]] = Subscription(
                    form["hub.topic"],
                    form["hub.callback"],
                    form.get("hub.secret", ""),
                    lease,
                    time.time(),
                )

    def publish(self, topic: str, body: bytes, secret: str | None = None) -> int:
        with self.lock:
            sub = self.subscriptions[topic]
        key = sub.secret if secret is None else secret
        signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            sub.callback,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/rss+xml",
                "X-Hub-Signature": f"sha256={signature}",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as got:
                return int(got.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
