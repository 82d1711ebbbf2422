"""CalDAV and CardDAV through the whole stack: WebSocket → gateway → Celery → ``sockethub
worker caldav``/``carddav`` → a real Radicale on 127.0.0.1 → reply. Credentials are sent
as a ``credentials`` request first, as a browser would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.radicale import DavServer, run_radicale

from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

ACTOR = {"id": "alice", "type": "person"}


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    with run_radicale(Path(tmp_path_factory.mktemp("dav-stack"))) as server:
        yield server


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {"SOCKETHUB_DAV_ALLOW_HTTP": "true"}
    s = Stack(platforms=("caldav", "carddav"), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture
def client(stack: Stack, dav: DavServer) -> Iterator[Client]:
    c = Client(stack.ws_url)
    for platform in ("caldav", "carddav"):
        login = {"type": "credentials", "url": dav.url, "username": "alice", "password": "alice-pw"}
        reply = c.request(activity(platform, "credentials", actor=ACTOR, object=login), timeout=30)
        assert reply["status"] == "completed", reply
    yield c
    c.close()


def call(client: Client, platform: str, verb: str, **parts: Any) -> dict[str, Any]:
    reply = client.request(activity(platform, verb, actor=ACTOR, **parts), timeout=60)
    assert reply["status"] == "completed", reply
    return reply["result"]


def test_calendar_create_query_delete(client: Client, dav: DavServer) -> None:
    target = {"id": dav.calendar("alice"), "type": "calendar"}
    found = call(client, "caldav", "fetch")
    assert [c["id"] for c in found["items"]] == [target["id"]]
    event = {
        "type": "event",
        "name": "Review",
        "startTime": "2026-09-01T10:00:00Z",
        "endTime": "2026-09-01T11:00:00Z",
    }
    made = call(client, "caldav", "create", target=target, object=event)["object"]
    asked = {
        "type": "event",
        "startTime": "2026-09-01T00:00:00Z",
        "endTime": "2026-09-02T00:00:00Z",
    }
    items = call(client, "caldav", "query", target=target, object=asked)["items"]
    assert [(i["name"], i["startTime"], i["etag"]) for i in items] == [
        ("Review", "2026-09-01T10:00:00Z", made["etag"])
    ]
    gone = {"id": made["id"], "type": "event", "etag": made["etag"]}
    call(client, "caldav", "delete", target=target, object=gone)
    assert call(client, "caldav", "query", target=target, object=asked)["items"] == []


def test_contact_create_query_delete(client: Client, dav: DavServer) -> None:
    target = {"id": dav.book("alice"), "type": "addressBook"}
    contact = {"type": "person", "name": "Carol Stack", "emails": [{"value": "carol@example.org"}]}
    made = call(client, "carddav", "create", target=target, object=contact)["object"]
    asked = {"type": "contactQuery", "text": "carol@"}
    items = call(client, "carddav", "query", target=target, object=asked)["items"]
    assert [(i["name"], i["uid"], i["vcardVersion"]) for i in items] == [
        ("Carol Stack", made["uid"], "4.0")
    ]
    gone = {"id": made["id"], "type": "person", "etag": made["etag"]}
    call(client, "carddav", "delete", target=target, object=gone)
    assert call(client, "carddav", "query", target=target, object=asked)["items"] == []


def test_a_stale_etag_reaches_the_browser_with_the_current_one(
    client: Client, dav: DavServer
) -> None:
    target = {"id": dav.calendar("alice"), "type": "calendar"}
    event = {"type": "event", "name": "Stale", "startTime": "2026-09-03T10:00:00Z"}
    made = call(client, "caldav", "create", target=target, object=event)["object"]
    stale = {"id": made["id"], "type": "event", "etag": '"not-the-etag"'}
    reply = client.request(
        activity("caldav", "delete", actor=ACTOR, target=target, object=stale), timeout=60
    )
    assert reply["status"] == "failed", reply
    error = reply["error"]
    assert (error["code"], error["retryable"]) == ("refused", False)
    assert error["details"][0] == {
        "condition": "conflict",
        "platform": "caldav",
        "status": "412",
        "etag": made["etag"],
    }
    call(client, "caldav", "delete", target=target, object={**stale, "etag": made["etag"]})


def test_no_credentials_is_credentials_missing(stack: Stack, dav: DavServer) -> None:
    c = Client(stack.ws_url)
    try:
        reply = c.request(activity("caldav", "fetch", actor=ACTOR), timeout=30)
    finally:
        c.close()
    assert reply["status"] == "failed" and reply["error"]["code"] == "credentials-missing"
