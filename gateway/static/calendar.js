// calendar.html: a week of a CalDAV calendar through the caldav platform.
//
// The flow an app follows:
//   1. credentials for an actor, then `fetch`: the calendars of the account (dav.js);
//   2. `query` with the week as a time range: the events in it, a recurring one with its
//      occurrences in the range;
//   3. `create` with the new event; `update` with the whole item and the ETag it came
//      with; `delete` with {id, type, etag}.
// An ETag that is no longer the server's makes update and delete fail with code
// `refused`, condition `conflict`, and the current ETag in details[0].etag: the editor
// then says so and lets the user save over it or take the other version.
import '/static/sockethub-client.js';
import { conflictEtag, explain, signInForm, writable } from './dav.js';
import {
  addDays, dayKey, dayLabel, parseDay, spans, startOfWeek, timeLabel,
  toInputValue, toUtc, writeTime,
} from './calendar-time.js';

const { $, startClient, followConnection, textElement } = globalThis.Examples;

const sc = startClient();
followConnection(sc, 'state');

const view = {
  actor: null,
  calendar: null, // the calendar's URL
  week: startOfWeek(new Date()),
  items: new Map(), // id → the item as the last query gave it
  loads: 0, // a newer query's answer wins over an older one still on its way
};

const target = () => ({ id: view.calendar, type: 'calendar' });
const weekStatus = (text, kind = 'info') => {
  $('week-status').textContent = text;
  $('week-status').dataset.status = kind;
};

// ---- signing in, choosing a calendar, the week shown ---------------------------------

signInForm(sc, 'caldav', (actor, calendars) => {
  view.actor = actor;
  const usable = calendars.filter((c) => !c.components || c.components.includes('event'));
  $('calendars').replaceChildren(...usable.map((c) => {
    const option = textElement('option', '', c.name || c.id);
    option.value = c.id;
    if (c.color) option.dataset.color = c.color;
    return option;
  }));
  if (!usable.length) return;
  $('calendar').hidden = false;
  pickCalendar();
});

function pickCalendar() {
  const option = $('calendars').selectedOptions[0];
  view.calendar = option.value;
  $('week').style.setProperty('--event-color', option.dataset.color || 'var(--accent)');
  load();
}

function goTo(week) {
  view.week = startOfWeek(week);
  const url = new URL(location.href);
  url.searchParams.set('week', dayKey(view.week));
  history.replaceState(null, '', url);
  load();
}

$('calendars').addEventListener('change', pickCalendar);
$('prev').addEventListener('click', () => goTo(addDays(view.week, -7)));
$('next').addEventListener('click', () => goTo(addDays(view.week, 7)));
$('today').addEventListener('click', () => goTo(new Date()));
const askedWeek = new URLSearchParams(location.search).get('week');
if (askedWeek && /^\d{4}-\d{2}-\d{2}$/.test(askedWeek)) view.week = startOfWeek(parseDay(askedWeek));

/** Ask for the events of the week shown and draw them; then say `done`, or how many. */
async function load(done = null) {
  const ticket = ++view.loads;
  const end = addDays(view.week, 7);
  $('week-label').textContent = `${dayLabel(view.week)} – ${dayLabel(addDays(end, -1))}`;
  weekStatus('loading…', 'loading');
  try {
    const found = await sc.send({
      platform: 'caldav', type: 'query', actor: view.actor, target: target(),
      // The range in UTC; the platform expands recurring events into it.
      object: { type: 'event', startTime: toUtc(view.week), endTime: toUtc(end) },
    });
    if (ticket !== view.loads) return;
    view.items = new Map((found.items || []).map((i) => [i.id, i]));
    draw();
    weekStatus(done || `${view.items.size} event(s)`, 'completed');
  } catch (err) {
    if (ticket === view.loads) weekStatus(explain(err), 'failed');
  }
}

// ---- the grid ------------------------------------------------------------------------

const HOURS = [...Array(24).keys()];

function draw() {
  const days = [...Array(7).keys()].map((i) => addDays(view.week, i));
  const today = dayKey(new Date());
  $('day-heads').replaceChildren(...days.map((d) => {
    const head = textElement('div', 'day-head', dayLabel(d));
    if (dayKey(d) === today) head.classList.add('today');
    return head;
  }));
  $('hours').replaceChildren(...HOURS.map((h) => textElement('div', 'hour', `${String(h).padStart(2, '0')}:00`)));
  const allDay = days.map(() => textElement('div', 'all-day-cell', ''));
  const columns = days.map((d) => {
    const col = document.createElement('div');
    col.className = 'day';
    col.dataset.day = dayKey(d);
    for (const h of HOURS) {
      const slot = document.createElement('div');
      slot.className = 'slot';
      slot.dataset.hour = String(h);
      col.append(slot);
    }
    return col;
  });
  const pieces = days.map(() => []);
  for (const item of view.items.values()) {
    for (const span of spans(item)) {
      days.forEach((day, i) => {
        const next = addDays(day, 1);
        if (span.end <= day || span.start >= next) return;
        if (item.allDay) allDay[i].append(chip(item, span));
        else pieces[i].push({ item, start: new Date(Math.max(span.start, day)), end: new Date(Math.min(span.end, next)), day });
      });
    }
  }
  pieces.forEach((list, i) => place(columns[i], list));
  $('all-day').replaceChildren(...allDay);
  $('days').replaceChildren(...columns);
  const scroll = $('scroll');
  if (!scroll.dataset.scrolled) { // the first week shown opens at 07:00
    scroll.scrollTop = (scroll.scrollHeight / 24) * 7;
    scroll.dataset.scrolled = 'true';
  }
}

