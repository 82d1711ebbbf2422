"""The feeds connector: ``fetch`` an RSS or Atom feed through the guarded, cached client.

The reply is Sockethub's ``collection`` (``parse.parse_feed``) with the request's
``@context`` and ``id``. ``since`` and ``limit`` narrow what the shared cache holds, so
every session asking for one feed shares one upstream request whatever it narrows to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..base import Job
from ..net.cache import Cached
from ..net.fetching import FetchConnector
from .parse import parse_feed, select_items

__all__ = ["FeedsConnector"]


def _parse(cached: Cached) -> dict[str, Any]:
    return parse_feed(cached.body, cached.url, cached.content_type)


class FeedsConnector(FetchConnector):
    def fetch(self, job: Job) -> dict[str, Any]:
        activity = job.activity
        url = str(activity["actor"]["id"])
        params = activity.get("object") or {}
        since = params.get("since")
        collection = self.memo.get("feed", self.get(url, job), _parse)
        narrowed = select_items(
            collection,
            since=datetime.fromisoformat(since) if since else None,
            limit=params.get("limit"),
        )
        return {"@context": activity["@context"], "id": activity.get("id"), **narrowed}
