"""CalDAV and CardDAV against a real Radicale (tests/servers/radicale.py) on 127.0.0.1,
through the connectors and the guarded HTTP client (private addresses and http allowed,
as a LAN deployment would)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.radicale import DavServer, run_radicale

from .helpers import connector, creds, failure, job

pytestmark = pytest.mark.integration

PLANNING = {
    "type": "event",
    "name": "Planning",
    "startTime": "2026-10-12T15:00:00",
    "endTime": "2026-10-12T16:00:00",
    "timeZone": "Europe/Prague",
    "recurrence": {"frequency": "weekly", "count": 6, "byDay": ["MO"]},
}


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    with run_radicale(Path(tmp_path_factory.mktemp("dav"))) as server:
        yield server


def test_discovery_lists_calendars_and_address_books(dav: DavServer) -> None:
    found = connector("caldav").handle(job("fetch", creds(dav.url)))
    assert found["type"] == "collection" and found["summary"] == "CalDAV calendars"
    assert found["items"] == [
        {
            "id": dav.calendar("alice"),
            "type": "calendar",
            "name": "Work",
            "color": "#3a87ad",
            "components": ["event", "task"],
        }
    ]
    books = connector("carddav").handle(job("fetch", creds(dav.url)))
    assert books["items"] == [{"id": dav.book("alice"), "type": "addressBook", "name": "Contacts"}]


def _calendar(dav: DavServer, user: str = "alice") -> dict[str, str]:
    return {"id": dav.calendar(user), "type": "calendar"}


def test_event_life_create_query_update_stale_delete(dav: DavServer) -> None:
    cal, login, target = connector("caldav"), creds(dav.url), _calendar(dav)
    made = cal.handle(job("create", login, target=target, object=PLANNING))["object"]
    assert made["id"].startswith(dav.calendar("alice")) and made["etag"] and made["uid"]

    # A range after the first occurrence, across the end of summer time (25 Oct): the
    # recurring event is found, intact, with its occurrences in the range at 15:00 local.
    ranged = {
        "type": "event",
        "startTime": "2026-10-20T00:00:00Z",
        "endTime": "2026-11-10T00:00:00Z",
    }
    items = cal.handle(job("query", login, target=target, object=ranged))["items"]
    assert [i["uid"] for i in items] == [made["uid"]]
    item = items[0]
    assert item["recurrence"] == PLANNING["recurrence"]
    assert (item["startTime"], item["timeZone"]) == ("2026-10-12T15:00:00", "Europe/Prague")
    assert [o["startTime"] for o in item["occurrences"]] == [
        "2026-10-26T15:00:00",
        "2026-11-02T15:00:00",
        "2026-11-09T15:00:00",
    ]
    assert item["etag"] == made["etag"]
    # Outside every occurrence: nothing.
    later = {
        "type": "event",
        "startTime": "2027-01-01T00:00:00Z",
        "endTime": "2027-02-01T00:00:00Z",
    }
    assert cal.handle(job("query", login, target=target, object=later))["items"] == []

    # Update with the right ETag: renamed, the recurrence still the same rule.
    changed = {
        **PLANNING,
        "id": made["id"],
        "etag": made["etag"],
        "uid": made["uid"],
        "name": "Plan",
    }
    updated = cal.handle(job("update", login, target=target, object=changed))["object"]
    assert updated["etag"] and updated["etag"] != made["etag"]
    again = cal.handle(job("query", login, target=target, object=ranged))["items"][0]
    assert again["name"] == "Plan" and again["recurrence"] == PLANNING["recurrence"]

    # The old ETag is stale now: refused, and the reply names the current one.
    err = failure(cal, job("update", login, target=target, object=changed), "refused", "conflict")
    assert err.details and err.details[0]["etag"] == updated["etag"]
    assert updated["etag"] in err.message
    stale = {"id": made["id"], "type": "event", "etag": made["etag"]}
    err = failure(cal, job("delete", login, target=target, object=stale), "refused", "conflict")
    assert err.details and err.details[0]["etag"] == updated["etag"]

    gone = {**stale, "etag": updated["etag"]}
    assert cal.handle(job("delete", login, target=target, object=gone))["object"] == {
        "id": made["id"],
        "type": "event",
    }
    assert cal.handle(job("query", login, target=target, object=ranged))["items"] == []


def test_update_keeps_what_it_does_not_model(dav: DavServer) -> None:
    """EXDATE and X- properties written by another client survive our update."""
    import http.client
    from base64 import b64encode

    path = "/alice/work/other-client.ics"
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//other//EN\r\nBEGIN:VEVENT\r\n"
        "UID:other-client\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Standup\r\n"
        "DTSTART:20260105T090000Z\r\nDTEND:20260105T091500Z\r\n"
        "RRULE:FREQ=DAILY;COUNT=5;WKST=SU\r\nEXDATE:20260107T090000Z\r\nX-OTHER:kept\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    conn = http.client.HTTPConnection(dav.host, dav.port, timeout=10)
    auth = "Basic " + b64encode(b"alice:alice-pw").decode()
    conn.request(
        "PUT", path, text.encode(), {"Authorization": auth, "Content-Type": "text/calendar"}
    )
    assert conn.getresponse().status == 201
    cal, login, target = connector("caldav"), creds(dav.url), _calendar(dav)
    ranged = {"startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-31T00:00:00Z"}
    item = cal.handle(job("query", login, target=target, object=ranged))["items"][0]
    assert [o["startTime"] for o in item["occurrences"]] == [
        "2026-01-05T09:00:00Z",
        "2026-01-06T09:00:00Z",
        "2026-01-08T09:00:00Z",
        "2026-01-09T09:00:00Z",
    ]
    keep = {k: item[k] for k in ("id", "etag", "uid", "type", "startTime", "endTime", "recurrence")}
    cal.handle(job("update", login, target=target, object={**keep, "name": "Daily"}))
    conn.request("GET", path, headers={"Authorization": auth})
    stored = conn.getresponse().read().decode()
    conn.close()
    assert "SUMMARY:Daily" in stored and "X-OTHER:kept" in stored
    assert "RRULE:FREQ=DAILY;COUNT=5;WKST=SU" in stored and "EXDATE:20260107T090000Z" in stored


def test_tasks_in_a_range(dav: DavServer) -> None:
    cal, login, target = connector("caldav"), creds(dav.url), _calendar(dav)
    task = {
        "type": "task",
        "name": "File taxes",
        "startTime": "2026-03-01T09:00:00Z",
        "due": "2026-04-30T17:00:00Z",
        "status": "needs-action",
        "percentComplete": 10,
    }
    made = cal.handle(job("create", login, target=target, object=task))["object"]
    asked = {"type": "task", "startTime": "2026-04-01T00:00:00Z", "endTime": "2026-05-01T00:00:00Z"}
    items = cal.handle(job("query", login, target=target, object=asked))["items"]
    assert [(i["uid"], i["due"], i["percentComplete"]) for i in items] == [
        (made["uid"], "2026-04-30T17:00:00Z", 10)
    ]


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_contacts_in_vcard_3_and_4(dav: DavServer, version: str) -> None:
    book = connector("carddav")
    login, target = creds(dav.url), {"id": dav.book("alice"), "type": "addressBook"}
    contact = {
        "type": "person",
        "uid": f"bob-{version}",
        "name": f"Bob Example {version}",
        "givenName": "Bob",
        "familyName": "Example",
        "emails": [{"value": "bob@example.com", "types": ["work"], "preferred": True}],
        "telephones": [{"value": "+1 555 0100", "types": ["cell"]}],
        "organization": "Example Inc",
        "vcardVersion": version,
    }
    made = book.handle(job("create", login, target=target, object=contact))["object"]
    asked = {"type": "contactQuery", "text": version}
    found = book.handle(job("query", login, target=target, object=asked))["items"]
    assert len(found) == 1
    got = found[0]
    assert got["vcardVersion"] == version and got["etag"] == made["etag"]
    assert {k: got[k] for k in contact if k != "vcardVersion"} == {
        k: v for k, v in contact.items() if k != "vcardVersion"
    }
    renamed = {**contact, "id": made["id"], "etag": made["etag"], "name": f"Robert {version}"}
    updated = book.handle(job("update", login, target=target, object=renamed))["object"]
    got = book.handle(job("query", login, target=target, object=asked))["items"][0]
    assert got["name"] == f"Robert {version}" and got["vcardVersion"] == version
    failure(book, job("update", login, target=target, object=renamed), "refused", "conflict")
    gone = {"id": made["id"], "type": "person", "etag": updated["etag"]}
    book.handle(job("delete", login, target=target, object=gone))
    assert book.handle(job("query", login, target=target, object=asked))["items"] == []


def test_wrong_password_is_auth_failed(dav: DavServer) -> None:
    bad = creds(dav.url, password="not-it")
    err = failure(connector("caldav"), job("fetch", bad), "auth-failed", "authentication-failed")
    assert "alice-pw" not in err.message and "not-it" not in err.message


def test_another_users_calendar_is_refused(dav: DavServer) -> None:
    cal, login = connector("caldav"), creds(dav.url)
    target = _calendar(dav, "bob")
    failure(cal, job("query", login, target=target, object={}), "refused", "forbidden")
    failure(cal, job("create", login, target=target, object=PLANNING), "refused", "forbidden")


def test_missing_item_is_not_found(dav: DavServer) -> None:
    cal, login, target = connector("caldav"), creds(dav.url), _calendar(dav)
    missing = {"id": dav.calendar("alice") + "nothing.ics", "type": "event", "etag": '"x"'}
    failure(cal, job("delete", login, target=target, object=missing), "not-found", "not-found")


def test_more_items_than_the_cap_is_too_large_naming_the_setting(dav: DavServer) -> None:
    from envelopes.settings import Settings

    capped = Settings(allow_private_addresses=True, dav_allow_http=True, dav_max_items=1)
    cal, login, target = connector("caldav", capped), creds(dav.url), _calendar(dav)
    for day in ("05", "06"):
        event = {"type": "event", "name": f"Cap {day}", "startTime": f"2030-01-{day}T10:00:00Z"}
        cal.handle(job("create", login, target=target, object=event))
    asked = {
        "type": "event",
        "startTime": "2030-01-01T00:00:00Z",
        "endTime": "2030-02-01T00:00:00Z",
    }
    with pytest.raises(Exception) as caught:
        cal.handle(job("query", login, target=target, object=asked))
    assert getattr(caught.value, "code", None) == "too-large"
    assert "SOCKETHUB_DAV_MAX_ITEMS" in str(caught.value)


def test_creating_an_existing_uid_is_a_conflict_naming_its_etag(dav: DavServer) -> None:
    cal, login, target = connector("caldav"), creds(dav.url), _calendar(dav)
    event = {"type": "event", "uid": "twice", "name": "Once", "startTime": "2031-01-01T10:00:00Z"}
    made = cal.handle(job("create", login, target=target, object=event))["object"]
    err = failure(cal, job("create", login, target=target, object=event), "refused", "conflict")
    assert err.details and err.details[0]["etag"] == made["etag"]