/** An event's box, for a time column or the all-day row. */
function chip(item, span) {
  const el = document.createElement('div');
  el.className = 'event';
  el.dataset.id = item.id;
  el.dataset.name = item.name;
  if (!item.allDay) el.append(textElement('span', 'when', timeLabel(span.start)));
  el.append(textElement('span', 'name', item.name));
  if (item.recurrence) {
    el.classList.add('repeats');
    el.title = 'repeats: edit it to change the whole series';
  } else {
    el.draggable = true; // a moved occurrence would need an override of its own: not here
    el.addEventListener('dragstart', (ev) => startDrag(ev, item));
  }
  el.addEventListener('click', (ev) => { ev.stopPropagation(); edit(item); });
  return el;
}

/** Put a day's timed events in its column, overlapping ones side by side. */
function place(col, list) {
  list.sort((a, b) => a.start - b.start);
  const laneEnds = [];
  for (const p of list) {
    let lane = laneEnds.findIndex((end) => end <= p.start);
    if (lane < 0) lane = laneEnds.push(0) - 1;
    laneEnds[lane] = p.end;
    p.lane = lane;
  }
  for (const p of list) {
    const el = chip(p.item, p);
    // By the clock on the wall, as the hour rows are: on the day summer time ends, 14:00
    // is 15 hours after midnight, and it still belongs in the 14:00 row.
    const minutes = (t) => (dayKey(t) === dayKey(p.day) ? t.getHours() * 60 + t.getMinutes() : 24 * 60);
    el.style.top = `calc(var(--hour) * ${minutes(p.start) / 60})`;
    el.style.height = `calc(var(--hour) * ${Math.max(minutes(p.end) - minutes(p.start), 20) / 60})`;
    el.style.left = `${(p.lane / laneEnds.length) * 100}%`;
    el.style.width = `${100 / laneEnds.length}%`;
    col.append(el);
  }
}

/** The time under the pointer in a day column (less `lessMinutes`), to `step` minutes. */
function timeAt(col, clientY, step, { lessMinutes = 0, round = Math.floor } = {}) {
  const box = col.getBoundingClientRect();
  const minutes = ((clientY - box.top) / box.height) * 24 * 60 - lessMinutes;
  const rounded = Math.max(0, round(minutes / step) * step);
  const day = parseDay(col.dataset.day);
  return new Date(day.getFullYear(), day.getMonth(), day.getDate(), 0, rounded);
}

// Click an empty time: a new event of an hour there.
$('days').addEventListener('click', (ev) => {
  const col = ev.target.closest('.day');
  if (!col || ev.target.closest('.event')) return;
  const start = timeAt(col, ev.clientY, 30);
  create(start, new Date(start.getTime() + 3600e3));
});

// Drag an event to another time: an update with the same duration, sent at the drop.
let dragging = null;
function startDrag(ev, item) {
  const box = ev.currentTarget.getBoundingClientRect();
  const hourPx = $('days').firstElementChild.getBoundingClientRect().height / 24;
  // Where in the box it was held, so its top lands where the user sees it.
  dragging = { item, grab: ((ev.clientY - box.top) / hourPx) * 60 };
  ev.dataTransfer.effectAllowed = 'move';
  ev.dataTransfer.setData('text/plain', item.name);
}
$('days').addEventListener('dragover', (ev) => {
  if (dragging && ev.target.closest('.day')) ev.preventDefault();
});
$('days').addEventListener('drop', (ev) => {
  const col = ev.target.closest('.day');
  if (!dragging || !col) return;
  ev.preventDefault();
  const { item, grab } = dragging;
  dragging = null;
  const [span] = spans(item);
  const start = timeAt(col, ev.clientY, 15, { lessMinutes: grab, round: Math.round });
  move(item, start, new Date(start.getTime() + (span.end - span.start)));
});
document.addEventListener('dragend', () => { dragging = null; });

// ---- create, update, delete ----------------------------------------------------------

// The item being edited, the ETag to send with it, and what "Save mine anyway" does.
const editor = { item: null, etag: null, retry: null };

function create(start, end) {
  openEditor(null, { name: '', start, end });
}

function edit(item) {
  const [span] = spans({ ...item, occurrences: undefined });
  openEditor(item, { name: item.name, start: span.start, end: span.end });
}

