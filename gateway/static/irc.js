// The IRC example page: an IRC client on the Sockethub client, for app authors to read.
//
// What it shows of the client (docs/client.md):
// - credentials, then `connect`, then `join`, `send`, `query`... each a promise of a reply;
// - events from IRC (`sc.on('message')`), filtered to this page's connection;
// - a reload: the client keeps the session in sessionStorage and resumes it, the gateway
//   replays the session's stream (events, and replies to the page before: `sc.on('reply')`),
//   and the page rebuilds its windows from them. The IRC connection never noticed.
import '/static/sockethub-client.js';
import {
  page, fold, isChannel, nameOf, conversation, status, channel, privateChat,
  nameStatus, closeWindow, show, renderTopic, renderControls, renderState,
  setState, entry, info, problem, connectionLine,
} from '/static/irc-view.js';
import { ircEvent, isIrc, ours, onAttendance } from '/static/irc-events.js';
import { setupDirectory, profile } from '/static/irc-rooms.js';
import { decorate, initSignals, renderSignals, stopped, takeReply } from '/static/irc-signals.js';

const { SockethubClient } = globalThis;
const { $, startClient, showState, pageMemory, missedLine, keepChoice, keepCheckbox, notifyMe } = globalThis.Examples;

// The backstop for requests: above the IRC connect's own limit of 45 s, which the welcome
// does not announce (the default would be requestTimeout + 5 s). storageName: this page's
// session is its own, apart from the other example pages of this tab. "Keep me connected"
// (keepChoice) adds `keep` and localStorage: the nick stays on IRC while the page is closed.
const keep = keepChoice('irc');
const sc = startClient({ requestTimeoutMs: 50000, storageName: 'irc', ...keep.clientOptions() });
// "notify me": Web Push from the session while no tab is open (examples.js).
notifyMe(sc, $('notify'), '/static/irc.html');

// ---- what a reload keeps ----------------------------------------------------------------

// Form values, the connection's actor, the joined channels, the window shown. Not the
// password: the gateway session has the credentials.
const memory = pageMemory('irc', keep);
let restoring = false; // a reload's replay is coming in: rebuild, do not act on it

function remember() {
  const { conn } = page;
  memory.save({
    form: { nick: $('nick').value, server: $('server').value, port: $('port').value, secure: $('secure').checked },
    conn: conn && conn.state !== 'disconnected' ? { actor: conn.actor, nick: conn.nick, server: conn.server } : null,
    channels: [...page.convs.values()].filter((c) => c.kind === 'channel' && c.joined).map((c) => c.name),
    current: page.convs.get(page.current)?.name ?? null,
  });
}

function recall() {
  const saved = memory.load();
  const form = saved.form || {};
  $('nick').value = form.nick || `web${Math.floor(1000 + Math.random() * 9000)}`;
  if (form.server) $('server').value = form.server;
  if (form.port) $('port').value = form.port;
  if (typeof form.secure === 'boolean') $('secure').checked = form.secure;
  if (!saved.conn || !sc.session) return saved; // no session to resume: nothing is up
  page.conn = { ...saved.conn, state: 'restoring' };
  nameStatus(page.conn.server);
  setState('restoring', 'resuming the gateway session');
  return saved;
}

/** The replay is in: ask what the stream may no longer hold (it is bounded). */
async function finishRestore(saved) {
  restoring = false;
  const { conn } = page;
  if (!conn) return;
  if (conn.state === 'restoring') {
    // The stream's start was trimmed before any connection state: ask. `connect` on a
    // session's live connection answers at once, as it is (it is shared, not redone).
    try {
      const result = await sc.connect('irc', conn.actor);
      conn.nick = result?.object?.nick || conn.nick;
      setState('connected');
    } catch (err) {
      setState('disconnected', `${err.code}: ${err.message}`);
      connectionLine('The IRC connection is gone', null, err);
    }
  }
  if (page.conn?.state === 'disconnected') { remember(); return; }
  for (const name of saved.channels || []) channel(name).joined = true;
  const windows = [...page.convs.values()];
  const wanted = windows.find((c) => c.name === saved.current);
  if (wanted) show(wanted.key);
  // Members: the replay rebuilt them, but its start may be gone; NAMES is invisible to
  // the channel, unlike a JOIN.
  for (const c of windows) if (c.kind === 'channel' && c.joined) names(c);
  remember();
}

