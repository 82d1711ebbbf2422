"""The CardDAV connector (RFC 6352): address books and their contacts (vCard 3.0 and 4.0).

``fetch`` lists the account's address books; ``query`` runs an ``addressbook-query``
REPORT: with ``text``, a case-insensitive *contains* on the ``fields`` asked for (FN and
N, EMAIL, TEL, ORG; all by default), matched again here so a server that ignores part of
the filter answers the same; without, every card. ``limit`` (and
``SOCKETHUB_DAV_MAX_ITEMS``) cut the list. The verbs that write are
``connectors.dav.connector``'s.
"""

from __future__ import annotations

from typing import Any

from ..dav.client import DavClient
from ..dav.connector import DavConnector
from ..dav.discovery import Kind, multistatus
from ..dav.xml import Entry, escape, report
from .vcard import new_uid, parse_card, write_card

__all__ = ["CarddavConnector"]

_FIELDS = {
    "name": ("FN", "N"),
    "email": ("EMAIL",),
    "telephone": ("TEL",),
    "organization": ("ORG",),
}


def _book(url: str, entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": url,
        "type": "addressBook",
        "name": entry.text("d:displayname") or url.rstrip("/").rsplit("/", 1)[-1],
    }
    if entry.text("card:addressbook-description"):
        out["description"] = entry.text("card:addressbook-description")
    return out


KIND = Kind(
    platform="carddav",
    home="card:addressbook-home-set",
    collection="card:addressbook",
    well_known="/.well-known/carddav",
    props=("card:addressbook-description",),
    describe=_book,
)


def _matches(contact: dict[str, Any], text: str, fields: list[str]) -> bool:
    said: list[str] = []
    if "name" in fields:
        said += [
            contact.get("name", ""),
            contact.get("givenName", ""),
            contact.get("familyName", ""),
        ]
    if "email" in fields:
        said += [e["value"] for e in contact.get("emails", [])]
    if "telephone" in fields:
        said += [t["value"] for t in contact.get("telephones", [])]
    if "organization" in fields:
        said.append(contact.get("organization", ""))
    wanted = text.casefold()
    return any(wanted in s.casefold() for s in said)


class CarddavConnector(DavConnector):
    kind = KIND
    extension = ".vcf"
    media_type = "text/vcard; charset=utf-8"
    fetch_summary = "CardDAV address books"
    collection_condition = "invalid-address-book"

    def new_uid(self) -> str:
        return new_uid()

    def write(self, obj: dict[str, Any], stored: bytes | None, verb: str) -> bytes:
        return write_card(obj, stored, verb)

    def run_query(self, client: DavClient, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        text = obj.get("text")
        fields = list(obj.get("fields") or _FIELDS)
        if text:
            match = (
                '<card:text-match collation="i;unicode-casemap" match-type="contains">'
                f"{escape(text)}</card:text-match>"
            )
            filters = "".join(
                f'<card:prop-filter name="{p}">{match}</card:prop-filter>'
                for f in fields
                for p in _FIELDS[f]
            )
        else:
            filters = '<card:prop-filter name="UID"/>'
        body = report(
            "card:addressbook-query",
            ["d:getetag", "card:address-data"],
            f'<card:filter test="anyof">{filters}</card:filter>',
        )
        limit = min(
            int(obj.get("limit") or self.settings.dav_max_items), self.settings.dav_max_items
        )
        items = []
        for entry in multistatus(client, "REPORT", collection, body, "1"):
            data = entry.text("card:address-data")
            if not data:
                continue
            contact = parse_card(data, entry.href)
            if text and not _matches(contact, text, fields):
                continue
            item = {"id": entry.href, **contact, "updateSupported": True}
            if entry.text("d:getetag"):
                item["etag"] = entry.text("d:getetag")
            items.append(item)
        items.sort(key=lambda c: (c["name"].casefold(), c["id"]))
        return {"summary": "CardDAV contacts", "items": items[:limit]}
