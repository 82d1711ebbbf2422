"""The metadata connector: ``fetch`` a page and describe it, for link previews.

The reply is the request's activity with ``actor.id`` the page's canonical URL (og:url,
else ``<link rel=canonical>``, else the URL fetched), ``actor.name`` its site name when it
has one, and ``object`` the ``page`` from ``parse.parse_page``.
"""

from __future__ import annotations

from typing import Any

from ..base import Job
from ..net.cache import Cached
from ..net.fetching import FetchConnector
from .parse import parse_page

__all__ = ["MetadataConnector"]


def _parse(cached: Cached) -> dict[str, Any]:
    # Relative links resolve against where the page really is, after redirects.
    return parse_page(cached.body, cached.final_url, cached.content_type)


class MetadataConnector(FetchConnector):
    def fetch(self, job: Job) -> dict[str, Any]:
        activity = job.activity
        url = str(activity["actor"]["id"])
        page = self.memo.get("page", self.get(url, job), _parse)
        actor = {**activity["actor"], "id": page.get("url") or url}
        if page.get("name"):
            actor["name"] = page["name"]
        return {**activity, "actor": actor, "object": page}