// ---- the IRC connection's state -------------------------------------------------------

function onConnectionEvent(a) {
  const o = a.object || {};
  if (a.target && a.target.name && page.conn) page.conn.nick = a.target.name;
  let detail = '';
  if (o.state === 'reconnecting') {
    detail = `attempt ${o.attempt ?? '?'}` + (o.delay != null ? `, in ${o.delay} s` : '');
  }
  if (o.reason) detail += (detail ? ': ' : '') + o.reason;
  setState(o.state, detail);
  connectionLine(`${o.state}${detail ? ` (${detail})` : ''}`, { state: o.state });
  if (!restoring) remember();
}

// ---- events from IRC (irc-events.js) ----------------------------------------------------

sc.on('message', (a) => ircEvent(a, {
  onConnection: onConnectionEvent,
  onMyNick: () => { if (!restoring) remember(); },
}));

/**
 * After a reload, the replies to the page before arrive here (no promise waits for them).
 * IRC does not echo our own messages: a `send` reply is how our lines get back into the
 * scrollback; `join`, `leave` and `disconnect` replies say what the page did.
 */
sc.on('reply', (frame) => {
  if (frame.status === 'failed') { onOldFailure(frame); return; }
  const a = frame.result;
  if (!a || !isIrc(a) || !ours(a)) return;
  const target = a.target || {};
  if (a.type === 'send') {
    const text = (a.object && a.object.content) || '';
    const c = target.type === 'room' ? channel(nameOf(target)) : privateChat(nameOf(target));
    const [kind, shown] = text.startsWith('/me ') ? ['action', text.slice(4)]
      : text.startsWith('/notice ') ? ['notice', text.slice(8)] : ['message', text];
    const o = a.object || {};
    const li = entry(c, kind, { from: page.conn.nick, text: shown, data: { own: 'true', status: 'sent', id: o.id } });
    decorate(c, li, o.inReplyTo);
  } else if (a.type === 'join') {
    channel(nameOf(target)).joined = true;
  } else if (a.type === 'leave') {
    const c = page.convs.get(fold(nameOf(target)));
    if (c) closeWindow(c);
  } else if (a.type === 'disconnect') {
    setState('disconnected', 'you disconnected');
  } else if (a.type === 'connect' && a.object && a.object.state === 'connected') {
    page.conn.nick = a.object.nick || page.conn.nick;
    setState('connected');
  }
});

/** A `connect` of the page before the reload failed: show it as that page would have. */
function onOldFailure(frame) {
  const a = frame.activity;
  if (!a || a.type !== 'connect' || !isIrc(a) || !ours(a)) return;
  const e = frame.error || {};
  const err = new SockethubClient.SockethubError(e.code, e.message, e);
  setState('disconnected', `${err.code}: ${err.message}`);
  connectionLine('Connect failed', null, err);
  remember();
}

// ---- the gateway connection -----------------------------------------------------------

let saved = null;

sc.on('connection', (info_) => {
  let text = info_.state;
  if (info_.state === 'connecting' && info_.attempt > 1) text += ` (attempt ${info_.attempt})`;
  if (info_.state === 'closed' && info_.willReconnect) text += ` (retrying in ${info_.delayMs} ms)`;
  showState($('socket'), info_.state, text);
  page.gatewayUp = ['open', 'resumed', 'new-session'].includes(info_.state);
  renderState();
  renderControls();
  const { conn } = page;
  if (info_.state === 'resumed' && info_.restored) {
    restoring = true; // the session's stream follows; ready() once it is all in
    sc.ready().then(() => finishRestore(saved), () => { restoring = false; });
  } else if (info_.restored || (info_.state === 'open' && conn && conn.state === 'restoring')) {
    // A reload, but the session did not outlive it (expired, or never kept): start over.
    if (conn) {
      const why = SockethubClient.describeError(info_.resumeError);
      setState('disconnected', 'the gateway session ended');
      connectionLine(`The gateway session ended${why ? ` (${why})` : ''}; connect again`, { event: 'new-session' });
      page.conn = null;
      remember();
    }
  } else if (info_.state === 'new-session' && conn && conn.state !== 'disconnected') {
    const why = SockethubClient.describeError(info_.resumeError);
    connectionLine(`The gateway session was lost${why ? ` (${why})` : ''}; `
      + 'sending credentials, connect and joins again', { event: 'new-session' });
    // The client replays credentials → connect → join by itself. Once that is done,
    // ask each joined channel for its members again: the lists may have changed.
    const replaying = conn;
    replaying.replaying = true;
    sc.ready().then(() => {
      replaying.replaying = false;
      if (page.conn !== replaying) return;
      for (const c of page.convs.values()) if (c.kind === 'channel' && c.joined) names(c);
    }, () => { replaying.replaying = false; });
  }
});

