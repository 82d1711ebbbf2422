"""Subscribing followed feeds at their WebSub hub (W3C WebSub): when, and how.

A feed that names a hub (``<link rel="hub">``, with ``rel="self"`` as the topic, else the
URL we follow) is subscribed when the deployment has a public URL for hubs to call back
(``SOCKETHUB_PUBLIC_URL``): a form POST to the hub (§5.1) through the guarded client, with
``hub.callback`` = ``<public URL>/websub/<feed id>`` and a ``hub.secret`` derived per
subscription (``envelopes.websub``). The hub then checks our intent with a GET to the
gateway (``gateway/websub.py``), which records the lease granted.

``due`` says when (``subscribe_due``): never without a hub or a public URL; at once for a
feed never subscribed, or whose hub changed; again ``RETRY`` seconds after a request the
hub never verified, or one it denied; and at three quarters of the granted lease, so it
is renewed before it ends. Polling never stops: while a subscription is active the feed
is polled at the longest interval only, as a safety net, and at the renewal time; a
subscription that fails or lapses leaves the feed polled as before.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from envelopes.errors import SockethubError
from envelopes.websub import RENEW_AT, callback_url, open_push, secret_for

from ..net.cache import Cached
from .follows import Follows

__all__ = [
    "RETRY",
    "RENEW_AT",
    "Subscribe",
    "Subscriber",
    "active_until",
    "renew_at",
    "request",
    "subscribe_due",
]

log = logging.getLogger("sockethub.follow")

RETRY = 300.0  # seconds before asking again a hub that did not verify, or denied

# hub URL, form body → raises an ``envelopes.errors`` error if the hub refused
Subscribe = Callable[[str, bytes], None]


def _float(state: Mapping[str, str], name: str) -> float:
    try:
        return float(state.get(name) or 0)
    except ValueError:
        return 0.0


def active_until(state: Mapping[str, str], now: float) -> float | None:
    """When the active subscription's lease ends; None when none is active."""
    until = _float(state, "ws_until")
    return until if state.get("ws_state") == "active" and until > now else None


def renew_at(state: Mapping[str, str]) -> float | None:
    if state.get("ws_state") != "active":
        return None
    return _float(state, "ws_renew") or _float(state, "ws_verified") + RENEW_AT * _float(
        state, "ws_lease"
    )


def subscribe_due(state: Mapping[str, str], hub: str | None, public_url: str, now: float) -> bool:
    if not hub or not public_url:
        return False
    if state.get("ws_hub") != hub:
        return True
    status = state.get("ws_state")
    if status in ("pending", "denied", "failed"):
        return now - _float(state, "ws_asked") >= RETRY
    if status == "active":
        renew = renew_at(state)
        return renew is None or now >= renew
    return True


def request(
    server: bytes, fid: str, public_url: str, topic: str, lease: float, nonce: str = ""
) -> tuple[dict[str, str], bytes]:
    """(the fields to record, the form body of a ``subscribe`` request). A renewal keeps
    the subscription's ``nonce``, so its secret: the hub may push with the old one until
    it has verified the renewal."""
    nonce = nonce or secrets.token_hex(8)
    form = {
        "hub.mode": "subscribe",
        "hub.topic": topic,
        "hub.callback": callback_url(public_url, fid),
        "hub.secret": secret_for(server, fid, nonce),
        "hub.lease_seconds": str(int(lease)),
    }
    return {"ws_nonce": nonce, "ws_topic": topic}, urlencode(form).encode()


class Subscriber:
    """The poller's WebSub part: pushed bodies in, subscriptions out, the schedule bent."""

    def __init__(
        self, follows: Follows, server: bytes, public_url: str, lease: float, post: Subscribe
    ) -> None:
        self.follows = follows
        self.server = server
        self.public_url = public_url
        self.lease = lease
        self.post = post

    def pushed(self, fid: str, url: str) -> Cached | None:
        """The body a hub pushed since the last poll, as the cache would give it."""
        taken = self.follows.take_push(fid)
        if taken is None:
            return None
        try:
            body = open_push(self.server, fid, taken[0])
        except SockethubError:  # sealed under a secret rotated since: poll instead
            return None
        return Cached(
            url=url,
            final_url=url,
            content_type=taken[1] or None,
            digest=hashlib.sha256(body).hexdigest()[:32],
            etag=None,
            last_modified=None,
            fetched=time.time(),
            source="pushed",
            packed=zlib.compress(body, 1),
        )

    def maybe_subscribe(
        self, fid: str, state: Mapping[str, str], fields: dict[str, str | float | int], now: float
    ) -> None:
        """Subscribe (or renew) when due; what to record goes into ``fields``."""
        hub = str(fields.get("hub", state.get("hub")) or "") or None
        if not subscribe_due(state, hub, self.public_url, now):
            return
        assert hub is not None
        topic = str(fields.get("self", state.get("self")) or "") or state["url"]
        nonce = state.get("ws_nonce", "") if state.get("ws_hub") == hub else ""
        record, form = request(self.server, fid, self.public_url, topic, self.lease, nonce)
        fields.update(record, ws_hub=hub, ws_asked=round(now, 3))
        try:
            self.post(hub, form)
        except SockethubError as exc:  # polling goes on; asked again after RETRY
            log.info("websub: the hub %s refused the subscription of %s: %s", hub, topic, exc)
            fields["ws_state"] = "failed"
            return
        fields["ws_state"] = "pending"

    def due(self, state: Mapping[str, str], due: float, now: float, longest: float) -> float:
        """While pushes come, poll at the longest interval only, and renew in time."""
        until = active_until(state, now)
        if until is None:
            return due
        due = max(due, now + longest)
        renew = renew_at(state)
        return min(due, until, renew) if renew and renew > now else min(due, until)
