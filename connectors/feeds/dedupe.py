"""Which of a feed's items are new: by GUID, then link, then a hash of what the item says.

Pure: no network, no Redis. Every item has up to three identities, each kept only as a
digest (``identities``): its GUID (the feed's ``guid``/``id``), its own link, and a hash
of its title and text. An item is new when its first *trusted* identity was never seen.

Each feed earns its own trust: a feed whose GUIDs change on every fetch (a CMS that puts
a session id in them) shows it as items whose GUID is unseen while their link or content
was seen before. When most of the items carrying a GUID show that (two at least), the
feed's GUIDs are marked broken and its links are used instead, then content; those items
are not new. One item alone with a new GUID and an old text (a daily "build passed")
stays new. Every identity of every item present is remembered (``Verdict.remember``).

A link is an identity only when it is the item's own: ``parse_feed`` gives an item
without a link the feed's link, which every such item would share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Verdict", "identities", "new_items"]

KINDS = ("id", "link", "content")  # in order of trust


def _digest(kind: str, value: str) -> str:
    # 16 bytes of SHA-256: collisions within one feed's thousand identities are out of reach
    return hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()[:32]


def identities(item: dict[str, Any], feed: dict[str, Any]) -> dict[str, str]:
    """Kind → digest of ``item``'s GUID, own link and content (a ``post`` of ``parse_feed``)."""
    obj = item.get("object") or {}
    out: dict[str, str] = {}
    ident = obj.get("id")
    if isinstance(ident, str) and ident and not ident.startswith("urn:sha256:"):
        out["id"] = _digest("id", ident)
    link = obj.get("url")
    if isinstance(link, str) and link and link not in (feed.get("link"), feed.get("id")):
        out["link"] = _digest("link", link)
    text = f"{obj.get('title') or ''}\n{obj.get('content') or ''}"
    if text.strip():
        out["content"] = _digest("content", text)
    return out


@dataclass
class Verdict:
    new: list[dict[str, Any]] = field(default_factory=list)  # in feed order
    remember: list[str] = field(default_factory=list)  # every identity present
    broken: list[str] = field(default_factory=list)  # kinds found unstable now


def _first(ids: dict[str, str], broken: Sequence[str]) -> str | None:
    return next((k for k in KINDS if k in ids and k not in broken), None)


def new_items(
    items: Iterable[dict[str, Any]],
    feed: dict[str, Any],
    seen: set[str],
    broken: Sequence[str] = (),
) -> Verdict:
    """The new items of one fetch, given the identities ``seen`` before and the kinds
    already ``broken`` for this feed."""
    listed = [(item, identities(item, feed)) for item in items]
    out = Verdict(broken=[])
    distrust = list(broken)
    for kind in KINDS[:-1]:  # content is the last resort: never distrusted
        if kind in distrust:
            continue
        carrying = [ids for _, ids in listed if kind in ids]
        moved = [
            ids
            for ids in carrying
            if ids[kind] not in seen and any(v in seen for k, v in ids.items() if k != kind)
        ]
        if len(moved) >= 2 and 2 * len(moved) > len(carrying):
            distrust.append(kind)
            out.broken.append(kind)
    known = set(seen)
    for item, ids in listed:
        out.remember.extend(ids.values())
        first = _first(ids, distrust)
        if first is not None and ids[first] not in known:
            out.new.append(item)
        known.update(ids.values())  # twice in one fetch counts once
    out.remember = list(dict.fromkeys(out.remember))
    return out
