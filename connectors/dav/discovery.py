"""Finding a user's calendars or address books (RFC 6764 §6, RFC 4791 §6.2, RFC 6352 §7.1).

From the credentials' ``url``: ``PROPFIND`` (depth 0) for ``current-user-principal`` and
the home set; if the URL knows neither, the same on ``/.well-known/caldav`` (or
``carddav``); then the principal's home set if still missing; then ``PROPFIND`` depth 1 on
the home, keeping the members whose ``resourcetype`` is a calendar (address book). Every
href is resolved against the answer's URL and must stay on the service's origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from envelopes.errors import NotFound, UpstreamError, condition_detail

from .client import DavClient, origin_of, status_error
from .xml import Entry, parse_multistatus, propfind, tag, text_of

__all__ = ["Kind", "discover", "multistatus"]


@dataclass(frozen=True)
class Kind:
    """What differs between CalDAV and CardDAV discovery."""

    platform: str  # "caldav"
    home: str  # "c:calendar-home-set"
    collection: str  # "c:calendar": the resourcetype of a collection we list
    well_known: str  # "/.well-known/caldav"
    props: tuple[str, ...]  # asked of each collection
    describe: Callable[[str, Entry], dict[str, Any]]  # (absolute URL, entry) → item


def multistatus(client: DavClient, method: str, url: str, body: bytes, depth: str) -> list[Entry]:
    """``method`` on ``url``, which must answer 207; its entries with absolute hrefs."""
    headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}
    response = client.request(method, url, body=body, headers=headers)
    if response.status != 207:
        raise status_error(client.platform, "query", response, f"{method} {url}")
    entries = parse_multistatus(response.body, url, client.platform)
    for entry in entries:
        entry.href = urljoin(response.url, entry.href)
        if origin_of(entry.href) != client.origin:
            raise UpstreamError(
                f"{url} named {entry.href}, on another server; refused",
                details=[condition_detail(client.platform, "unsafe-redirect")],
            )
    return entries


def _href(entry: Entry, name: str) -> str | None:
    found = entry.props.get(tag(name))
    if found is None:
        return None
    href = found.find(tag("d:href"))
    return urljoin(entry.href, text_of(href)) if href is not None and text_of(href) else None


def _first(client: DavClient, url: str, home: str) -> tuple[str | None, str | None]:
    body = propfind(["d:current-user-principal", home])
    for entry in multistatus(client, "PROPFIND", url, body, "0")[:1]:
        return _href(entry, "d:current-user-principal"), _href(entry, home)
    return None, None


def discover(client: DavClient, kind: Kind) -> list[dict[str, Any]]:
    url = client.account.url
    try:
        principal, home = _first(client, url, kind.home)
    except (NotFound, UpstreamError):
        principal = home = None
    if principal is None and home is None:
        principal, home = _first(client, urljoin(url, kind.well_known), kind.home)
    if home is None and principal is not None:
        _, home = _first(client, principal, kind.home)
    if home is None:
        raise NotFound(
            f"{url} names no {kind.platform} home for this account",
            details=[condition_detail(kind.platform, f"not-{kind.platform}")],
        )
    body = propfind(["d:resourcetype", "d:displayname", *kind.props])
    found = []
    for entry in multistatus(client, "PROPFIND", home, body, "1"):
        types = entry.props.get(tag("d:resourcetype"))
        if types is not None and types.find(tag(kind.collection)) is not None:
            found.append(kind.describe(entry.href, entry))
    return found
