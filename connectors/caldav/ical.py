"""Events and tasks ⇄ iCalendar VEVENT and VTODO (RFC 5545), with ``icalendar``.

Dates in: ``allDay`` ⇒ ``YYYY-MM-DD`` (``VALUE=DATE``; an event's end is exclusive);
``timeZone`` (an IANA name) ⇒ local ``YYYY-MM-DDTHH:MM[:SS]`` without offset, written with
``TZID`` and its VTIMEZONE; else RFC 3339 with ``Z`` or an offset, stored as UTC. Dates
out: the same three forms, the zone from DTSTART's ``TZID``.

An update writes into the stored copy: the modelled properties are replaced, everything
else stays as it was (``EXDATE``, ``RDATE``, overridden instances with ``RECURRENCE-ID``,
``CATEGORIES``, ``X-`` properties). An RRULE whose modelled parts did not change is kept
byte for byte, parts we do not model (``BYSETPOS``, ``WKST``) included.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Alarm, Calendar, Event, Todo, vCalAddress, vRecur

from envelopes.errors import InvalidEnvelope, condition_detail

__all__ = ["parse_item", "write_item", "new_uid", "when", "format_when", "COMPONENTS"]

COMPONENTS = {"event": "VEVENT", "task": "VTODO"}
_TYPES = {v: k for k, v in COMPONENTS.items()}
_TEXT = {"name": "SUMMARY", "content": "DESCRIPTION", "location": "LOCATION", "url": "URL"}
_FREQ = ("daily", "weekly", "monthly", "yearly")
_MODELLED = (
    *_TEXT.values(),
    "DTSTART",
    "DTEND",
    "DUE",
    "DURATION",
    "STATUS",
    "COMPLETED",
    "PERCENT-COMPLETE",
    "ORGANIZER",
    "ATTENDEE",
    "SEQUENCE",
)


def new_uid() -> str:
    return f"{uuid.uuid4()}@sockethub"


def _bad(verb: str, field: str, why: str) -> InvalidEnvelope:
    return InvalidEnvelope(
        f"{field}: {why}",
        path=f"object.{field}",
        details=[condition_detail("caldav", f"invalid-{verb}")],
    )


def when(value: str, obj: dict[str, Any], field: str, verb: str) -> date | datetime:
    """A date from the wire, as the three forms above say."""
    if obj.get("allDay"):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _bad(verb, field, "an all-day item takes YYYY-MM-DD") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(verb, field, "not a date-time (YYYY-MM-DDTHH:MM:SS)") from None
    zone = obj.get("timeZone")
    if zone:
        if moment.tzinfo is not None:
            raise _bad(verb, field, "with timeZone, give the local time without an offset")
        try:
            return moment.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad(verb, "timeZone", f"{zone} is not a known IANA time zone") from None
    if moment.tzinfo is None:
        raise _bad(verb, field, f"{field} must include a UTC offset (or give timeZone)")
    return moment.astimezone(UTC)


def format_when(value: date | datetime) -> str:
    if not isinstance(value, datetime):
        return value.isoformat()
    if (
        value.tzinfo is not None
        and value.utcoffset() == timedelta(0)
        and _zone(value)
        in (
            None,
            "UTC",
        )
    ):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S")


def _zone(value: date | datetime) -> str | None:
    tz = getattr(value, "tzinfo", None)
    if tz is None:
        return None
    key = getattr(tz, "key", None) or str(tz)
    return "UTC" if key in ("UTC", "Etc/UTC", "Z") else key


def _parts(value: Any) -> list[Any]:
    # Parsed rules hold lists; rules built in code may hold single values.
    return list(value) if isinstance(value, list | tuple) else [value]


def _recurrence_of(rule: vRecur) -> dict[str, Any]:
    out: dict[str, Any] = {"frequency": str(_parts(rule["FREQ"])[0]).lower()}
    for key, name in (("INTERVAL", "interval"), ("COUNT", "count")):
        if key in rule:
            out[name] = int(_parts(rule[key])[0])
    if "UNTIL" in rule:
        out["until"] = format_when(_parts(rule["UNTIL"])[0])
    if "BYDAY" in rule:
        out["byDay"] = [str(d) for d in _parts(rule["BYDAY"])]
    if "BYMONTHDAY" in rule:
        out["byMonthDay"] = [int(d) for d in _parts(rule["BYMONTHDAY"])]
    return out


def _rule(recurrence: dict[str, Any], obj: dict[str, Any], verb: str) -> vRecur:
    rule = vRecur(FREQ=recurrence["frequency"].upper())
    if recurrence.get("interval"):
        rule["INTERVAL"] = recurrence["interval"]
    if recurrence.get("count"):
        rule["COUNT"] = recurrence["count"]
    if recurrence.get("until"):
        until = when(recurrence["until"], obj, "recurrence.until", verb)
        rule["UNTIL"] = until.astimezone(UTC) if isinstance(until, datetime) else until
    if recurrence.get("byDay"):
        rule["BYDAY"] = list(recurrence["byDay"])
    if recurrence.get("byMonthDay"):
        rule["BYMONTHDAY"] = list(recurrence["byMonthDay"])
    return rule


def _person(prop: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"email": str(prop).removeprefix("mailto:").removeprefix("MAILTO:")}
    params = prop.params
    if "CN" in params:
        out["name"] = str(params["CN"])
    if "ROLE" in params:
        out["role"] = {"REQ-PARTICIPANT": "required", "OPT-PARTICIPANT": "optional"}.get(
            str(params["ROLE"]).upper(), str(params["ROLE"]).lower()
        )
    if "PARTSTAT" in params:
        out["status"] = str(params["PARTSTAT"]).lower()
    if "RSVP" in params:
        out["rsvp"] = str(params["RSVP"]).upper() == "TRUE"
    return out


def _address(person: dict[str, Any], organizer: bool = False) -> vCalAddress:
    address = vCalAddress(f"mailto:{person['email']}")
    if person.get("name"):
        address.params["CN"] = person["name"]
    if organizer:
        return address
    role = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT"}
    if person.get("role"):
        address.params["ROLE"] = role.get(person["role"], person["role"].upper())
    if person.get("status"):
        address.params["PARTSTAT"] = person["status"].upper()
    if "rsvp" in person:
        address.params["RSVP"] = "TRUE" if person["rsvp"] else "FALSE"
    return address


def _main(calendar: Calendar) -> tuple[Any, list[Any]]:
    """The item's master component (no RECURRENCE-ID) and its overridden instances."""
    found = [c for c in calendar.walk() if c.name in _TYPES]
    masters = [c for c in found if "RECURRENCE-ID" not in c] or found[:1]
    if not masters:
        raise ValueError("no VEVENT or VTODO")
    return masters[0], [c for c in found if c is not masters[0]]


