"""Contacts ⇄ vCard 3.0 (RFC 2426) and 4.0 (RFC 6350), with ``vobject``.

Read: both versions; ``preferred`` from ``PREF=1`` (4.0) or ``TYPE=pref`` (3.0), types in
lower case, ``mailto:``/``tel:`` stripped. Written: a new card in the ``vcardVersion``
asked for (default 4.0); an update keeps the stored card's version and every line we do
not model (``X-``, ``CATEGORIES``, an inline ``PHOTO`` unless ``photoUrls`` is given).
"""

from __future__ import annotations

import uuid
from typing import Any

import vobject
from vobject.vcard import Address, Name

from envelopes.errors import InvalidEnvelope, UpstreamError, condition_detail

__all__ = ["parse_card", "write_card", "new_uid"]

_LISTS = {"emails": "email", "telephones": "tel", "urls": "url"}
_TEXT = {
    "nickname": "nickname",
    "title": "title",
    "role": "role",
    "note": "note",
    "birthday": "bday",
}
_N = ("familyName", "givenName", "additionalNames", "honorificPrefixes", "honorificSuffixes")
_N_ATTR = ("family", "given", "additional", "prefix", "suffix")
_ADR = ("postOfficeBox", "extendedAddress", "street", "locality", "region", "postalCode", "country")
_ADR_ATTR = ("box", "extended", "street", "city", "region", "code", "country")
_MODELLED = {"fn", "n", "email", "tel", "url", "adr", "org", *_TEXT.values()}


def new_uid() -> str:
    return str(uuid.uuid4())


def _types(line: Any) -> tuple[list[str], bool]:
    said: list[str] = []
    for value in line.params.get("TYPE", []):
        said += [t.strip().lower() for t in str(value).split(",") if t.strip()]
    preferred = "pref" in said or any(str(p) == "1" for p in line.params.get("PREF", []))
    return [t for t in said if t != "pref"], preferred


def _strip(value: str) -> str:
    for prefix in ("mailto:", "tel:"):
        if value.lower().startswith(prefix):
            return value[len(prefix) :]
    return value


def _joined(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


def parse_card(text: str, where: str) -> dict[str, Any]:
    try:
        card = vobject.readOne(text)
        version = str(card.version.value)
        uid, name = str(card.uid.value), str(card.fn.value)
    except Exception:  # vobject raises many kinds; all mean the same here
        raise UpstreamError(
            f"{where} is not a vCard 3.0 or 4.0 with UID and FN",
            details=[condition_detail("carddav", "invalid-response")],
        ) from None
    out: dict[str, Any] = {"type": "person", "uid": uid, "name": name}
    if "n" in card.contents:
        n = card.n.value
        for field, attr in zip(_N, _N_ATTR, strict=True):
            value = getattr(n, attr, "")
            if value:
                out[field] = _joined(value) if field in _N[:2] else list(_listed(value))
    for field, key in _LISTS.items():
        values = []
        for line in card.contents.get(key, []):
            types, preferred = _types(line)
            entry: dict[str, Any] = {"value": _strip(str(line.value))}
            if types:
                entry["types"] = types
            if preferred:
                entry["preferred"] = True
            values.append(entry)
        if values:
            out[field] = values
    addresses = []
    for line in card.contents.get("adr", []):
        types, preferred = _types(line)
        entry = {
            f: _joined(getattr(line.value, a, "")) for f, a in zip(_ADR, _ADR_ATTR, strict=True)
        }
        entry = {k: v for k, v in entry.items() if v}
        if types:
            entry["types"] = types
        if preferred:
            entry["preferred"] = True
        addresses.append(entry)
    if addresses:
        out["addresses"] = addresses
    if "org" in card.contents:
        org = card.org.value
        out["organization"] = str(org[0] if isinstance(org, list) else org)
    for field, key in _TEXT.items():
        if key in card.contents:
            out[field] = _joined(card.contents[key][0].value)
    photos = [
        str(p.value)
        for p in card.contents.get("photo", [])
        if str(p.value).lower().startswith(("http://", "https://"))
    ]
    if photos:
        out["photoUrls"] = photos
    out["vcardVersion"] = version
    return out


def _listed(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [p for p in str(value).split(",") if p]


def _typed(card: Any, key: str, entry: dict[str, Any], version: str, value: Any) -> None:
    line = card.add(key)
    line.value = value
    types = list(entry.get("types") or [])
    if entry.get("preferred"):
        if version == "4.0":
            line.params["PREF"] = ["1"]
        else:
            types.append("pref")
    if types:
        line.params["TYPE"] = types


def write_card(obj: dict[str, Any], stored: bytes | None, verb: str) -> bytes:
    if stored is None:
        card = vobject.vCard()
        version = str(obj.get("vcardVersion") or "4.0")
        card.add("version").value = version
        card.add("uid").value = obj["uid"]
    else:
        try:
            card = vobject.readOne(stored.decode("utf-8", "replace"))
            version = str(card.version.value)
            stored_uid = str(card.uid.value)
        except Exception:
            raise InvalidEnvelope(
                "the stored card cannot be read, so it cannot be updated",
                path="object.id",
                details=[condition_detail("carddav", "unsupported-update")],
            ) from None
        if obj.get("uid") and stored_uid != obj["uid"]:
            raise InvalidEnvelope(
                f"the stored card's uid is {stored_uid}, not {obj['uid']}",
                path="object.uid",
                details=[condition_detail("carddav", "uid-mismatch")],
            )
        drop = set(_MODELLED) | ({"photo"} if "photoUrls" in obj else set())
        for key in drop:
            card.contents.pop(key, None)
    card.add("fn").value = obj["name"]
    names = {a: obj.get(f) or ("" if f in _N[:2] else []) for f, a in zip(_N, _N_ATTR, strict=True)}
    card.add("n").value = Name(**names)
    for field, key in _LISTS.items():
        for entry in obj.get(field) or ():
            value = entry["value"]
            _typed(card, key, entry, version, value)
    for entry in obj.get("addresses") or ():
        parts = {a: entry.get(f, "") for f, a in zip(_ADR, _ADR_ATTR, strict=True)}
        _typed(card, "adr", entry, version, Address(**parts))
    if obj.get("organization"):
        card.add("org").value = [obj["organization"]]
    for field, key in _TEXT.items():
        if obj.get(field):
            card.add(key).value = obj[field]
    for url in obj.get("photoUrls") or ():
        line = card.add("photo")
        line.value = url
        if version != "4.0":
            line.params["VALUE"] = ["uri"]
    try:
        return card.serialize().encode()
    except Exception:
        raise InvalidEnvelope(
            "the contact cannot be written as a vCard",
            path="object",
            details=[condition_detail("carddav", f"invalid-{verb}")],
        ) from None
