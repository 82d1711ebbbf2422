"""When to poll a followed feed next: its own update history, within what it asks for.

Pure: no network, no Redis. ``hints`` reads what a feed says about polling (RSS 2.0
``<ttl>`` in minutes, ``<skipHours>``, ``<skipDays>``, a WebSub hub link) straight from
its bytes with bounded patterns; feedparser does not report ``skipHours``.

``next_poll`` (epoch seconds):

* **history**: the median gap between the feed's recent updates (the change times we
  saw and the dates of its newest items), halved, so a feed is polled about twice per
  update it usually makes; with no history yet, the last interval times 1.5;
* **failures** double the last interval;
* **floors**: ``Cache-Control: max-age`` (RFC 9111 §5.2.2.1) and ``ttl`` say how long
  the answer stays good: no poll before;
* **bounds**: ``SOCKETHUB_FOLLOW_MIN_INTERVAL`` and ``_MAX_INTERVAL`` over all of it
  (a floor above the maximum is cut to it);
* **skipHours/skipDays** (GMT, RSS 2.0): a poll due in a skipped hour waits for the first
  hour that is not skipped (ignored when every hour is).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Bounds", "Hints", "hints", "hint_fields", "max_age", "next_poll", "HISTORY"]

HISTORY = 10  # update times kept per feed
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>", re.I)
_SKIP_HOURS = re.compile(rb"<skipHours>(.{0,2048}?)</skipHours>", re.I | re.S)
_SKIP_DAYS = re.compile(rb"<skipDays>(.{0,2048}?)</skipDays>", re.I | re.S)
_HOUR = re.compile(rb"<hour>\s*(\d{1,2})\s*</hour>", re.I)
_DAY = re.compile(rb"<day>\s*([A-Za-z]{3,9})\s*</day>", re.I)
_LINK = re.compile(rb"<(?:atom:)?link\b[^>]{0,1024}>", re.I)
_ATTR = re.compile(rb"""(rel|href)\s*=\s*["']([^"']{0,2048})["']""", re.I)
_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d{1,10})", re.I)


@dataclass(frozen=True)
class Hints:
    ttl: float | None = None  # seconds
    skip_hours: frozenset[int] = frozenset()
    skip_days: frozenset[int] = frozenset()  # 0 = Monday
    hub: str | None = None  # WebSub
    self_url: str | None = None  # the feed's rel="self", WebSub's topic


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float


def hints(body: bytes) -> Hints:
    ttl = _TTL.search(body)
    hours: set[int] = set()
    block = _SKIP_HOURS.search(body)
    if block:
        hours = {int(h) % 24 for h in _HOUR.findall(block.group(1))}
    days: set[int] = set()
    block = _SKIP_DAYS.search(body)
    if block:
        names = [d.decode().lower() for d in _DAY.findall(block.group(1))]
        days = {_DAYS.index(n) for n in names if n in _DAYS}
    hub = self_url = None
    for tag in _LINK.findall(body[:262144]):  # the feed's own links come before its items
        attrs = {k.decode().lower(): v.decode("utf-8", "replace") for k, v in _ATTR.findall(tag)}
        if attrs.get("rel") == "hub" and hub is None:
            hub = attrs.get("href")
        elif attrs.get("rel") == "self" and self_url is None:
            self_url = attrs.get("href")
    return Hints(
        ttl=float(ttl.group(1)) * 60 if ttl else None,
        skip_hours=frozenset(hours),
        skip_days=frozenset(days),
        hub=hub,
        self_url=self_url,
    )


def hint_fields(found: Hints) -> dict[str, str]:
    """``found`` as a feed's record keeps it (``Follows``)."""
    return {
        "ttl": f"{found.ttl:g}" if found.ttl else "",
        "skiph": ",".join(map(str, sorted(found.skip_hours))),
        "skipd": ",".join(map(str, sorted(found.skip_days))),
        "hub": found.hub or "",
        "self": found.self_url or "",
    }


def max_age(cache_control: str | None) -> float | None:
    """Seconds of ``max-age`` (``s-maxage`` wins: we are a shared cache); None without."""
    if not cache_control:
        return None
    found = dict((k.lower(), int(v)) for k, v in _MAX_AGE.findall(cache_control))
    if "no-cache" in cache_control.lower() or "no-store" in cache_control.lower():
        return None
    value = found.get("s-maxage", found.get("max-age"))
    return None if value is None else float(value)


def _gaps(times: Sequence[float]) -> list[float]:
    ordered = sorted(set(times))[-HISTORY:]
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b > a]


def next_poll(
    now: float,
    bounds: Bounds,
    *,
    previous: float | None,
    history: Sequence[float] = (),
    failed: bool = False,
    feed_hints: Hints = Hints(),
    cache_max_age: float | None = None,
) -> tuple[float, float]:
    """(when to poll next, the interval it came from) for a poll that just ended."""
    low, high = bounds.low, max(bounds.low, bounds.high)
    gaps = _gaps(history)
    if failed:
        interval = 2 * (previous or low)
    elif gaps:
        interval = statistics.median(gaps) / 2
    else:
        interval = 1.5 * (previous or low)
    floor = max(low, feed_hints.ttl or 0.0, cache_max_age or 0.0)
    interval = min(high, max(floor, interval))
    return _skip(now + interval, feed_hints), interval


def _skip(due: float, feed_hints: Hints) -> float:
    hours, days = feed_hints.skip_hours, feed_hints.skip_days
    if (len(hours) >= 24 or not hours) and (len(days) >= 7 or not days):
        return due
    moment = datetime.fromtimestamp(due, UTC)
    for _ in range(24 * 7):
        skipped = (len(hours) < 24 and moment.hour in hours) or (
            len(days) < 7 and moment.weekday() in days
        )
        if not skipped:
            return moment.timestamp()
        moment = (moment + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return due
