"""The pure parts: iCalendar and vCard both ways, the WebDAV XML reader, the schemas."""

from __future__ import annotations

import pytest

from connectors.caldav.ical import parse_item, write_item
from connectors.caldav.occurrences import occurrences
from connectors.carddav.vcard import parse_card, write_card
from connectors.dav.xml import parse_multistatus
from envelopes.errors import InvalidEnvelope, UpstreamError
from envelopes.platforms.caldav import DavCredentials, Item
from envelopes.registry import default_registry


def test_an_offset_is_stored_as_utc_and_read_back_with_z() -> None:
    text = write_item(
        {"type": "event", "uid": "u", "name": "n", "startTime": "2026-07-01T10:00:00+02:00"},
        None,
        "create",
    )
    assert b"DTSTART:20260701T080000Z" in text
    assert parse_item(text)[0]["startTime"] == "2026-07-01T08:00:00Z"


def test_a_zone_is_written_with_tzid_and_its_vtimezone() -> None:
    obj = {
        "type": "event",
        "uid": "u",
        "name": "n",
        "startTime": "2026-07-01T10:00:00",
        "timeZone": "America/New_York",
    }
    text = write_item(obj, None, "create")
    assert b"DTSTART;TZID=America/New_York:20260701T100000" in text
    assert b"BEGIN:VTIMEZONE" in text and b"TZID:America/New_York" in text
    item = parse_item(text)[0]
    assert (item["startTime"], item["timeZone"]) == ("2026-07-01T10:00:00", "America/New_York")


@pytest.mark.parametrize(
    "obj, path",
    [
        ({"startTime": "2026-07-01T10:00:00"}, "object.startTime"),  # no offset, no zone
        ({"startTime": "2026-07-01T10:00:00Z", "timeZone": "Europe/Prague"}, "object.startTime"),
        ({"startTime": "2026-07-01T10:00:00", "timeZone": "Mars/Olympus"}, "object.timeZone"),
        (
            {"startTime": "2026-07-01T10:00:00Z", "endTime": "2026-07-01T09:00:00Z"},
            "object.endTime",
        ),
        ({"allDay": True, "startTime": "2026-07-01T10:00:00Z"}, "object.startTime"),
    ],
)
def test_bad_dates_are_refused_naming_the_field(obj: dict, path: str) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        write_item({"type": "event", "uid": "u", "name": "n", **obj}, None, "create")
    assert caught.value.path == path and caught.value.condition == "invalid-create"


def test_an_all_day_series_has_date_occurrences() -> None:
    from datetime import UTC, datetime

    text = write_item(
        {
            "type": "event",
            "uid": "u",
            "name": "Holiday",
            "allDay": True,
            "startTime": "2026-12-24",
            "endTime": "2026-12-25",
            "recurrence": {"frequency": "yearly"},
        },
        None,
        "create",
    )
    item, main, overrides = parse_item(text)
    assert item["allDay"] is True and item["startTime"] == "2026-12-24"
    found, cut = occurrences(
        main, overrides, datetime(2027, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC), 10
    )
    assert [o["startTime"] for o in found] == ["2027-12-24", "2028-12-24"] and not cut
    found, cut = occurrences(
        main, overrides, datetime(2027, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC), 3
    )
    assert len(found) == 3 and cut


def test_a_moved_instance_is_listed_where_it_was_moved() -> None:
    from datetime import UTC, datetime

    text = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:s\r\n"
        b"DTSTAMP:20260101T000000Z\r\nSUMMARY:S\r\nDTSTART:20260105T090000Z\r\n"
        b"DTEND:20260105T093000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:S\r\n"
        b"RECURRENCE-ID:20260106T090000Z\r\nDTSTART:20260106T140000Z\r\n"
        b"DTEND:20260106T143000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    item, main, overrides = parse_item(text)
    assert item["name"] == "S" and len(overrides) == 1
    found, _ = occurrences(
        main, overrides, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), 10
    )
    assert [(o["startTime"], o["recurrenceId"]) for o in found] == [
        ("2026-01-05T09:00:00Z", "2026-01-05T09:00:00Z"),
        ("2026-01-06T14:00:00Z", "2026-01-06T09:00:00Z"),
        ("2026-01-07T09:00:00Z", "2026-01-07T09:00:00Z"),
    ]


def test_a_vcard_3_from_another_client() -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Carol\r\nN:Doe;Carol;;Dr.;\r\n"
        "EMAIL;TYPE=INTERNET,WORK,PREF:carol@example.org\r\nTEL;TYPE=CELL:+1 555\r\n"
        "ADR;TYPE=HOME:;;1 Road;Town;;12345;Land\r\nX-ABC:kept\r\nEND:VCARD\r\n"
    )
    card = parse_card(text, "x")
    assert card["emails"] == [
        {"value": "carol@example.org", "types": ["internet", "work"], "preferred": True}
    ]
    assert card["honorificPrefixes"] == ["Dr."] and card["familyName"] == "Doe"
    assert card["addresses"][0]["postalCode"] == "12345"
    updated = write_card(
        {"type": "person", "uid": "c1", "name": "Carol D"}, text.encode(), "update"
    )
    assert b"VERSION:3.0" in updated and b"X-ABC:kept" in updated and b"FN:Carol D" in updated
    with pytest.raises(InvalidEnvelope) as caught:
        write_card({"type": "person", "uid": "other", "name": "x"}, text.encode(), "update")
    assert caught.value.condition == "uid-mismatch"


def test_a_card_without_uid_is_an_invalid_response() -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_card("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n", "x")
    assert caught.value.condition == "invalid-response"


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><d:multistatus xmlns:d="DAV:">'
        b"&a;</d:multistatus>",
        b"<d:multistatus xmlns:d='DAV:'>",
        b"<html>hello</html>",
    ],
)
def test_entities_broken_xml_and_other_documents_are_refused(body: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_multistatus(body, "https://dav.example/", "caldav")
    assert caught.value.condition == "invalid-response"


def test_credentials_are_a_password_or_a_token() -> None:
    schema = DavCredentials()
    base = {"type": "credentials", "url": "https://dav.example/"}
    assert schema.validate({**base, "username": "a", "password": "p"}) == {}
    assert schema.validate({**base, "token": "t"}) == {}
    assert schema.validate({**base, "username": "a"})
    assert schema.validate({**base, "token": "t", "password": "p"})
    assert schema.validate({**base, "token": "t\r\nX: y"})


def test_the_schemas_refuse_uids_that_name_other_files() -> None:
    ok = {"type": "event", "name": "n"}
    assert Item().validate({**ok, "uid": "a@b"}) == {}
    for uid in ("../x", "a/b", "a%2f", "a\\b", "a\r\nb"):
        assert "uid" in Item().validate({**ok, "uid": uid}), uid


def test_both_platforms_are_registered_with_five_verbs_and_credentials() -> None:
    registry = default_registry()
    for name in ("caldav", "carddav"):
        platform = registry.get(name)
        assert platform is not None and not platform.persistent
        assert platform.verb_names() == [
            "fetch",
            "query",
            "create",
            "update",
            "delete",
            "credentials",
        ]
        assert all(v.needs_credentials for v in platform.verbs.values())
        assert platform.context_url == f"https://sockethub.org/ns/context/platform/{name}/v1.jsonld"
