// Times for calendar.js: how the caldav platform writes them, and the browser's week.
//
// An item's times come in one of four shapes (docs/caldav-and-carddav.md):
//   "2026-09-01T10:00:00Z" (or with an offset)  an instant, stored in UTC
//   "2026-09-01T10:00:00" with item.timeZone    a wall time in that IANA zone
//   "2026-09-01T10:00:00" without a timeZone    floating: the same wall time everywhere
//   "2026-09-01" with item.allDay               a date; an event's end is exclusive
// The page works in Date objects (instants) and shows them in the browser's own zone;
// an item that has a timeZone is written back in its zone, so it keeps it.

const pad = (n) => String(n).padStart(2, '0');

/** 'YYYY-MM-DD' of `d` in the browser's zone. */
export const dayKey = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** Midnight (browser's zone) `n` days after `d`; by the calendar, so a 23-hour day is one day. */
export const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);

/** The Monday, 00:00, of the week holding `d`. */
export const startOfWeek = (d) => addDays(d, -((d.getDay() + 6) % 7));

/** A 'YYYY-MM-DD' as local midnight (Date's own parser reads a bare date as UTC). */
export function parseDay(s) {
  const [y, m, d] = s.split('-').map(Number);
  return new Date(y, m - 1, d);
}

/** The value of an <input type="datetime-local"> for `d`. */
export const toInputValue = (d) => `${dayKey(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** An instant as the platform takes it: RFC 3339 in UTC, whole seconds. */
export const toUtc = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The wall time 'YYYY-MM-DDTHH:MM:SS' of instant `d` in IANA zone `tz`. */
export function wallIn(d, tz) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(d);
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}`;
}

const asUtc = (wall) => Date.parse(`${wall}Z`);

/** The instant at which zone `tz` shows wall time `wall` ('YYYY-MM-DDTHH:MM:SS'). */
export function zoned(wall, tz) {
  // Guess, see what the zone shows then, correct by the difference; a second round
  // settles times near an offset change (a wall time that does not exist moves forward).
  let t = asUtc(wall);
  for (let i = 0; i < 2; i++) t -= asUtc(wallIn(new Date(t), tz)) - asUtc(wall);
  return new Date(t);
}

/** An item's time string (see the top) as a Date. */
export function readTime(s, item) {
  if (item.allDay || /^\d{4}-\d{2}-\d{2}$/.test(s)) return parseDay(s.slice(0, 10));
  if (/(Z|[+-]\d{2}:\d{2})$/.test(s)) return new Date(s);
  if (item.timeZone) return zoned(s, item.timeZone);
  return new Date(s); // floating: a date-time without an offset is read as local time
}

/** A Date as a time string for `item`: in its zone if it has one, else UTC. */
export function writeTime(d, item) {
  if (item.allDay) return dayKey(d);
  return item.timeZone ? wallIn(d, item.timeZone) : toUtc(d);
}

/**
 * Where `item` is on the calendar, as `[{start, end, recurrenceId?}]`: the item itself,
 * or, for a recurring one, its occurrences in the range asked (the stored item may start
 * weeks before it).
 */
export function spans(item) {
  const times = item.recurrence && item.occurrences ? item.occurrences : [item];
  return times.map((t) => {
    const start = readTime(t.startTime, item);
    const end = t.endTime ? readTime(t.endTime, item)
      : item.allDay ? addDays(start, 1) : new Date(start.getTime() + 3600e3);
    return { start, end, recurrenceId: t.recurrenceId };
  });
}

/** 'Mon 7 Sep' for a day header. */
export const dayLabel = (d) => d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });

/** '10:00' for an event's time. */
export const timeLabel = (d) => d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
