"""The feeds platform's verbs about following: ``follow``, ``unfollow``, ``opml-import``,
``opml-export``; and the poller they feed, started with the worker.

``follow`` fetches the URL (through the shared cache) first, so that a feed that does not
exist is refused at once and the reply can hold its current items, as ``fetch``'s does. A
page URL is followed through the first feed its ``<link rel="alternate">`` names
(``discover``); the reply's ``actor.id`` is the feed's URL, the one ``unfollow`` takes.
The first follower of a feed takes what it holds now as seen; later items arrive as
events (``poller``). ``opml-import`` fetches nothing: every feed it names is due at once,
and its first poll takes what it holds as seen.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from envelopes.errors import NotAFeed, NotFound, SockethubError, UpstreamUnavailable
from envelopes.platforms.feeds import _check_url
from envelopes.sealing import server_key

from ..base import Job
from ..net.cache import Cached
from ..net.fetching import CONNECT_TIMEOUT, READ_TIMEOUT, FetchConnector
from ..net.http import fetch
from . import dedupe, schedule
from .discover import feed_links
from .follows import Follows, feed_id
from .opml import read_opml, write_opml
from .parse import select_items
from .poller import Poller
from .websub import Subscriber

__all__ = ["FollowVerbs"]

log = logging.getLogger("sockethub.follow")


class FollowVerbs(FetchConnector):
    """Mixed into ``FeedsConnector``; ``_parse`` and ``_limit`` are the connector's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._follows: Follows | None = None
        self._poller: Poller | None = None
        self._follow_lock = threading.Lock()

    def _parse(self, cached: Cached) -> dict[str, Any]:
        raise NotImplementedError

    def _limit(self, asked: int | None) -> int:
        raise NotImplementedError

    @property
    def follows(self) -> Follows:
        with self._follow_lock:
            if self._follows is None:
                self.cache  # noqa: B018  (builds the Redis client)
                if self.redis is None:
                    raise UpstreamUnavailable("following feeds needs Redis (REDIS_URL)")
                owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
                self._follows = Follows(self.redis, self.settings, owner)
            return self._follows

    def start(self) -> None:
        if not self.settings.redis_url or self._poller is not None:
            return
        subscriber = None
        if self.settings.public_url:
            subscriber = Subscriber(
                self.follows,
                server_key(self.settings.secret),
                self.settings.public_url,
                self.settings.websub_lease,
                self._hub_post,
            )
        self._poller = Poller(
            self.follows,
            self.settings,
            self._poll_fetch,
            self._parsed,
            self.broadcast,
            subscriber,
        )
        self._poller.start()
        log.info("polling followed feeds (%d at a time)", self._poller.slots)

    def close(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        super().close()

    def _poll_fetch(self, url: str, deadline: float) -> Cached:
        return self.get(url, Job(verb="poll", activity={}, deadline=deadline))

    def _hub_post(self, hub: str, form: bytes) -> None:
        """A WebSub subscription request (§5.1), through the guarded client."""
        fetch(
            hub,
            method="POST",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_private=self.settings.allow_private_addresses,
            max_bytes=65536,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            total_timeout=self.options.timeout,
            ssl_context=self.ssl_context,
            resolver=self.resolver,
            dial=self.dial,
        )

    def _parsed(self, cached: Cached) -> dict[str, Any]:
        return self.memo.get("feed", cached, self._parse)

    # -- verbs ------------------------------------------------------------------------------
    def follow(self, job: Job) -> dict[str, Any]:
        activity = job.activity
        url, cached, collection = self._feed_of(str(activity["actor"]["id"]), job)
        found = schedule.hints(cached.body)
        # A feed with a WebSub hub gets its first poll (which subscribes) at once.
        soon = bool(found.hub and self.settings.public_url)
        now = time.time()
        due = now if soon else now + self.settings.follow_min_interval
        if self.follows.follow(job.session, url, due=due) == 1:
            # The first follower: what the feed holds now is not news.
            verdict = dedupe.new_items(collection["items"], collection["actor"], set())
            self.follows.seed(
                feed_id(url),
                cached.digest,
                verdict.remember,
                len(collection["items"]),
                schedule.hint_fields(found),
            )
        params = activity.get("object") or {}
        since = params.get("since")
        narrowed = select_items(
            collection,
            since=datetime.fromisoformat(since) if since else None,
            limit=self._limit(params.get("limit")),
        )
        return {"@context": activity["@context"], "id": activity.get("id"), **narrowed}

    def _feed_of(self, url: str, job: Job) -> tuple[str, Cached, dict[str, Any]]:
        """(the feed's URL, its answer, its items): ``url`` itself, or the feed a page at
        ``url`` names."""
        cached = self.get(url, job)
        try:
            return url, cached, self._parsed(cached)
        except NotAFeed:
            links = feed_links(cached.body, cached.final_url)
            if not links:
                raise NotAFeed(
                    f"{url} is not an RSS or Atom feed, and names none in a "
                    '<link rel="alternate"> of its own'
                ) from None
        found = links[0]
        cached = self.get(found, job)
        return found, cached, self._parsed(cached)

    def unfollow(self, job: Job) -> None:
        url = str(job.activity["actor"]["id"])
        if not self.follows.unfollow(job.session, url):
            raise NotFound(
                f"this session does not follow {url} (unfollow takes the feed URL a "
                "follow reply names as actor.id)"
            )

    def opml_import(self, job: Job) -> dict[str, Any]:
        listed = read_opml(str(job.activity["object"]["content"]))
        followed: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        now = time.time()
        for url, title in listed:
            try:
                _check_url(url)
                self.follows.follow(job.session, url, due=now)
            except ValidationError as exc:
                refused.append({"id": url[:2048], "error": f"not followed: {exc.messages[0]}"})
                continue
            except SockethubError as exc:  # a cap: the rest cannot be followed either
                refused.append({"id": url[:2048], "error": exc.message})
                continue
            feed = {"type": "feed", "id": url}
            if title:
                feed["name"] = title[:256]
            followed.append(feed)
        return {
            "@context": job.activity["@context"],
            "id": job.activity.get("id"),
            "type": "collection",
            "totalItems": len(followed),
            "items": followed,
            "refused": refused,
        }

    def opml_export(self, job: Job) -> dict[str, Any]:
        urls = self.follows.urls(job.session)
        return {
            "@context": job.activity["@context"],
            "id": job.activity.get("id"),
            "type": "opml",
            "content": write_opml((u, "") for u in urls),
            "totalItems": len(urls),
            "items": [{"type": "feed", "id": u} for u in urls],
        }
