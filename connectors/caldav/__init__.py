"""The CalDAV connector (RFC 4791): calendars, their events (VEVENT) and tasks (VTODO).

``fetch`` lists the account's calendars; ``query`` runs a ``calendar-query`` REPORT per
component (the one asked for, or events and tasks), with the range as a UTC
``time-range`` (the server matches recurring items by any occurrence in it), and lists
each recurring item's ``occurrences`` in the range next to its intact ``recurrence``.
``create``, ``update`` and ``delete`` are ``connectors.dav.connector``'s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from envelopes.errors import InvalidEnvelope, TooLarge, UpstreamError, condition_detail

from ..dav.client import DavClient
from ..dav.connector import DavConnector
from ..dav.discovery import Kind, multistatus
from ..dav.xml import Entry, escape, report, tag
from .ical import COMPONENTS, new_uid, parse_item, write_item
from .occurrences import occurrences

__all__ = ["CaldavConnector"]


def _calendar(url: str, entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": url,
        "type": "calendar",
        "name": entry.text("d:displayname") or url.rstrip("/").rsplit("/", 1)[-1],
    }
    if entry.text("ical:calendar-color"):
        out["color"] = entry.text("ical:calendar-color")
    components = entry.props.get(tag("c:supported-calendar-component-set"))
    names = {c.get("name") for c in components} if components is not None else set()
    kinds = [k for k, v in COMPONENTS.items() if v in names]
    out["components"] = kinds or list(COMPONENTS)
    return out


KIND = Kind(
    platform="caldav",
    home="c:calendar-home-set",
    collection="c:calendar",
    well_known="/.well-known/caldav",
    props=("ical:calendar-color", "c:supported-calendar-component-set"),
    describe=_calendar,
)


def _utc(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidEnvelope(
            f"{field} must be an RFC 3339 date-time with a UTC offset",
            path=f"object.{field}",
            details=[condition_detail("caldav", "invalid-query")],
        )
    return moment.astimezone(UTC)


class CaldavConnector(DavConnector):
    kind = KIND
    extension = ".ics"
    media_type = "text/calendar; charset=utf-8"
    fetch_summary = "CalDAV calendars"
    collection_condition = "invalid-calendar"

    def new_uid(self) -> str:
        return new_uid()

    def write(self, obj: dict[str, Any], stored: bytes | None, verb: str) -> bytes:
        return write_item(obj, stored, verb)

    def run_query(self, client: DavClient, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        start = _utc(obj.get("startTime"), "startTime")
        end = _utc(obj.get("endTime"), "endTime")
        if start and end and end <= start:
            raise InvalidEnvelope(
                "endTime must be after startTime",
                path="object.endTime",
                details=[condition_detail("caldav", "invalid-query")],
            )
        kinds = [obj["type"]] if obj.get("type") else list(COMPONENTS)
        items: list[dict[str, Any]] = []
        for kind in kinds:
            items += self._report(client, collection, COMPONENTS[kind], start, end)
            if len(items) > self.settings.dav_max_items:
                raise TooLarge(
                    f"{collection} has more than {self.settings.dav_max_items} items in this "
                    "range (SOCKETHUB_DAV_MAX_ITEMS); ask for a shorter range"
                )
        return {"summary": "CalDAV items", "items": items}

    def _report(
        self,
        client: DavClient,
        collection: str,
        component: str,
        start: datetime | None,
        end: datetime | None,
    ) -> list[dict[str, Any]]:
        stamp = "%Y%m%dT%H%M%SZ"
        span = ""
        if start or end:
            bounds = (f' start="{start.strftime(stamp)}"' if start else "") + (
                f' end="{end.strftime(stamp)}"' if end else ""
            )
            span = f"<c:time-range{bounds}/>"
        body = report(
            "c:calendar-query",
            ["d:getetag", "c:calendar-data"],
            f'<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="{escape(component)}">'
            f"{span}</c:comp-filter></c:comp-filter></c:filter>",
        )
        items = []
        for entry in multistatus(client, "REPORT", collection, body, "1"):
            data = entry.text("c:calendar-data")
            if not data:
                continue
            try:
                item, main, overrides = parse_item(data.encode())
            except ValueError:
                raise UpstreamError(
                    f"{entry.href} is not a valid iCalendar item",
                    details=[condition_detail("caldav", "invalid-response")],
                ) from None
            item = {"id": entry.href, "etag": entry.text("d:getetag") or None, **item}
            if item["etag"] is None:
                del item["etag"]
            item["updateSupported"] = True  # updates merge into the stored copy
            if "RRULE" in main and "DTSTART" in main and start and end:
                try:
                    found, cut = occurrences(
                        main, overrides, start, end, self.settings.dav_max_occurrences
                    )
                except (ValueError, TypeError):  # a rule dateutil cannot follow
                    found, cut = [], False
                item["occurrences"] = found
                if cut:
                    item["occurrencesTruncated"] = True
            items.append(item)
        return items