sc.on('welcome', (w) => {
  page.ircServed = (w.platforms || []).some((p) => p.name === 'irc');
  if (!page.ircServed) info(conversation('server', 'status'), 'This gateway does not serve the irc platform.');
  if (w.resumed && w.missed) missedLine(w.missed, connectionLine);
  renderControls();
});

sc.on('error', (err) => {
  connectionLine(err.replay ? `Sending ${err.activity && err.activity.type} again failed` : 'Gateway', null, err);
  if (err.replay && err.activity && err.activity.type === 'connect') setState('disconnected', err.message);
});

// ---- requests ------------------------------------------------------------------------

const irc = (type, parts = {}) => sc.send({ platform: 'irc', type, actor: page.conn.actor, ...parts });
const roomOf = (name) => ({ type: 'room', id: `${name}@${page.conn.server}`, name });
const personOf = (nick) => ({ type: 'person', id: `${nick}@${page.conn.server}`, name: nick });

async function connect() {
  const nick = $('nick').value.trim();
  const server = $('server').value.trim();
  if (!nick || !server) return;
  const creds = { nick, server, secure: $('secure').checked };
  const port = parseInt($('port').value, 10);
  if (port) creds.port = port;
  if ($('password').value) creds.password = $('password').value;
  // The actor names the connection; it keeps its id even when the nick changes.
  page.conn = { actor: { type: 'person', id: `${nick}@${server}`, name: nick }, nick, server, state: 'connecting' };
  nameStatus(server);
  setState('connecting');
  remember(); // a reload while connecting picks the connection up when it is done
  connectionLine(`Connecting to ${server}${port ? `:${port}` : ''}${creds.secure ? ' (TLS)' : ''} as ${nick}`);
  try {
    await sc.credentials('irc', page.conn.actor, creds);
    const result = await sc.connect('irc', page.conn.actor);
    const now = result && result.object && result.object.nick;
    if (now) page.conn.nick = now;
    setState('connected');
    connectionLine(`Connected as ${page.conn.nick}`, { event: 'connected' });
    remember();
    $('channel').focus();
  } catch (err) {
    // The message says what to change (tls-error against a plain port: turn TLS off).
    setState('disconnected', `${err.code}: ${err.message}`);
    connectionLine('Connect failed', null, err);
    sc.clearCredentials();
    remember();
  }
}

async function disconnect() {
  if (!page.conn) return;
  try {
    await irc('disconnect');
    connectionLine('Disconnected', { event: 'disconnected' });
  } catch (err) {
    connectionLine('Disconnect failed', null, err);
  }
  sc.clearCredentials();
  setState('disconnected', 'you disconnected');
  remember();
}

async function join(name) {
  name = name.trim();
  if (!page.conn || !name) return;
  if (!isChannel(name)) name = '#' + name;
  const c = channel(name);
  show(c.key);
  try {
    await irc('join', { target: roomOf(c.name) });
    c.joined = true;
    if (c.key === page.current) $('message').focus();
  } catch (err) {
    problem(c, `Could not join ${c.name}`, err);
  }
  if (c.key === page.current) { renderTopic(); renderControls(); }
  remember();
}

async function leave(c, reason) {
  if (!c || c.kind === 'status') return;
  const { conn } = page;
  if (c.kind === 'channel' && c.joined && conn && conn.state !== 'disconnected') {
    try {
      await irc('leave', { target: roomOf(c.name), ...(reason ? { object: { type: 'message', content: reason } } : {}) });
    } catch (err) {
      problem(c, `Could not leave ${c.name}`, err);
      return;
    }
  }
  closeWindow(c);
  remember();
}

async function names(c) {
  try {
    onAttendance(await irc('query', { target: roomOf(c.name), object: { type: 'attendance' } }));
  } catch (err) {
    problem(c, 'Could not list the members', err);
  }
}