def parse_item(text: bytes) -> tuple[dict[str, Any], Any, list[Any]]:
    """(the item as the wire shows it, its master component, overridden instances)."""
    calendar = Calendar.from_ical(text)
    main, overrides = _main(calendar)
    item: dict[str, Any] = {"type": _TYPES[main.name], "uid": str(main.get("UID", ""))}
    for field, prop in _TEXT.items():
        if prop in main:
            item[field] = str(main[prop])
    if "SEQUENCE" in main:
        item["sequence"] = int(main["SEQUENCE"])
    for field, prop in (("startTime", "DTSTART"), ("endTime", "DTEND"), ("due", "DUE")):
        if prop in main:
            value = main[prop].dt
            item[field] = format_when(value)
            if field == "startTime":
                if not isinstance(value, datetime):
                    item["allDay"] = True
                elif _zone(value) not in (None, "UTC"):
                    item["timeZone"] = _zone(value)
    if "DTEND" not in main and "DURATION" in main and "DTSTART" in main:
        item["endTime"] = format_when(main["DTSTART"].dt + main["DURATION"].dt)
    if "STATUS" in main:
        item["status"] = str(main["STATUS"]).lower()
    if "COMPLETED" in main:
        item["completedTime"] = format_when(main["COMPLETED"].dt)
    if "PERCENT-COMPLETE" in main:
        item["percentComplete"] = int(main["PERCENT-COMPLETE"])
    if "RRULE" in main:
        item["recurrence"] = _recurrence_of(main["RRULE"])
    if "ORGANIZER" in main:
        item["organizer"] = _person(main["ORGANIZER"])
    attendees = main.get("ATTENDEE")
    if attendees is not None:
        many = attendees if isinstance(attendees, list) else [attendees]
        item["attendees"] = [_person(a) for a in many]
    reminders = []
    for alarm in main.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None:
            continue
        value = trigger.dt
        said = format_when(value) if isinstance(value, datetime) else trigger.to_ical().decode()
        reminder = {"trigger": said, "action": str(alarm.get("ACTION", "DISPLAY")).lower()}
        if "DESCRIPTION" in alarm:
            reminder["description"] = str(alarm["DESCRIPTION"])
        reminders.append(reminder)
    if reminders:
        item["reminders"] = reminders
    return item, main, overrides


