// The IRC page's windows: the server window, one per channel and private conversation,
// the topic line, the member list, the controls. What happens on IRC is in irc.js; this
// module only keeps and draws the page's state (`page`).
const { $, showState, textElement, addWindow, selectWindow, chatLog } = globalThis.Examples;

export const STATUS = '*'; // the key of the server window: no nick or channel is spelled so
const ROLE_RANK = { owner: 0, admin: 1, operator: 2, halfop: 3, voice: 4, member: 5 };
const ROLE_SYMBOL = { owner: '~', admin: '&', operator: '@', halfop: '%', voice: '+', member: '' };
const CHANNEL_PREFIXES = '#&+!';

export const page = {
  conn: null, // {actor, nick, server, state} of this page's IRC connection
  ircServed: true, // false when the gateway's welcome lists no irc platform
  gatewayUp: false, // the client's socket is welcomed (false while the gateway is unreachable)
  current: STATUS,
  convs: new Map(), // folded name → a window (the server, a channel, a private chat)
  onShow: null, // called when the window shown changes (irc.js: the typing line, replies)
};

// RFC 1459 case mapping, as IRC servers compare names: {}|^ are the lower case of []\~.
export const fold = (name) => String(name).toLowerCase()
  .replace(/[[\]\\~]/g, (c) => ({ '[': '{', ']': '}', '\\': '|', '~': '^' })[c]);
export const isChannel = (name) => !!name && CHANNEL_PREFIXES.includes(name[0]);
export const nameOf = (entity) => {
  if (!entity) return '';
  if (entity.name) return entity.name;
  const id = String(entity.id || '');
  const at = id.lastIndexOf('@');
  return at > 0 ? id.slice(0, at) : id;
};
export const isMe = (nick) => !!page.conn && !!nick && fold(nick) === fold(page.conn.nick);

// ---- windows -------------------------------------------------------------------------

export function conversation(name, kind) {
  const key = kind === 'status' ? STATUS : fold(name);
  let c = page.convs.get(key);
  if (c) return c;
  c = { key, name, kind, members: new Map(), topic: null, joined: false };
  addWindow(c, name, kind === 'status' ? name || 'server' : name, () => show(key));
  page.convs.set(key, c);
  // The window shown stays shown; the first one (the server window) is shown at once.
  if (key === page.current || !page.convs.has(page.current)) show(key);
  return c;
}

export const status = () => conversation(page.conn ? page.conn.server : 'server', 'status');
export const channel = (name) => conversation(name, 'channel');
export const privateChat = (nick) => conversation(nick, 'private');

/** The server window, named after the connection's server. */
export function nameStatus(server) {
  const c = status();
  c.name = server;
  c.log.dataset.room = server;
  c.button.dataset.room = server;
  c.button.textContent = server;
  return c;
}

export function closeWindow(c) {
  c.log.remove();
  c.tab.remove();
  page.convs.delete(c.key);
  if (page.current === c.key) show(STATUS);
}

export function show(key) {
  const { convs } = page;
  if (!convs.has(key)) key = convs.has(STATUS) ? STATUS : (convs.keys().next().value || STATUS);
  page.current = key;
  selectWindow(convs.values(), key);
  const c = convs.get(key);
  const log = $('log');
  log.scrollTop = log.scrollHeight;
  $('channel').value = c && c.kind === 'channel' ? c.name : $('channel').value;
  renderTopic();
  renderMembers();
  renderControls();
  if (page.onShow) page.onShow();
}

export function renderTopic() {
  const c = page.convs.get(page.current);
  const el = $('topic');
  el.hidden = !c || c.kind === 'status';
  if (!c || c.kind !== 'channel') {
    el.textContent = c && c.kind === 'private' ? `Private conversation with ${c.name}` : '';
    el.dataset.empty = 'true';
    return;
  }
  el.textContent = c.topic || (c.joined ? '(no topic)' : '(not in the channel)');
  el.dataset.empty = String(!c.topic);
}

export function renderMembers() {
  const c = page.convs.get(page.current);
  const list = $('members');
  list.textContent = '';
  const members = c && c.kind === 'channel' ? [...c.members.entries()] : [];
  members.sort(([a, ra], [b, rb]) =>
    (ROLE_RANK[ra] ?? 9) - (ROLE_RANK[rb] ?? 9) || fold(a).localeCompare(fold(b)));
  for (const [nick, role] of members) {
    const li = document.createElement('li');
    li.dataset.nick = nick;
    li.dataset.role = role;
    if (isMe(nick)) li.classList.add('me');
    const symbol = textElement('span', 'role', ROLE_SYMBOL[role] ?? '');
    symbol.title = role;
    li.append(symbol, textElement('span', 'nick', nick));
    li.addEventListener('dblclick', () => { privateChat(nick); show(fold(nick)); });
    list.append(li);
  }
  $('member-count').textContent = members.length ? `(${members.length})` : '';
}

export function renderControls() {
  const { conn, gatewayUp } = page;
  const connected = !!conn && conn.state !== 'disconnected';
  const c = page.convs.get(page.current);
  for (const id of ['nick', 'server', 'port', 'password', 'secure']) $(id).disabled = connected;
  $('connect').disabled = connected || !page.ircServed || !gatewayUp;
  $('disconnect').disabled = !connected || !gatewayUp;
  $('join').disabled = !connected || !gatewayUp;
  $('leave').disabled = !c || c.kind === 'status';
  // Commands such as /join work from any window, so sending only needs a connection; and
  // a gateway to send through (the client would queue it, but the user could not tell).
  $('message').disabled = !connected;
  $('send').disabled = !connected || !gatewayUp;
}

/** The IRC pill; while the gateway is unreachable it says so, whatever IRC was doing. */
export function renderState(detail) {
  const { conn } = page;
  const state = conn ? conn.state : 'disconnected';
  if (!page.gatewayUp && conn && state !== 'disconnected') {
    showState($('state'), 'unreachable', 'gateway unreachable');
  } else {
    showState($('state'), state);
  }
  if (detail !== undefined) $('state-detail').textContent = detail;
  $('me').textContent = conn ? conn.nick : '';
  $('me-line').hidden = !conn || state === 'disconnected';
}

export function setState(state, detail = '') {
  if (page.conn) page.conn.state = state;
  renderState(detail);
  if (state === 'disconnected' && page.conn) {
    for (const c of page.convs.values()) {
      if (c.kind === 'channel') { c.joined = false; c.members.clear(); }
    }
    renderTopic();
    renderMembers();
  }
  renderControls();
}

// One line in a window: entry(c, kind, { from, text, when, data }), info and problem.
export const { entry, info, problem } = chatLog({
  current: () => page.current,
  who: (kind, from) => (kind === 'action' ? `* ${from}` : kind === 'notice' ? `-${from}-` : from),
});

/**
 * A line about the connection itself: in the server window, and repeated in the window
 * the user is looking at, so that progress and errors are never hidden behind a tab.
 */
export function connectionLine(text, data, err) {
  const home = status();
  const line = err ? problem(home, text, err) : info(home, text, data);
  const here = page.convs.get(page.current);
  if (here && here !== home) {
    const copy = err ? problem(here, text, err) : info(here, text);
    copy.dataset.mirror = 'true';
  }
  return line;
}