async function say(c, text) {
  const target = c.kind === 'channel' ? roomOf(c.name) : personOf(c.name);
  // IRC does not echo our own messages: show them at once, marked until the reply.
  const data = { own: 'true', status: 'sending' };
  const { nick } = page.conn;
  const li = text.startsWith('/me ') ? entry(c, 'action', { from: nick, text: text.slice(4), data })
    : text.startsWith('/notice ') ? entry(c, 'notice', { from: nick, text: text.slice(8), data })
      : entry(c, 'message', { from: nick, text, data });
  const reply = takeReply(c); // {inReplyTo} when the reply bar named a message
  stopped(); // the message ends our typing
  try {
    const result = await irc('send', { target, object: { type: 'message', content: text, ...reply } });
    li.dataset.status = 'sent';
    // With echo-message the reply names the server's id: others may reply or react to it.
    if (result && result.object && result.object.id) li.dataset.id = result.object.id;
    decorate(c, li, reply.inReplyTo);
  } catch (err) {
    li.dataset.status = 'failed';
    li.dataset.code = err.code;
    li.classList.add('error');
    li.title = err.message;
    problem(c, 'Not sent', err);
  }
}

/** The input line: a message, or one of a few commands. */
async function submit(line) {
  const c = page.convs.get(page.current);
  const [, command, rest = ''] = /^\/(\S+)\s*([\s\S]*)$/.exec(line) || [];
  if (!command || command.startsWith('/')) { // "//text" sends "/text"
    const text = command ? line.slice(1) : line;
    if (!c || c.kind === 'status') { info(status(), 'Join a channel first, or use /msg nick text'); return; }
    if (c.kind === 'channel' && !c.joined) { info(c, `You are not in ${c.name}`); return; }
    await say(c, text);
    return;
  }
  switch (command.toLowerCase()) {
    case 'me':
    case 'notice':
      if (c && c.kind !== 'status') await say(c, line);
      else info(status(), `/${command} needs a channel or a private conversation`);
      return;
    case 'join': await join(rest.split(/\s+/)[0] || ''); return;
    case 'part':
    case 'leave': await leave(c, rest); return;
    case 'nick': {
      const nick = rest.trim();
      if (!nick) return;
      try {
        await irc('update', { target: personOf(nick), object: { type: 'address' } });
      } catch (err) { problem(status(), 'Nick change failed', err); }
      return;
    }
    case 'topic': {
      if (!c || c.kind !== 'channel') { info(status(), '/topic needs a channel'); return; }
      try {
        await irc('update', { target: roomOf(c.name), object: { type: 'topic', content: rest } });
      } catch (err) { problem(c, 'Topic not set', err); }
      return;
    }
    case 'msg':
    case 'query': {
      const [, nick, text] = /^(\S+)\s*([\s\S]*)$/.exec(rest) || [];
      if (!nick) return;
      const target = isChannel(nick) ? channel(nick) : privateChat(nick);
      show(target.key);
      if (text) await say(target, text);
      return;
    }
    case 'names':
      if (c && c.kind === 'channel') await names(c);
      return;
    case 'whois': await profile(rest.trim()); return;
    default:
      info(c || status(), `Unknown command /${command} (start with // to send a line that begins with /)`);
  }
}

// ---- the form ------------------------------------------------------------------------

$('secure').addEventListener('change', () => { $('port').placeholder = $('secure').checked ? '6697' : '6667'; });
$('connect-form').addEventListener('submit', (ev) => { ev.preventDefault(); connect(); });
$('disconnect').addEventListener('click', () => disconnect());
$('join-form').addEventListener('submit', (ev) => { ev.preventDefault(); join($('channel').value); });
$('leave').addEventListener('click', () => leave(page.convs.get(page.current)));
$('send-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const line = $('message').value;
  if (!line.trim()) return;
  $('message').value = '';
  submit(line);
});
$('message').addEventListener('input', renderControls);
keepCheckbox(sc, $('keep'), keep, (text) => connectionLine(text, { event: 'keep' }), remember);
setupDirectory({ irc, join });
initSignals(irc, (c) => (c.kind === 'channel' ? roomOf(c.name) : personOf(c.name)));
page.onShow = renderSignals;
conversation('server', 'status');
saved = recall();
$('port').placeholder = $('secure').checked ? '6697' : '6667';
renderControls();
