// The XMPP example page: chats, rooms (XEP-0045), presence and contacts on the Sockethub
// client, for app authors to read (docs/client.md; ids are docs/xmpp.md's).
//
// A reload keeps the XMPP login: the client resumes its session from sessionStorage, the
// gateway replays the session's stream, and the page rebuilds its windows from the events
// and from the replies to the page before (`sc.on('reply')`). The server sees nothing.
import '/static/sockethub-client.js';
import {
  page, bare, isXmpp, roomTarget, conversation, status, show, render, accountLine,
  setState, entry, info, problem,
  afterRender,
} from '/static/xmpp-view.js';
import { wireUpload } from '/static/xmpp-upload.js';
import * as signals from '/static/xmpp-signals.js';

const { SockethubClient } = globalThis;
const { $, startClient, showState, textElement, pageMemory, missedLine, keepChoice, keepCheckbox, notifyMe } = globalThis.Examples;

// Above the XMPP connect's own limit of 45 s, which the welcome does not announce.
// storageName: this page's session is its own, apart from the other example pages.
// "Keep me connected" (keepChoice) adds `keep` and localStorage: the account stays online
// while the page is closed.
const keep = keepChoice('xmpp');
const sc = startClient({ requestTimeoutMs: 50000, storageName: 'xmpp', ...keep.clientOptions() });
// "notify me": Web Push from the session while no tab is open (examples.js).
notifyMe(sc, $('notify'), '/static/xmpp.html');

const send = (type, extra = {}) => sc.send({ platform: 'xmpp', type, actor: page.conn.actor, ...extra });
let restoring = false; // a reload's replay is coming in
signals.init(send);
afterRender.push(signals.renderTyping, signals.renderProfile);

// ---- what a reload keeps ---------------------------------------------------------------

// Form values, the account's actor, the open windows. Never the password: the gateway
// session keeps the credentials.
const memory = pageMemory('xmpp', keep);
const FORM = ['jid', 'resource', 'server', 'port', 'nick'];

function remember() {
  const form = Object.fromEntries(FORM.map((id) => [id, $(id).value]));
  const windows = [...page.convs.values()].filter((c) => c.kind !== 'status');
  memory.save({
    form,
    conn: page.conn && page.conn.state !== 'disconnected' ? { actor: page.conn.actor, nick: page.conn.nick, jid: page.conn.jid } : null,
    windows: windows.map((c) => ({ jid: c.jid, kind: c.kind, nick: c.nick, joined: c.joined })),
    current: page.convs.get(page.current)?.jid ?? null,
  });
}

function recall() {
  const saved = memory.load();
  for (const id of FORM) if (saved.form && saved.form[id]) $(id).value = saved.form[id];
  if (saved.conn && sc.session) {
    page.conn = { ...saved.conn, state: 'restoring' };
    setState('restoring', 'resuming the gateway session');
  }
  return saved;
}

/** The replay is in: fill in what the (bounded) stream may no longer hold. */
async function finishRestore(saved) {
  restoring = false;
  if (!page.conn) return;
  if (page.conn.state === 'restoring') {
    // No connection state in what was replayed: `connect` on the session's live login
    // answers at once, as it is (shared, not redone).
    try {
      const reply = await sc.connect('xmpp', page.conn.actor);
      page.conn.jid = reply.object.jid;
      setState('connected');
    } catch (err) {
      accountLine('The XMPP login is gone', null, err);
      setState('disconnected', err.code);
    }
  }
  if (page.conn.state === 'disconnected') { remember(); return; }
  for (const w of saved.windows || []) {
    const c = conversation(w.jid, w.kind);
    if (w.kind === 'room') { c.nick = c.nick || w.nick; c.joined = c.joined || w.joined; }
  }
  const wanted = [...page.convs.values()].find((c) => c.jid === saved.current);
  if (wanted) show(wanted.key);
  for (const c of page.convs.values()) if (c.kind === 'room' && c.joined) attendance(c);
  render();
  remember();
}

// ---- events from XMPP ------------------------------------------------------------------

function onMessage(a) {
  const o = a.object || {};
  const room = a.target && a.target.type === 'room';
  const c = room ? conversation(a.target.id, 'room') : conversation(a.actor.id, 'chat');
  const from = room ? a.actor.name : (a.actor.name || a.actor.id);
  const own = room && from === c.nick;
  const replaced = o['xmpp:replace'] && [...c.log.children].find((li) => li.dataset.id === o['xmpp:replace'].id);
  if (replaced) { // XEP-0308: the new text takes the old line's place
    replaced.querySelector('.text').textContent = o.content || '';
    replaced.dataset.corrected = 'true';
    return;
  }
  const li = entry(c, 'message', { from, text: o.content || '', when: a.published,
                                  data: { id: o.id, own: String(own), stanzaId: o['xmpp:stanza-id'] } });
  signals.decorate(c, li, o.inReplyTo);
  signals.stoppedTyping(c, from);
  if (!room) signals.loadProfile(c);
}

