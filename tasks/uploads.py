"""Sending a file the gateway received on to the server's upload slot (XEP-0363 §6).

The gateway's task (``envelopes.uploads.UPLOAD_TASK``) names the upload and its session;
any worker of the platform runs it: the slot and the chunks come out of Redis, the file
goes out in one ``PUT`` through the guarded HTTP client (the slot URL's addresses are
checked like every other outbound request: private ones only with
``SOCKETHUB_ALLOW_PRIVATE_ADDRESSES``), with the slot's headers, and the answer goes back
to the gateway waiting on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from connectors.net.http import fetch
from envelopes.errors import SockethubError, UpstreamTimeout, internal_error
from envelopes.uploads import Uploads

__all__ = ["send_upload"]

log = logging.getLogger("sockethub.upload")

Put = Callable[..., Any]  # ``connectors.net.http.fetch``'s signature


def send_upload(
    redis: Any, atrest: Any, settings: Any, payload: dict[str, Any], put: Put = fetch
) -> None:
    store = Uploads(redis, atrest, settings.upload_ttl, settings.upload_timeout)
    digest, sid = str(payload["upload"]), str(payload["session"])
    try:
        claimed, slot = store.open(digest, sid)
    except SockethubError as exc:  # nobody to answer: the gateway's wait times out
        log.info("upload %s… of %s not sent: %s", digest[:8], sid, exc.message)
        return
    try:
        remaining = float(payload.get("deadline", 0)) - time.time()
        if remaining <= 1:
            raise UpstreamTimeout("the upload waited too long for a worker")
        headers = dict(slot.get("headers") or {})
        headers["Content-Type"] = slot.get("mediaType") or "application/octet-stream"
        put(
            slot["put"],
            method="PUT",
            body=store.read(claimed),
            headers=headers,
            allow_private=settings.allow_private_addresses,
            max_bytes=64 * 1024,  # the server's answer to a PUT is short
            connect_timeout=min(10.0, remaining),
            read_timeout=remaining,
            total_timeout=remaining,
            max_redirects=0,  # a slot is one URL (XEP-0363 §6)
        )
        obj = {
            "type": "file",
            "url": slot["get"],
            "name": slot.get("name", ""),
            "size": claimed.size,
            "mediaType": headers["Content-Type"],
        }
        answer: dict[str, Any] = {"status": "completed", "object": obj}
    except SockethubError as exc:
        answer = {"status": "failed", "error": exc.to_dict()}
    except Exception as exc:
        answer = {"status": "failed", "error": internal_error(log, "upload PUT", exc).to_dict()}
    store.finish(claimed, answer)
