// The XMPP page's windows: the account window, one per chat and per room, the topic line,
// the people list, the controls. What happens on XMPP is in xmpp.js; this module only
// keeps and draws the page's state (`page`).
const { $, showState, textElement, addWindow, selectWindow, chatLog } = globalThis.Examples;

export const STATUS = '*'; // the key of the account window; no JID is spelled so
export const page = {
  conn: null, // {actor, nick, jid (the full JID we are), state} of this page's account
  gatewayUp: false, // the client's socket is welcomed
  current: STATUS,
  convs: new Map(), // lower-cased bare JID → a window (the account, a chat, a room)
};

// Drawn after every render: the typing line, the contact's profile (xmpp-signals.js).
export const afterRender = [];

export const bare = (jid) => String(jid || '').split('/')[0].toLowerCase();
export const isXmpp = (a) => Array.isArray(a['@context'])
  && a['@context'].some((u) => typeof u === 'string' && u.includes('/platform/xmpp/'));
export const roomTarget = (c) => ({ id: c.jid, type: 'room', name: c.jid.split('@')[0] });

export function conversation(jid, kind) {
  const key = kind === 'status' ? STATUS : bare(jid);
  let c = page.convs.get(key);
  if (c) return c;
  c = { key, jid: kind === 'status' ? jid : bare(jid), kind, members: new Map(), topic: null, joined: false };
  addWindow(c, c.jid, kind === 'status' ? 'account' : c.jid, () => show(key));
  page.convs.set(key, c);
  // The window shown stays shown; the first one (the account window) is shown at once.
  if (key === page.current || !page.convs.has(page.current)) show(key);
  return c;
}
export const status = () => conversation('account', 'status');

export function show(key) {
  if (!page.convs.has(key)) key = STATUS;
  page.current = key;
  selectWindow(page.convs.values(), key);
  render();
}

export function render() {
  const c = page.convs.get(page.current);
  const topic = $('topic');
  topic.hidden = !c || c.kind === 'status';
  topic.textContent = !c ? '' : c.kind === 'room'
    ? (c.topic || (c.joined ? '(no topic)' : '(not in the room)')) : `Chat with ${c.jid}`;
  topic.dataset.empty = String(!(c && c.topic));
  const list = $('members');
  list.textContent = '';
  const people = c && c.kind !== 'status' ? [...c.members.entries()].sort() : [];
  for (const [name, p] of people) {
    const li = document.createElement('li');
    li.dataset.nick = name;
    li.dataset.presence = p.presence;
    if (c.kind === 'room' && name === c.nick) li.classList.add('me');
    const dot = document.createElement('span');
    dot.className = 'presence';
    dot.dataset.presence = p.presence;
    dot.title = p.presence + (p.status ? `: ${p.status}` : '');
    li.append(dot, textElement('span', 'nick', name + (p.role === 'moderator' ? ' (moderator)' : '')));
    list.append(li);
  }
  $('member-count').textContent = people.length ? `(${people.length})` : '';
  const on = !!page.conn && page.conn.state !== 'disconnected';
  for (const id of ['jid', 'password', 'resource', 'server', 'port', 'nick']) $(id).disabled = on;
  $('connect').disabled = on || !page.gatewayUp;
  for (const id of ['disconnect', 'set-presence', 'chat', 'join', 'add-contact']) $(id).disabled = !on || !page.gatewayUp;
  $('leave').disabled = !on || !page.gatewayUp || !c || c.kind !== 'room' || !c.joined;
  const canSend = on && !!c && (c.kind === 'chat' || (c.kind === 'room' && c.joined));
  $('message').disabled = !canSend;
  $('send').disabled = !canSend || !page.gatewayUp;
  renderState();
  for (const draw of afterRender) draw();
}

/** The XMPP pill; while the gateway is unreachable it says so, whatever XMPP was doing. */
export function renderState() {
  const state = page.conn ? page.conn.state : 'disconnected';
  if (!page.gatewayUp && page.conn && state !== 'disconnected') showState($('state'), 'unreachable', 'gateway unreachable');
  else showState($('state'), state);
  $('me').textContent = page.conn && page.conn.jid && state !== 'disconnected' ? `as ${page.conn.jid}` : '';
}

// One line in a window: entry(c, kind, { from, text, when, data }), info and problem.
export const { entry, info, problem } = chatLog({ current: () => page.current });

/** A line about the account: in its window, and in the one the user is looking at. */
export function accountLine(text, data, err) {
  const home = status();
  const line = err ? problem(home, text, err) : info(home, text, data);
  const here = page.convs.get(page.current);
  if (here && here !== home) (err ? problem(here, text, err) : info(here, text)).dataset.mirror = 'true';
  return line;
}

export function setState(state, detail = '') {
  if (page.conn) page.conn.state = state;
  $('state-detail').textContent = detail;
  if (state !== 'connected') for (const c of page.convs.values()) if (c.kind === 'room') c.joined = false;
  render();
}