def _fill(main: Any, obj: dict[str, Any], verb: str, stored_rule: Any) -> None:
    for prop in _MODELLED:
        main.pop(prop, None)
    for field, prop in _TEXT.items():
        if obj.get(field):
            main.add(prop, obj[field])
    if obj.get("sequence") is not None:
        main.add("SEQUENCE", obj["sequence"])
    start = when(obj["startTime"], obj, "startTime", verb) if obj.get("startTime") else None
    if start is not None:
        main.add("DTSTART", start)
    for field, prop in (("endTime", "DTEND"), ("due", "DUE")):
        if obj.get(field):
            end = when(obj[field], obj, field, verb)
            if start is not None and end <= start:  # type: ignore[operator]
                raise _bad(verb, field, f"{field} must be after startTime")
            main.add(prop, end)
    if obj.get("status"):
        main.add("STATUS", obj["status"].upper())
    if obj.get("completedTime"):
        main.add("COMPLETED", when(obj["completedTime"], {}, "completedTime", verb))
    if obj.get("percentComplete") is not None:
        main.add("PERCENT-COMPLETE", obj["percentComplete"])
    if obj.get("organizer"):
        main.add("ORGANIZER", _address(obj["organizer"], organizer=True))
    for person in obj.get("attendees") or ():
        main.add("ATTENDEE", _address(person))
    recurrence = obj.get("recurrence")
    if recurrence is None:
        main.pop("RRULE", None)
    elif stored_rule is None or _recurrence_of(stored_rule) != _canonical(recurrence, obj, verb):
        main.pop("RRULE", None)
        main.add("RRULE", _rule(recurrence, obj, verb))
    if "reminders" in obj:
        main.subcomponents = [c for c in main.subcomponents if c.name != "VALARM"]
        for reminder in obj["reminders"] or ():
            alarm = Alarm()
            alarm.add("ACTION", (reminder.get("action") or "display").upper())
            trigger = reminder["trigger"]
            if trigger.startswith(("-P", "P", "+P")):
                alarm["TRIGGER"] = trigger
            else:
                alarm.add("TRIGGER", when(trigger, {}, "reminders.trigger", verb))
            alarm.add("DESCRIPTION", reminder.get("description") or obj.get("name") or "")
            main.add_component(alarm)


def _canonical(recurrence: dict[str, Any], obj: dict[str, Any], verb: str) -> dict[str, Any]:
    return _recurrence_of(_rule(recurrence, obj, verb))


def write_item(obj: dict[str, Any], stored: bytes | None, verb: str) -> bytes:
    if obj["type"] == "event" and not obj.get("startTime"):
        raise _bad(verb, "startTime", "an event needs a startTime")
    if obj.get("status") == "completed" and not obj.get("completedTime"):
        raise _bad(verb, "completedTime", "a completed task needs its completedTime")
    if stored is None:
        calendar = Calendar()
        calendar.add("PRODID", "-//Sockethub-py//CalDAV//EN")
        calendar.add("VERSION", "2.0")
        main = Event() if obj["type"] == "event" else Todo()
        main.add("UID", obj["uid"])
        calendar.add_component(main)
        stored_rule = None
    else:
        try:
            calendar = Calendar.from_ical(stored)
            main, _ = _main(calendar)
        except ValueError:
            raise InvalidEnvelope(
                "the stored item cannot be read, so it cannot be updated",
                path="object.id",
                details=[condition_detail("caldav", "unsupported-update")],
            ) from None
        if _TYPES.get(main.name) != obj["type"] or (
            obj.get("uid") and str(main.get("UID")) != obj["uid"]
        ):
            raise _bad(verb, "uid", "the stored item is another type or uid")
        stored_rule = main.get("RRULE")
    main.pop("DTSTAMP", None)
    main.add("DTSTAMP", datetime.now(UTC))
    _fill(main, obj, verb, stored_rule)
    calendar.subcomponents = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
