"""The calendar and contacts pages, in headless Chromium, against the whole stack and a real
Radicale: page → WebSocket → gateway → ``sockethub worker caldav``/``carddav`` → Radicale
on 127.0.0.1. What the pages did is then read back from Radicale with plain HTTP requests,
not through the gateway, so a page that only looked right would fail.

The stack's workers may reach 127.0.0.1 (``SOCKETHUB_ALLOW_PRIVATE_ADDRESSES``, set by
tests/stack.py) and speak plain http to it (``SOCKETHUB_DAV_ALLOW_HTTP``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
import requests
import vobject
from playwright.sync_api import expect

from ..servers.radicale import USERS, DavServer, run_radicale
from ..stack import Stack
from .conftest import watched_page

pytestmark = pytest.mark.browser

AUTH = ("alice", USERS["alice"])
# A week in which Central Europe leaves summer time (Sunday 25 October, 03:00 → 02:00):
# the page must turn Prague wall times into the right instants on both sides of it.
WEEK = "2026-10-19"


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    with run_radicale(Path(tmp_path_factory.mktemp("dav-pages"))) as server:
        yield server


@pytest.fixture(scope="module")
def dav_stack() -> Iterator[Stack]:
    env = {"SOCKETHUB_DAV_ALLOW_HTTP": "true", "SOCKETHUB_LOG_LEVEL": "WARNING"}
    s = Stack(platforms=("caldav", "carddav"), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture
def prague(browser: Any) -> Iterator[Any]:
    """A page whose browser lives in Prague (the stack's machine may well be on UTC)."""
    # Tall enough that the whole week, the working day of it at least, is on screen.
    size = {"width": 1280, "height": 1200}
    with watched_page(browser, timezone_id="Europe/Prague", locale="en-GB", viewport=size) as page:
        yield page


def sign_in(page: Any, stack: Stack, dav: DavServer, name: str, query: str = "") -> Any:
    page.goto(f"{stack.url}/{name}?url={dav.url}{query}")
    expect(page.locator("#state")).to_have_attribute("data-state", "open")
    expect(page.locator("#dav-url")).to_have_value(dav.url)
    page.fill("#username", AUTH[0])
    page.fill("#password", AUTH[1])
    page.click("#signin")
    expect(page.locator("#status")).to_have_attribute("data-status", "completed")
    return page


def stored_events(dav: DavServer) -> dict[str, icalendar.Event]:
    """alice's events as Radicale has them, by SUMMARY (a GET of the whole calendar)."""
    answer = requests.get(dav.calendar("alice"), auth=AUTH, timeout=10)
    answer.raise_for_status()
    calendar = icalendar.Calendar.from_ical(answer.content)
    return {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}


def utc(event: icalendar.Event, prop: str) -> datetime:
    return event[prop].dt.astimezone(UTC)


def at(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def slot(page: Any, day: str, hour: int) -> Any:
    return page.locator(f'.day[data-day="{day}"] .slot[data-hour="{hour}"]')


def event_in(page: Any, day: str, name: str) -> Any:
    return page.locator(f'.day[data-day="{day}"] .event[data-name="{name}"]')


def drag(page: Any, event: Any, day: str, hour: int) -> None:
    """Drag as a hand does: held near its top, moved in steps, let go near the top of the
    hour, so it starts on the hour. (One jump, as ``drag_to`` makes, starts no HTML drag
    in Chromium here: no ``dragstart`` came.)"""
    source, to = event.bounding_box(), slot(page, day, hour).bounding_box()
    page.mouse.move(source["x"] + 6, source["y"] + 3)
    page.mouse.down()
    page.mouse.move(source["x"] + 16, source["y"] + 13, steps=4)
    page.mouse.move(to["x"] + 12, to["y"] + 3, steps=10)
    page.mouse.up()


def test_the_calendar_creates_an_event_and_moves_it(
    prague: Any, dav_stack: Stack, dav: DavServer
) -> None:
    cal = sign_in(prague, dav_stack, dav, "calendar.html", f"&week={WEEK}")
    expect(cal.locator("#calendars option")).to_have_text(["Work"])
    expect(cal.locator("#week-status")).to_have_attribute("data-status", "completed")
    expect(cal.locator(".day")).to_have_count(7)

    slot(cal, "2026-10-21", 10).click(position={"x": 10, "y": 3})
    expect(cal.locator("#editor")).to_be_visible()
    expect(cal.locator("#ev-start")).to_have_value("2026-10-21T10:00")
    expect(cal.locator("#ev-end")).to_have_value("2026-10-21T11:00")
    cal.fill("#ev-name", "Design review")
    cal.fill("#ev-location", "Room 4")
    cal.click("#save")
    expect(cal.locator("#editor")).to_be_hidden()
    expect(event_in(cal, "2026-10-21", "Design review")).to_contain_text("10:00")

    made = stored_events(dav)["Design review"]
    assert (utc(made, "DTSTART"), utc(made, "DTEND")) == (at("2026-10-21", 8), at("2026-10-21", 9))
    assert str(made["LOCATION"]) == "Room 4"

    # Moved to Sunday afternoon, after the clocks went back: 14:00 in Prague is 13:00 UTC.
    drag(cal, event_in(cal, "2026-10-21", "Design review"), "2026-10-25", 14)
    sunday = event_in(cal, "2026-10-25", "Design review")
    expect(sunday).to_contain_text("14:00")
    # Drawn in the 14:00 row, though 15 hours after midnight on that 25-hour day.
    assert sunday.bounding_box()["y"] == pytest.approx(
        slot(cal, "2026-10-25", 14).bounding_box()["y"], abs=2
    )
    expect(event_in(cal, "2026-10-21", "Design review")).to_have_count(0)
    expect(cal.locator("#week-status")).to_contain_text("moved “Design review”")

    moved = stored_events(dav)["Design review"]
    assert (utc(moved, "DTSTART"), utc(moved, "DTEND")) == (
        at("2026-10-25", 13),
        at("2026-10-25", 14),
    )
    assert str(moved["UID"]) == str(made["UID"])  # the same event, updated in place
    assert str(moved["LOCATION"]) == "Room 4"  # what the move did not touch is kept


def test_a_move_after_someone_else_changed_the_event_says_so(
    prague: Any, dav_stack: Stack, dav: DavServer
) -> None:
    cal = sign_in(prague, dav_stack, dav, "calendar.html", f"&week={WEEK}")
    slot(cal, "2026-10-20", 9).click(position={"x": 10, "y": 3})
    cal.fill("#ev-name", "Standup")
    cal.click("#save")
    standup = event_in(cal, "2026-10-20", "Standup")
    expect(standup).to_be_visible()

    # Someone else renames it on the server: the ETag the page holds is stale now.
    href = standup.get_attribute("data-id")
    before = requests.get(href, auth=AUTH, timeout=10)
    theirs = before.content.replace(b"SUMMARY:Standup", b"SUMMARY:Standup (moved to Zoom)")
    requests.put(
        href, data=theirs, auth=AUTH, timeout=10, headers={"Content-Type": "text/calendar"}
    ).raise_for_status()
    now_etag = requests.get(href, auth=AUTH, timeout=10).headers["ETag"]
    assert now_etag != before.headers["ETag"]

    drag(cal, standup, "2026-10-23", 11)
    conflict = cal.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_have_attribute("data-etag", now_etag)
    expect(cal.locator("#conflict-text")).to_contain_text("changed on the server")
    expect(cal.locator("#conflict-text")).to_contain_text("Nothing was saved")
    expect(cal.locator("#ev-start")).to_have_value("2026-10-23T11:00")  # what was tried
    expect(cal.locator("#week-status")).to_have_attribute("data-status", "failed")
    assert "Standup (moved to Zoom)" in stored_events(dav)  # nothing was saved

    cal.click("#overwrite")  # the user's version, sent with the current ETag
    expect(cal.locator("#editor")).to_be_hidden()
    expect(event_in(cal, "2026-10-23", "Standup")).to_contain_text("11:00")
    saved = stored_events(dav)["Standup"]
    assert utc(saved, "DTSTART") == at("2026-10-23", 9)

    # And deleted from the editor.
    event_in(cal, "2026-10-23", "Standup").click()
    cal.click("#delete")
    expect(cal.locator("#editor")).to_be_hidden()
    expect(cal.locator('.event[data-name="Standup"]')).to_have_count(0)
    assert "Standup" not in stored_events(dav)


CARD_V3 = """BEGIN:VCARD\r
VERSION:3.0\r
UID:dora-1\r
FN:Dora Page\r
N:Page;Dora;;;\r
EMAIL;TYPE=WORK:dora@old.example\r
X-PHONETIC-FIRST-NAME:Dora\r
END:VCARD\r
"""


def stored_card(dav: DavServer, name: str) -> Any:
    answer = requests.get(dav.book("alice") + name, auth=AUTH, timeout=10)
    answer.raise_for_status()
    return vobject.readOne(answer.text)


def test_the_contacts_page_lists_and_edits_a_contact(
    page: Any, dav_stack: Stack, dav: DavServer
) -> None:
    requests.put(
        dav.book("alice") + "dora-1.vcf",
        data=CARD_V3.encode(),
        auth=AUTH,
        timeout=10,
        headers={"Content-Type": "text/vcard"},
    ).raise_for_status()
    book = sign_in(page, dav_stack, dav, "contacts.html")
    expect(book.locator("#books option")).to_have_text(["Contacts"])
    dora = book.locator('#contacts button[data-uid="dora-1"]')
    expect(dora).to_contain_text("Dora Page")
    expect(dora).to_contain_text("dora@old.example")

    dora.click()
    expect(book.locator("#c-name")).to_have_value("Dora Page")
    expect(book.locator("#c-emails")).to_have_value("dora@old.example")
    book.fill("#c-emails", "dora@new.example\ndora@old.example")
    book.fill("#c-phones", "+1 555 0199")
    book.fill("#c-org", "Paper Mill Ltd")
    book.click("#save")
    expect(book.locator("#list-status")).to_have_text("saved “Dora Page”")
    expect(dora).to_contain_text("dora@new.example · Paper Mill Ltd")

    card = stored_card(dav, "dora-1.vcf")
    assert card.version.value == "3.0"  # an edit keeps the card's version
    assert [e.value for e in card.contents["email"]] == ["dora@new.example", "dora@old.example"]
    types = [[t.lower() for t in e.params.get("TYPE", [])] for e in card.contents["email"]]
    assert types == [[], ["work"]]  # a line kept keeps its type
    assert card.tel.value == "+1 555 0199"
    assert card.org.value == ["Paper Mill Ltd"]
    assert card.contents["x-phonetic-first-name"][0].value == "Dora"  # not shown, still there

    # A search, then a new contact, stored as vCard 4.
    book.fill("#search", "paper mill")
    book.click("#go")
    expect(book.locator("#contacts button")).to_have_count(1)
    book.click("#new")
    book.fill("#c-name", "Eli Fresh")
    book.fill("#c-emails", "eli@example.org")
    book.click("#save")
    expect(book.locator("#list-status")).to_have_text("saved “Eli Fresh”")
    book.fill("#search", "")
    book.click("#go")
    expect(book.locator("#contacts button")).to_have_text(
        ["Dora Pagedora@new.example · Paper Mill Ltd", "Eli Fresheli@example.org"]
    )
    uid = book.locator("#contacts button").nth(1).get_attribute("data-uid")
    made = stored_card(dav, f"{uid}.vcf")
    assert (made.version.value, made.fn.value, made.email.value) == (
        "4.0",
        "Eli Fresh",
        "eli@example.org",
    )


def test_a_contact_changed_elsewhere_is_not_overwritten_unasked(
    page: Any, dav_stack: Stack, dav: DavServer
) -> None:
    card = CARD_V3.replace("dora-1", "finn-1").replace("Dora Page", "Finn Other")
    href = dav.book("alice") + "finn-1.vcf"
    requests.put(href, data=card.encode(), auth=AUTH, timeout=10).raise_for_status()
    book = sign_in(page, dav_stack, dav, "contacts.html")
    book.locator('#contacts button[data-uid="finn-1"]').click()
    book.fill("#c-org", "Mine Ltd")

    theirs = card.replace("END:VCARD", "ORG:Theirs Ltd\r\nEND:VCARD")
    requests.put(href, data=theirs.encode(), auth=AUTH, timeout=10).raise_for_status()
    book.click("#save")
    expect(book.locator("#conflict")).to_be_visible()
    expect(book.locator("#conflict-text")).to_contain_text("Finn Other was changed on the server")
    assert stored_card(dav, "finn-1.vcf").org.value == ["Theirs Ltd"]

    book.click("#reload")  # take theirs: the form shows what the server has now
    expect(book.locator("#conflict")).to_be_hidden()
    expect(book.locator("#c-org")).to_have_value("Theirs Ltd")
    book.fill("#c-title", "Editor")
    book.click("#save")  # with the ETag that came with theirs
    expect(book.locator("#list-status")).to_have_text("saved “Finn Other”")
    saved = stored_card(dav, "finn-1.vcf")
    assert (saved.org.value, saved.title.value) == (["Theirs Ltd"], "Editor")


def test_the_landing_page_links_the_calendar_and_contacts_pages(
    page: Any, dav_stack: Stack
) -> None:
    page.goto(dav_stack.url + "/")
    for platform, href in (("caldav", "/calendar.html"), ("carddav", "/contacts.html")):
        link = page.locator(f'#platforms li[data-platform="{platform}"] a')
        expect(link).to_have_attribute("href", href)


WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//tests//EN\r
BEGIN:VEVENT\r
UID:weekly-ny\r
DTSTAMP:20261001T000000Z\r
DTSTART;TZID=America/New_York:20261005T090000\r
DTEND;TZID=America/New_York:20261005T093000\r
RRULE:FREQ=WEEKLY;COUNT=8\r
SUMMARY:New York sync\r
END:VEVENT\r
END:VCALENDAR\r
"""
ALL_DAY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//tests//EN\r
BEGIN:VEVENT\r
UID:offsite\r
DTSTAMP:20261001T000000Z\r
DTSTART;VALUE=DATE:20261022\r
DTEND;VALUE=DATE:20261023\r
SUMMARY:Offsite\r
END:VEVENT\r
END:VCALENDAR\r
"""


def put_event(dav: DavServer, name: str, body: str) -> None:
    requests.put(
        dav.calendar("alice") + name,
        data=body.encode(),
        auth=AUTH,
        timeout=10,
        headers={"Content-Type": "text/calendar"},
    ).raise_for_status()


def test_the_week_shows_occurrences_in_the_browsers_zone_and_all_day_events_by_date(
    prague: Any, dav_stack: Stack, dav: DavServer
) -> None:
    put_event(dav, "weekly-ny.ics", WEEKLY)
    put_event(dav, "offsite.ics", ALL_DAY)
    cal = sign_in(prague, dav_stack, dav, "calendar.html", f"&week={WEEK}")
    # 09:00 in New York (still on summer time) is 15:00 in Prague, in the week's occurrence.
    sync = event_in(cal, "2026-10-19", "New York sync")
    expect(sync).to_contain_text("15:00")
    expect(sync).to_have_class("event repeats")
    assert sync.get_attribute("draggable") is None  # a series is edited, not dragged
    expect(cal.locator('.event[data-name="New York sync"]')).to_have_count(1)

    offsite = cal.locator('#all-day .event[data-name="Offsite"]')
    expect(offsite).to_have_count(1)
    offsite.click()
    expect(cal.locator("#ev-start")).to_have_attribute("type", "date")
    expect(cal.locator("#ev-start")).to_have_value("2026-10-22")
    expect(cal.locator("#ev-end")).to_have_value("2026-10-22")  # its last day
    cal.fill("#ev-end", "2026-10-23")
    cal.click("#save")
    expect(cal.locator("#editor")).to_be_hidden()
    expect(cal.locator('#all-day .event[data-name="Offsite"]')).to_have_count(2)
    stored = stored_events(dav)["Offsite"]
    assert (str(stored["DTSTART"].dt), str(stored["DTEND"].dt)) == ("2026-10-22", "2026-10-24")

    sync.click()  # the series, from its first occurrence, in the browser's zone
    expect(cal.locator("#ev-start")).to_have_value("2026-10-05T15:00")
    expect(cal.locator("#ev-repeats")).to_contain_text("Repeats weekly")
    expect(cal.locator("#delete")).to_have_text("Delete the series")
