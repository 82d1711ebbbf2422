"""The occurrences of a recurring item inside a query's range (RFC 5545 §3.8.5).

The item itself keeps its recurrence intact (its RRULE, as stored); this lists when it
happens between the query's ``startTime`` and ``endTime``: the rule's instances (with
``dateutil``, which keeps the wall-clock time across DST changes in the event's own zone),
plus ``RDATE``, minus ``EXDATE``, with overridden instances (``RECURRENCE-ID``) moved to
where they were moved. At most ``SOCKETHUB_DAV_MAX_OCCURRENCES`` per item.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.rrule import rruleset, rrulestr

from .ical import format_when

__all__ = ["occurrences"]


def _aware(value: date | datetime) -> datetime:
    """For comparing with the range: dates at midnight UTC, floating times as UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _dates(prop: Any) -> list[Any]:
    out: list[Any] = []
    for entry in prop if isinstance(prop, list) else [prop]:
        out += [d.dt for d in entry.dts]
    return out


def occurrences(
    main: Any, overrides: list[Any], start: datetime, end: datetime, cap: int
) -> tuple[list[dict[str, str]], bool]:
    """(occurrences overlapping ``[start, end)``, whether the list was cut at ``cap``)."""
    first = main["DTSTART"].dt
    length = (
        main["DTEND"].dt - first
        if "DTEND" in main
        else main["DURATION"].dt
        if "DURATION" in main
        else timedelta(0 if isinstance(first, datetime) else 1)
    )
    is_date = not isinstance(first, datetime)
    anchor = datetime(first.year, first.month, first.day) if is_date else first
    rules = rruleset()
    # dateutil wants datetimes: an all-day item recurs from midnight, floating.
    rules.rrule(rrulestr(main["RRULE"].to_ical().decode(), dtstart=anchor))  # type: ignore[arg-type]
    for extra in _dates(main.get("RDATE", [])):
        rules.rdate(extra if not is_date else datetime(extra.year, extra.month, extra.day))
    for gone in _dates(main.get("EXDATE", [])):
        rules.exdate(gone if not is_date else datetime(gone.year, gone.month, gone.day))
    moved = {_aware(o["RECURRENCE-ID"].dt): o for o in overrides if "RECURRENCE-ID" in o}
    found: list[dict[str, str]] = []
    for instance in rules:
        begins = _aware(instance.date() if is_date else instance)
        if begins >= end:
            break
        override = moved.get(begins)
        when, until = instance, instance + length
        if override is not None and "DTSTART" in override:
            when = override["DTSTART"].dt
            until = override["DTEND"].dt if "DTEND" in override else when + length
        begins, ends = _aware(when), _aware(until)
        if begins >= end or ends < start or (ends == start and ends != begins):
            continue
        if len(found) >= cap:
            return found, True
        if is_date and override is None:
            when, until = when.date(), until.date()
        found.append(
            {
                "startTime": format_when(when),
                "endTime": format_when(until),
                "recurrenceId": format_when(instance.date() if is_date else instance),
            }
        )
    return found, False