async function move(item, start, end) {
  weekStatus(`moving “${item.name}”…`, 'loading');
  const changed = { ...writable(item), startTime: writeTime(start, item), endTime: writeTime(end, item) };
  try {
    await sc.send({ platform: 'caldav', type: 'update', actor: view.actor, target: target(), object: changed });
    load(`moved “${item.name}” to ${dayLabel(start)} ${timeLabel(start)}`);
  } catch (err) {
    const current = conflictEtag(err);
    if (current === undefined) { weekStatus(explain(err), 'failed'); return; }
    weekStatus('not moved: it changed on the server', 'failed');
    // Show what the user tried, and why it was not saved.
    openEditor(item, { name: item.name, start, end });
    showConflict(item, current, save);
  }
}

function openEditor(item, { name, start, end }) {
  editor.item = item;
  editor.etag = item && item.etag;
  $('editor-title').textContent = item ? 'Edit event' : 'New event';
  $('ev-name').value = name;
  // An all-day event is edited as dates, its last day shown (the stored end is exclusive).
  const allDay = !!(item && item.allDay);
  $('ev-start').type = $('ev-end').type = allDay ? 'date' : 'datetime-local';
  $('ev-start').value = allDay ? dayKey(start) : toInputValue(start);
  $('ev-end').value = allDay ? dayKey(addDays(end, -1)) : toInputValue(end);
  $('ev-location').value = (item && item.location) || '';
  $('ev-content').value = (item && item.content) || '';
  const repeats = item && item.recurrence;
  $('ev-repeats').hidden = !repeats;
  $('ev-repeats').textContent = repeats
    ? `Repeats ${repeats.frequency}: these are the first occurrence's times; a change applies to every one.`
    : '';
  $('delete').hidden = !item;
  $('delete').textContent = repeats ? 'Delete the series' : 'Delete';
  $('conflict').hidden = true;
  $('editor-status').textContent = '';
  $('editor').showModal();
  $('ev-name').focus();
}

/** The event as the form says, over the item it edits (whose other fields are kept). */
function fromForm() {
  const base = editor.item ? writable(editor.item) : { type: 'event' };
  const allDay = !!base.allDay;
  const start = allDay ? parseDay($('ev-start').value) : new Date($('ev-start').value);
  const end = allDay ? addDays(parseDay($('ev-end').value), 1) : new Date($('ev-end').value);
  const obj = { ...base, name: $('ev-name').value.trim() };
  if (!obj.name || !(end > start)) return { obj, ok: false }; // (an empty input: no date)
  obj.startTime = writeTime(start, obj);
  obj.endTime = writeTime(end, obj);
  for (const [field, id] of [['location', 'ev-location'], ['content', 'ev-content']]) {
    const value = $(id).value.trim();
    if (value) obj[field] = value; else delete obj[field];
  }
  if (editor.item) obj.etag = editor.etag;
  return { obj, ok: true };
}

async function save() {
  const { obj, ok } = fromForm();
  if (!ok) { $('editor-status').textContent = 'A title, and an end after the start.'; return; }
  await send(editor.item ? 'update' : 'create', obj);
}

async function remove() {
  const { id, type } = editor.item;
  await send('delete', { id, type, etag: editor.etag });
}

/** Send a verb from the editor; close it when done, show a conflict if there is one. */
async function send(verb, obj) {
  $('editor-status').textContent = '';
  $('save').disabled = $('delete').disabled = true;
  try {
    await sc.send({ platform: 'caldav', type: verb, actor: view.actor, target: target(), object: obj });
    $('editor').close();
    load(`${verb === 'delete' ? 'deleted' : 'saved'} “${obj.name || editor.item.name}”`);
  } catch (err) {
    const current = conflictEtag(err);
    if (current === undefined) $('editor-status').textContent = explain(err);
    // Again with the current ETag: an update from the form as it is now, a delete as it was.
    else showConflict(editor.item, current, verb === 'update' ? save : () => send(verb, { ...obj, etag: current }));
  } finally {
    $('save').disabled = $('delete').disabled = false;
  }
}

function showConflict(item, current, retry) {
  const panel = $('conflict');
  panel.hidden = false;
  panel.dataset.etag = current || '';
  if (current === null) {
    $('conflict-text').textContent = `“${item.name}” was deleted on the server since this week was shown. Nothing was saved.`;
    $('overwrite').hidden = true;
    return;
  }
  $('conflict-text').textContent = `“${item.name}” was changed on the server since this week was shown `
    + `(its ETag is now ${current}, not ${editor.etag}). Nothing was saved.`;
  $('overwrite').hidden = false;
  // Saving over it is the same request with the current ETag: it may lose their change.
  editor.etag = current;
  editor.retry = retry;
}

$('editor-form').addEventListener('submit', (ev) => { ev.preventDefault(); save(); });
$('delete').addEventListener('click', remove);
$('cancel').addEventListener('click', () => $('editor').close());
$('overwrite').addEventListener('click', () => editor.retry());
$('reload').addEventListener('click', () => { $('editor').close(); load(); });