function onPresence(a) {
  const o = a.object || {};
  if (a.target && a.target.type === 'room') {
    const c = conversation(a.target.id, 'room');
    const nick = a.actor.name;
    if (o.presence === 'offline') c.members.delete(nick);
    else c.members.set(nick, { presence: o.presence, status: o.content || '', role: o.role });
  } else {
    const c = page.convs.get(bare(a.actor.id));
    if (!c) return;
    c.members.set(a.actor.name || a.actor.id, { presence: o.presence, status: o.content || '' });
    info(c, `${a.actor.id} is ${o.presence}${o.content ? ` (${o.content})` : ''}`, { event: 'presence' });
  }
  render();
}

function onFriendRequest(a) {
  const li = info(status(), `${a.actor.id} wants to add you as a contact`, { event: 'request-friend', from: a.actor.id });
  const accept = textElement('button', 'secondary accept', 'Accept');
  accept.type = 'button';
  accept.addEventListener('click', async () => {
    accept.disabled = true;
    const target = { id: a.actor.id, type: 'person' };
    try {
      await send('make-friend', { target });
      await send('request-friend', { target }); // and see their presence too
    } catch (err) { problem(status(), 'Accepting failed', err); }
  });
  li.append(' ', accept);
}

function onEvent(a) {
  if (!isXmpp(a) || !page.conn) return;
  const o = a.object || {};
  if (o.type === 'connection') {
    const detail = [o.attempt != null && `attempt ${o.attempt}`, o.reason].filter(Boolean).join(': ');
    setState(o.state, detail);
    accountLine(`${o.state}${detail ? ` (${detail})` : ''}`, { state: o.state });
    if (!restoring) remember();
  } else if (signals.onSignal(a)) {
    // typing, react, delete, receipt: drawn by xmpp-signals.js
  } else if (a.type === 'send') onMessage(a);
  else if (a.type === 'update' && o.type === 'presence') onPresence(a);
  else if (a.type === 'update' && o.type === 'topic') {
    const c = conversation(a.target.id, 'room');
    c.topic = o.content || '';
    info(c, c.topic ? `${a.actor.name} set the topic: ${c.topic}` : 'No topic is set', { event: 'topic' });
    render();
  } else if (a.type === 'join' || a.type === 'leave') {
    const c = conversation(a.target.id, 'room');
    c.joined = a.type === 'join';
    if (!c.joined) c.members.clear();
    info(c, `${a.type === 'join' ? 'You joined' : 'You left'} ${c.jid}${o.reason ? ` (${o.reason})` : ''}`, { event: a.type });
    render();
  } else if (a.type === 'request-friend') onFriendRequest(a);
  else if (a.type === 'make-friend') info(status(), `${a.actor.id} accepted you as a contact`, { event: 'make-friend' });
  else if (a.type === 'error') problem(page.convs.get(bare(a.actor.id)) || status(), 'Error', { message: a.error, code: o.code });
}

sc.on('message', onEvent);

function addMembers(c, att) {
  for (const nick of att.object.members || []) {
    if (!c.members.has(nick)) c.members.set(nick, { presence: 'online', role: att.object.roles?.[nick] });
  }
}

async function attendance(c) {
  try {
    addMembers(c, await send('query', { target: roomTarget(c), object: { type: 'attendance' } }));
  } catch (err) { problem(c, 'Could not list the people', err); }
  render();
}

/**
 * After a reload, the replies to the page before arrive here (no promise waits for them):
 * our own lines in a chat (a room reflects them, a chat does not), the rooms joined and
 * left, who was in them, the account we logged in as.
 */
sc.on('reply', (frame) => {
  if (frame.status === 'failed') { onOldFailure(frame); return; }
  const a = frame.result;
  if (!a || !isXmpp(a) || !page.conn) return;
  const o = a.object || {};
  const target = a.target || {};
  if (a.type === 'connect' && o.jid) {
    page.conn.jid = o.jid;
    setState('connected');
  } else if (a.type === 'send' && target.type !== 'room') {
    const c = conversation(target.id, 'chat');
    const li = entry(c, 'message', { from: page.conn.nick, text: o.content || '', data: { own: 'true', status: 'completed', id: o.id } });
    signals.decorate(c, li, o.inReplyTo);
  } else if (a.type === 'join' && target.type === 'room') {
    const c = conversation(target.id, 'room');
    c.nick = page.conn.nick;
    c.joined = true;
  } else if (a.type === 'leave' && target.type === 'room') {
    conversation(target.id, 'room').joined = false;
  } else if (a.type === 'query' && o.type === 'attendance' && a.actor) {
    addMembers(conversation(a.actor.id, 'room'), a);
  } else if (a.type === 'disconnect') {
    setState('disconnected');
  }
  render();
});

/** A `connect` of the page before the reload failed: show it as that page would have. */
function onOldFailure(frame) {
  const a = frame.activity;
  if (!a || a.type !== 'connect' || !isXmpp(a) || !page.conn) return;
  const e = frame.error || {};
  accountLine('Connect failed', null, new SockethubClient.SockethubError(e.code, e.message, e));
  setState('disconnected', e.code);
  page.conn = null;
  render();
  remember();
}

// ---- the gateway connection --------------------------------------------------------------

