// The IRC page's directory: the server's channel list (query `rooms`, docs/irc.md) with
// search, paging and join, and a person's profile (query `profile`, WHOIS).
//
// The gateway fetches a server's list once and shares it, for a few minutes, with every
// session on that server; searching and paging never go back to IRC. A big network's list
// takes a while to arrive: the answer then says `fetching: true` with the count so far,
// and the page asks again a moment later.
import { page } from '/static/irc-view.js';

const { $, textElement } = globalThis.Examples;

const PAGE_SIZE = 50;
const RETRY_MS = 2000; // while the gateway is still fetching the list

let ask = null; // (verb, parts) → a promise of the result activity (irc.js's `irc`)
let joinRoom = null; // (name) → joins the channel and shows its window
let shown = { search: '', next: null }; // what the list shows, and the cursor of its next page
let retry = null;

/** Wire the directory to the page's requests: `irc(type, parts)` and `join(name)`. */
export function setupDirectory({ irc, join }) {
  ask = irc;
  joinRoom = join;
  $('rooms-form').addEventListener('submit', (ev) => { ev.preventDefault(); findRooms($('rooms-search').value.trim()); });
  $('rooms-more').addEventListener('click', () => findRooms(shown.search, shown.next));
  $('profile-form').addEventListener('submit', (ev) => { ev.preventDefault(); profile($('profile-nick').value.trim()); });
}

const connected = () => !!page.conn && page.conn.state === 'connected';
const serverOf = () => ({ type: 'service', id: page.conn.server, name: page.conn.server });

/** One page of the channels whose name or topic holds `search`; `cursor` for the next. */
export async function findRooms(search, cursor = null) {
  clearTimeout(retry);
  const statusLine = $('rooms-status');
  if (!connected()) { statusLine.textContent = 'Connect first.'; return; }
  const object = { type: 'rooms', limit: PAGE_SIZE, ...(search ? { search } : {}), ...(cursor ? { cursor } : {}) };
  statusLine.textContent = cursor ? 'Loading more…' : 'Searching…';
  let list;
  try {
    list = (await ask('query', { target: serverOf(), object })).object;
  } catch (err) {
    statusLine.textContent = `Could not list the channels: ${err.code}: ${err.message}`;
    return;
  }
  if (list.fetching) {
    statusLine.textContent = `The server is sending its channel list: ${list.totalItems} so far…`;
    retry = setTimeout(() => findRooms(search, cursor), RETRY_MS);
    return;
  }
  if (!cursor) $('room-list').textContent = '';
  for (const room of list.items) $('room-list').append(roomItem(room));
  shown = { search, next: list.next };
  $('rooms-more').hidden = !list.next;
  const count = `${list.totalItems} channel${list.totalItems === 1 ? '' : 's'}`;
  statusLine.textContent = (search ? `${count} match “${search}”` : count)
    + (list.truncated ? ' (the server has more than the gateway keeps)' : '');
}

function roomItem(room) {
  const li = document.createElement('li');
  li.dataset.room = room.name;
  const button = textElement('button', 'secondary', 'Join');
  button.type = 'button';
  button.addEventListener('click', () => joinRoom(room.name));
  li.append(
    textElement('b', 'name', room.name),
    textElement('span', 'muted members', ` ${room.members} `),
    textElement('span', 'summary', room.summary || ''),
    button,
  );
  return li;
}

const PROFILE_FIELDS = [
  ['realName', 'Real name'], ['host', 'Host'], ['account', 'Account'], ['server', 'Server'],
  ['away', 'Away'], ['idle', 'Idle (s)'], ['rooms', 'Channels'],
];

/** A person's profile (WHOIS), shown under the channel list. */
export async function profile(nick) {
  const box = $('profile');
  if (!nick) return;
  if (!connected()) { box.textContent = 'Connect first.'; return; }
  box.textContent = `Looking up ${nick}…`;
  let who;
  try {
    who = (await ask('query', { target: { type: 'person', id: `${nick}@${page.conn.server}`, name: nick }, object: { type: 'profile' } })).object;
  } catch (err) {
    box.textContent = `${nick}: ${err.code === 'not-found' ? 'no such nick' : `${err.code}: ${err.message}`}`;
    return;
  }
  box.textContent = '';
  box.dataset.nick = who.name;
  box.append(textElement('dt', '', 'Nick'), textElement('dd', 'nick', who.name));
  for (const [key, label] of PROFILE_FIELDS) {
    if (who[key] === undefined) continue;
    const value = key === 'rooms' ? who.rooms.map((id) => id.slice(0, id.lastIndexOf('@'))).join(' ') : String(who[key]);
    const dd = textElement('dd', key, value);
    dd.dataset.field = key;
    box.append(textElement('dt', '', label), dd);
  }
}
