"""The ``upload`` verb (XEP-0363): find the upload service, get a slot, offer it.

Runs in the task thread except for the two iq round trips, which run on the loop. The
size is checked against ``SOCKETHUB_UPLOAD_MAX_BYTES`` before asking anything, and
against the service's ``max-file-size`` before asking for a slot; the slot's PUT URL
goes through the guard; then the slot is ``offer``ed to the session (sealed in Redis)
and the reply carries the one-time gateway URL the browser PUTs the file to.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from envelopes.errors import Refused, SockethubError, TooLarge, condition_detail
from envelopes.uploads import MAX_BYTES_CAP

from .outbound import check_text
from .upload import (
    check_slot_url,
    max_file_size,
    offers_upload,
    read_slot,
    slot_request,
)

if TYPE_CHECKING:
    from ..base import Job
    from .client import XmppUpstream
    from .connector import XmppConnector

__all__ = ["GATEWAY_PATH", "ServiceCache", "upload", "find_service"]

GATEWAY_PATH = "/sockethub-upload/"  # gateway/uploads.py
SERVICE_CACHE_SECONDS = 600.0
_MAX_SERVICES = 1000  # domains whose upload service one worker remembers
# domain → (until, (service JID, its max-file-size)); one per connector
ServiceCache = dict[str, tuple[float, tuple[str, int | None]]]


async def find_service(up: XmppUpstream, timeout: float) -> tuple[str, int | None] | None:
    """The upload service of our server and its size limit (§3): our domain itself, or
    one of its disco items; None if there is none."""
    assert up.xmpp is not None

    async def info(jid: str) -> Any:
        iq = up.xmpp.Iq(stype="get", sto=jid)  # type: ignore[union-attr]
        iq.enable("disco_info")
        try:
            return await up.iq(iq, timeout, f"disco#info of {jid}")
        except SockethubError:
            return None

    own = await info(up.domain)
    if own is not None and offers_upload(own):
        return up.domain, max_file_size(own)
    iq = up.xmpp.Iq(stype="get", sto=up.domain)
    iq.enable("disco_items")
    items = await up.iq(iq, timeout, f"disco#items of {up.domain}")
    for item in items.iter("{http://jabber.org/protocol/disco#items}item"):
        jid = item.get("jid") or ""
        if not jid:
            continue
        answer = await info(jid)
        if answer is not None and offers_upload(answer):
            return jid, max_file_size(answer)
    return None


async def _slot(
    up: XmppUpstream, service: str, name: str, size: int, media: str, timeout: float
) -> dict[str, Any]:
    assert up.xmpp is not None
    iq = up.xmpp.Iq(stype="get", sto=service)
    iq.append(slot_request(name, size, media))
    return read_slot(await up.iq(iq, timeout, "the upload slot request"))


def _service(conn: XmppConnector, job: Job, up: XmppUpstream) -> tuple[str, int | None]:
    cache = conn.upload_services
    hit = cache.get(up.domain)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    found = conn.runtime.call(job, find_service(up, job.remaining))
    if found is None:
        raise Refused(
            f"{up.domain} offers no HTTP file upload (XEP-0363)",
            details=[condition_detail("xmpp", "feature-not-implemented", feature="upload")],
        )
    if len(cache) >= _MAX_SERVICES:
        cache.clear()
    cache[up.domain] = (time.monotonic() + SERVICE_CACHE_SECONDS, found)
    return found


def upload(conn: XmppConnector, job: Job) -> dict[str, Any]:
    obj = dict(job.activity["object"])
    name = check_text(str(obj["name"]), "object.name")
    size, media = int(obj["size"]), str(obj.get("mediaType") or "application/octet-stream")
    check_text(media, "object.mediaType")
    cap = min(conn.settings.upload_max_bytes, MAX_BYTES_CAP)
    if size > cap:
        raise TooLarge(
            f"the file is {size} bytes; uploads are limited to {cap} bytes here "
            "(SOCKETHUB_UPLOAD_MAX_BYTES)",
            path="object.size",
        )
    up = conn._up(job)
    service, server_cap = _service(conn, job, up)
    if server_cap is not None and size > server_cap:
        raise TooLarge(
            f"the file is {size} bytes; {service} accepts at most {server_cap} bytes",
            path="object.size",
        )
    slot = conn.runtime.call(job, _slot(up, service, name, size, media, job.remaining))
    check_slot_url(slot["put"], conn.settings.allow_private_addresses, up.resolver)
    slot.update(name=name, mediaType=media)
    token, expires = conn.uploads.offer(job.session, "xmpp", size, slot)
    stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj.update(mediaType=media, upload={"url": f"{GATEWAY_PATH}{token}", "expires": stamp})
    return {**job.activity, "object": obj}