let saved = {};

sc.on('connection', (info_) => {
  let text = info_.state;
  if (info_.state === 'closed' && info_.willReconnect) text += ` (retrying in ${info_.delayMs} ms)`;
  showState($('socket'), info_.state, text);
  page.gatewayUp = ['open', 'resumed', 'new-session'].includes(info_.state);
  if (info_.state === 'resumed' && info_.restored) {
    restoring = true; // the session's stream follows; ready() once it is all in
    sc.ready().then(() => finishRestore(saved), () => { restoring = false; });
  } else if (info_.restored && page.conn) {
    // A reload, but the session did not outlive it (it expired): log in again.
    const why = SockethubClient.describeError(info_.resumeError);
    accountLine(`The gateway session ended${why ? ` (${why})` : ''}; connect again`, { event: 'new-session' });
    setState('disconnected', 'the gateway session ended');
    page.conn = null;
    remember();
  }
  render();
});

sc.on('welcome', (w) => { if (w.resumed && w.missed) missedLine(w.missed, accountLine); });

// ---- the user's actions ----------------------------------------------------------------

$('connect-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const jid = $('jid').value.trim();
  const nick = $('nick').value.trim() || jid.split('@')[0];
  const actor = { id: jid, type: 'person', name: nick };
  const creds = { userAddress: jid, password: $('password').value, resource: $('resource').value.trim() };
  if ($('server').value.trim()) creds.server = $('server').value.trim();
  if ($('port').value) creds.port = Number($('port').value);
  page.conn = { actor, nick, state: 'connecting' };
  setState('connecting');
  remember(); // a reload while logging in picks the login up when it is done
  accountLine(`Logging in as ${jid}`);
  try {
    await sc.credentials('xmpp', actor, creds);
    const reply = await sc.connect('xmpp', actor);
    page.conn.jid = reply.object.jid;
    setState('connected');
    accountLine(`Logged in as ${page.conn.jid}`, { event: 'connected' });
  } catch (err) {
    accountLine('Connect failed', null, err);
    setState('disconnected', err.code);
    page.conn = null;
    render();
  }
  remember();
});

$('disconnect').addEventListener('click', async () => {
  try { await send('disconnect'); } catch (err) { accountLine('Disconnect failed', null, err); }
  setState('disconnected');
  page.conn = null;
  render();
  remember();
});

$('presence-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const object = { type: 'presence', presence: $('presence').value, content: $('status').value };
  try { await send('update', { object }); info(status(), `You are ${object.presence}`, { event: 'presence' }); }
  catch (err) { problem(status(), 'Presence failed', err); }
});

$('open-form').addEventListener('submit', (ev) => { // Chat: a window for a contact
  ev.preventDefault();
  const jid = bare($('address').value.trim());
  if (jid) {
    const c = conversation(jid, 'chat');
    show(c.key);
    signals.loadProfile(c);
  }
  remember();
});

$('join').addEventListener('click', async () => {
  const c = conversation(bare($('address').value.trim()), 'room');
  c.nick = page.conn.nick;
  show(c.key);
  try {
    await send('join', { target: roomTarget(c) });
    c.joined = true;
    addMembers(c, await send('query', { target: roomTarget(c), object: { type: 'attendance' } }));
  } catch (err) { problem(c, `Could not join ${c.jid}`, err); }
  render();
  remember();
});

$('leave').addEventListener('click', async () => {
  const c = page.convs.get(page.current);
  try { await send('leave', { target: roomTarget(c) }); } catch (err) { problem(c, 'Leave failed', err); }
  render();
  remember();
});

$('add-contact').addEventListener('click', async () => {
  const target = { id: bare($('address').value.trim()), type: 'person' };
  try { await send('request-friend', { target }); info(status(), `Asked ${target.id} to add you`, { event: 'request-friend' }); }
  catch (err) { problem(status(), 'Adding failed', err); }
});

$('send-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const c = page.convs.get(page.current);
  const content = $('message').value;
  if (!c || !content) return;
  $('message').value = '';
  const target = c.kind === 'room' ? roomTarget(c) : { id: c.jid, type: 'person' };
  const inReplyTo = signals.takeReply(c);
  signals.typingDone();
  // A room reflects our message back (that is what we show); a chat is shown here.
  const li = c.kind === 'chat' ? entry(c, 'message', { from: page.conn.nick, text: content, data: { own: 'true', status: 'sending' } }) : null;
  if (li) signals.decorate(c, li, inReplyTo);
  try {
    const object = { type: 'message', content, ...(inReplyTo ? { inReplyTo } : {}) };
    const result = await send('send', { target, object });
    if (li) { li.dataset.status = 'completed'; li.dataset.id = result.object.id; }
  } catch (err) {
    if (li) li.dataset.status = 'failed';
    problem(c, 'Not sent', err);
  }
});

wireUpload(sc); // the Upload button (xmpp-upload.js)
$('message').addEventListener('input', () => signals.typingInput(page.convs.get(page.current)));
status();
saved = recall();
keepCheckbox(sc, $('keep'), keep, (text) => accountLine(text, { event: 'keep' }), remember);
render();
