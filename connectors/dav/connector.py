"""The five verbs CalDAV and CardDAV share: ``fetch``, ``query``, ``create``, ``update``,
``delete``. A platform supplies its discovery ``Kind``, file extension, media type, and
how to write an item (``write``) and run a ``query``.

Writes are conditional, so two clients cannot overwrite each other unseen (RFC 4918 §10.4,
RFC 9110 §13.1): ``create`` sends ``If-None-Match: *``; ``update`` reads the stored copy
with ``If-Match: <etag>`` (so what is kept of it is what the client saw), merges, and
writes with the same ``If-Match``; ``delete`` sends ``If-Match``. A 412 anywhere is
``refused`` with the condition ``conflict`` and the item's current ETag in ``details``.
"""

from __future__ import annotations

import ssl
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from envelopes.errors import CredentialsMissing, InvalidEnvelope, Refused, condition_detail

from ..base import Connector, Job
from ..net.guard import Dial, Resolver, open_socket, system_resolver
from .client import Account, DavClient, origin_of, status_error
from .discovery import Kind, discover

__all__ = ["DavConnector"]


class DavConnector(Connector):
    kind: ClassVar[Kind]
    extension: ClassVar[str]  # ".ics"
    media_type: ClassVar[str]  # "text/calendar; charset=utf-8"
    fetch_summary: ClassVar[str]
    collection_condition: ClassVar[str]  # "invalid-calendar"
    resolver: Resolver = staticmethod(system_resolver)  # type: ignore[assignment]
    dial: Dial = staticmethod(open_socket)  # type: ignore[assignment]
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._basic_only: set[tuple[Any, ...]] = set()  # origins that take Basic: DavClient

    # -- what each platform supplies

    def new_uid(self) -> str:
        raise NotImplementedError

    def write(self, obj: dict[str, Any], stored: bytes | None, verb: str) -> bytes:
        """The item's text: new, or ``stored`` with the object's fields in it."""
        raise NotImplementedError

    def run_query(self, client: DavClient, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # -- the verbs

    def fetch(self, job: Job) -> dict[str, Any]:
        items = discover(self._client(job), self.kind)
        return self._collection(job, self.fetch_summary, items)

    def query(self, job: Job) -> dict[str, Any]:
        client = self._client(job)
        collection = self._collection_url(client, job)
        answer = self.run_query(client, collection, job.activity.get("object") or {})
        return self._collection(job, answer["summary"], answer["items"])

    def create(self, job: Job) -> dict[str, Any]:
        client = self._client(job)
        collection = self._collection_url(client, job)
        obj = job.activity["object"]
        uid = obj.get("uid") or self.new_uid()
        text = self.write({**obj, "uid": uid}, None, "create")
        url = collection + quote(uid, safe="") + self.extension
        headers = {"Content-Type": self.media_type, "If-None-Match": "*"}
        response = client.request("PUT", url, body=text, headers=headers)
        if response.status == 412:
            raise self._conflict(client, url, "create", None)
        if not 200 <= response.status < 300:
            raise status_error(self.platform.name, "create", response, f"cannot create {url}")
        location = response.headers.get("location")
        made = {"id": location and self._absolute(client, url, location) or url}
        return self._written(job, made, obj["type"], uid, response.headers.get("etag"))

    def update(self, job: Job) -> dict[str, Any]:
        client = self._client(job)
        collection = self._collection_url(client, job)
        obj = job.activity["object"]
        url = self._member(collection, str(obj["id"]))
        etag = str(obj["etag"])
        stored = client.request("GET", url, headers={"If-Match": etag})
        if stored.status == 412:
            raise self._conflict(client, url, "update", etag)
        if stored.status != 200:
            raise status_error(self.platform.name, "update", stored, f"cannot update {url}")
        text = self.write(obj, stored.body, "update")
        headers = {"Content-Type": self.media_type, "If-Match": etag}
        response = client.request("PUT", url, body=text, headers=headers)
        if response.status == 412:
            raise self._conflict(client, url, "update", etag)
        if not 200 <= response.status < 300:
            raise status_error(self.platform.name, "update", response, f"cannot update {url}")
        return self._written(
            job, {"id": url}, obj["type"], obj.get("uid"), response.headers.get("etag")
        )

    def delete(self, job: Job) -> dict[str, Any]:
        client = self._client(job)
        collection = self._collection_url(client, job)
        obj = job.activity["object"]
        url = self._member(collection, str(obj["id"]))
        etag = str(obj["etag"])
        response = client.request("DELETE", url, headers={"If-Match": etag})
        if response.status == 412:
            raise self._conflict(client, url, "delete", etag)
        if not 200 <= response.status < 300:
            raise status_error(self.platform.name, "delete", response, f"cannot delete {url}")
        return {**job.activity, "object": {"id": url, "type": obj["type"]}}

    # -- shared steps

    def _client(self, job: Job) -> DavClient:
        if not job.credentials:
            actor = job.activity["actor"]["id"]
            raise CredentialsMissing(f"credentials not found for {self.platform.name}:{actor}")
        return DavClient(
            self.platform.name,
            Account.from_credentials(job.credentials),
            self.settings,
            job.deadline,
            resolver=self.resolver,
            dial=self.dial,
            ssl_context=self.ssl_context,
            basic_only=self._basic_only,
        )

    def _collection_url(self, client: DavClient, job: Job) -> str:
        url = str(job.activity["target"]["id"])
        client.check_url(url, "target.id", self.collection_condition)
        return url if url.endswith("/") else url + "/"

    def _member(self, collection: str, item: str) -> str:
        """``item`` if it names a member of ``collection``: same origin, below its path,
        no query or fragment, no ``.``/``..`` segment or encoded ``/`` ``\\`` (up to three
        decodings deep: a path a server decodes twice must still stay inside)."""

        def bad(why: str) -> InvalidEnvelope:
            return InvalidEnvelope(
                f"{item} is not an item of {collection}: {why}",
                path="object.id",
                details=[condition_detail(self.platform.name, "invalid-resource")],
            )

        parts, base = urlsplit(item), urlsplit(collection)
        if origin_of(item) != origin_of(collection) or parts.query or parts.fragment:
            raise bad("another server, or a query or fragment")
        if not parts.path.startswith(base.path) or len(parts.path) <= len(base.path):
            raise bad("not below the collection")
        rest = parts.path[len(base.path) :]
        for _ in range(3):
            lowered = rest.lower()
            if "\\" in rest or "%2f" in lowered or "%5c" in lowered:
                raise bad("an encoded / or \\")
            if any(segment in (".", "..") for segment in rest.split("/")):
                raise bad("a . or .. segment")
            rest = unquote(rest)
        return item

    def _absolute(self, client: DavClient, url: str, location: str) -> str | None:
        from urllib.parse import urljoin

        made = urljoin(url, location)
        return made if origin_of(made) == client.origin else None

    def _conflict(self, client: DavClient, url: str, verb: str, sent: str | None) -> Refused:
        """412: the item changed since ``sent`` (or exists, for ``create``); say its ETag."""
        now = client.request("GET", url)
        current = now.headers.get("etag") if now.status == 200 else None
        extra = {"status": "412"}
        if current:
            extra["etag"] = current
        if verb == "create":
            said = f"cannot create {url}: an item with this uid exists (ETag {current})"
        elif current:
            said = (
                f"cannot {verb} {url}: it changed since ETag {sent}; its current ETag is "
                f"{current}: read it again, then {verb} with that one"
            )
        else:
            said = f"cannot {verb} {url}: it changed since ETag {sent} and is gone now"
        return Refused(said, details=[condition_detail(self.platform.name, "conflict", **extra)])

    def _written(
        self, job: Job, made: dict[str, Any], kind: str, uid: str | None, etag: str | None
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {**made, "type": kind}
        if uid:
            obj["uid"] = uid
        if etag:
            obj["etag"] = etag
        return {**job.activity, "object": obj}

    def _collection(self, job: Job, summary: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "@context": job.activity["@context"],
            "id": job.activity.get("id"),
            "type": "collection",
            "summary": summary,
            "totalItems": len(items),
            "items": items,
        }
