"""The WebSub callback of followed feeds: a hub's intent checks and content pushes.

``GET /websub/<feed id>`` (W3C WebSub §5.3): the hub checks that we asked. A
``subscribe`` for the topic the feed's record names, while that subscription is pending or
active, is confirmed by echoing ``hub.challenge``; the lease the hub grants is recorded so
the worker renews before it ends. ``denied`` (§5.2) is recorded (the worker keeps polling).
An ``unsubscribe`` is confirmed only for a feed nobody follows any more. Anything else:
404.

``POST /websub/<feed id>`` (§7, §8): new content. The body (at most
``SOCKETHUB_FETCH_MAX_BYTES``) counts only with a valid ``X-Hub-Signature`` under the
subscription's secret; an unsigned or badly signed one is ignored and counted
(``ws_bad``), answered ``202`` all the same, as §8 allows, so the secret cannot be probed.
A valid one is sealed under the server key into the feed's record and the feed made due
now: the feeds worker's poller takes it as the feed's new body (no upstream fetch). A feed
nobody follows answers ``410 Gone``, which tells the hub to drop the subscription.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, request

from envelopes import keys, websub
from envelopes.sealing import server_key
from envelopes.settings import Settings

__all__ = ["register"]

log = logging.getLogger("sockethub.websub")

MAX_LEASE = 30 * 86400  # a hub granting more is renewed as if it granted this

# Fields into a feed's record only while it exists: a feed dropped meanwhile stays dropped.
# KEYS: the feed, the schedule. ARGV: feed id, a due time (sooner only; "" for none), then
# field/value pairs.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], 'XX', 'LT', ARGV[2], ARGV[1]) end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def register(app: Flask, redis: Any, settings: Settings) -> None:
    server = server_key(settings.secret)
    script = redis.register_script(_UPDATE)

    def update(fid: str, due: float | None, **fields: Any) -> None:
        pairs = [x for k, v in fields.items() for x in (k, v)]
        script(
            keys=[keys.follow_feed(fid), keys.follow_due()],
            args=[fid, "" if due is None else due, *pairs],
        )

    @app.get(f"{websub.CALLBACK_PATH}<fid>")
    def websub_verify(fid: str) -> Any:
        args = request.args
        mode, topic = args.get("hub.mode", ""), args.get("hub.topic", "")
        challenge = args.get("hub.challenge", "")
        feed = keys.follow_feed(fid)
        if mode == "unsubscribe":
            return (challenge, 200) if not redis.exists(feed) else ("", 404)
        want, state = (_text(v) for v in redis.hmget(feed, "ws_topic", "ws_state"))
        if not want or topic != want:
            return "", 404
        if mode == "denied":
            update(fid, None, ws_state="denied", ws_denied=f"{time.time():.3f}")
            log.info("websub: the hub denied the subscription of %s", topic)
            return "", 200
        if mode != "subscribe" or state not in ("pending", "active") or not challenge:
            return "", 404
        try:
            lease = min(MAX_LEASE, max(1, int(args.get("hub.lease_seconds", "0"))))
        except ValueError:
            return "", 404
        now = time.time()
        renew = now + websub.RENEW_AT * lease
        update(
            fid,
            renew,  # the worker's poll that renews it (or sooner)
            ws_renew=f"{renew:.3f}",
            ws_state="active",
            ws_verified=f"{now:.3f}",
            ws_until=f"{now + lease:.3f}",
            ws_lease=lease,
        )
        return challenge, 200, {"Content-Type": "text/plain"}

    @app.post(f"{websub.CALLBACK_PATH}<fid>")
    def websub_push(fid: str) -> Any:
        feed = keys.follow_feed(fid)
        nonce = _text(redis.hget(feed, "ws_nonce"))
        if not redis.exists(feed):
            return "", 410
        if (request.content_length or 0) > settings.fetch_max_bytes:
            return "", 413
        body = request.stream.read(settings.fetch_max_bytes + 1)
        if not nonce or len(body) > settings.fetch_max_bytes:
            return "", 413 if nonce else 202
        secret = websub.secret_for(server, fid, nonce)
        if not websub.signature_ok(secret, body, request.headers.get("X-Hub-Signature")):
            redis.hincrby(feed, "ws_bad", 1)
            log.info("websub: a push for feed %s without a valid signature, ignored", fid)
            return "", 202
        update(
            fid,
            time.time(),
            ws_push=websub.seal_push(server, fid, body),
            ws_type=request.headers.get("Content-Type", ""),
        )
        return "", 202
