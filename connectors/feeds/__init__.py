"""The feeds connector: ``fetch`` an RSS or Atom feed through the guarded, cached client;
``follow`` one (``following``, ``poller``).

The reply is Sockethub's ``collection`` (``parse.parse_feed``) with the request's
``@context`` and ``id``. ``since`` and ``limit`` narrow what the shared cache holds, so
every session asking for one feed shares one upstream request whatever it narrows to.

What one feed can make a reply hold is bounded: ``SOCKETHUB_FEED_ITEMS`` items unless the
request asks for another ``limit``, at most ``SOCKETHUB_FEED_MAX_ITEMS``; each item's text
cut at ``SOCKETHUB_FEED_ITEM_MAX_CHARS`` characters (``parse.parse_feed``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from envelopes.errors import InvalidEnvelope

from ..base import Job
from ..net.cache import Cached
from .following import FollowVerbs
from .parse import parse_feed, select_items

__all__ = ["FeedsConnector"]


class FeedsConnector(FollowVerbs):
    def fetch(self, job: Job) -> dict[str, Any]:
        activity = job.activity
        url = str(activity["actor"]["id"])
        params = activity.get("object") or {}
        since = params.get("since")
        limit = self._limit(params.get("limit"))
        collection = self.memo.get("feed", self.get(url, job), self._parse)
        narrowed = select_items(
            collection, since=datetime.fromisoformat(since) if since else None, limit=limit
        )
        return {"@context": activity["@context"], "id": activity.get("id"), **narrowed}

    def _limit(self, asked: int | None) -> int:
        most = self.settings.feed_max_items
        if asked is None:
            return min(self.settings.feed_items, most)
        if asked > most:
            raise InvalidEnvelope(
                f"limit may be at most {most} items on this gateway "
                "(SOCKETHUB_FEED_MAX_ITEMS); ask for fewer",
                path="object.limit",
            )
        return int(asked)

    def _parse(self, cached: Cached) -> dict[str, Any]:
        return parse_feed(
            cached.body,
            cached.url,
            cached.content_type,
            max_chars=self.settings.feed_item_max_chars,
        )
