"""The metadata platform: ``fetch`` a page and describe it, as Sockethub's platform-metadata.

Request: ``actor`` is the page, ``{"id": <http(s) URL>, "type": "website"}``; no ``object``.
The reply is the request's activity with ``actor.id`` the page's canonical URL,
``actor.name`` its site name, and ``object`` the ``page`` (title, description, language,
images, video, favicon, charset, OpenGraph and Twitter card fields).
"""

from __future__ import annotations

from ..registry import Platform, Verb
from .feeds import FETCH_TIMEOUT, web_actor

__all__ = ["PLATFORM"]

PLATFORM = Platform(
    name="metadata",
    connector="connectors.metadata:MetadataConnector",
    verbs={"fetch": Verb("fetch", timeout=FETCH_TIMEOUT)},
    actor=web_actor("website"),
    description="Page metadata for link previews: fetch (OpenGraph, Twitter cards, <head>).",
)
