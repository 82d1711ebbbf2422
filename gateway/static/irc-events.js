// The IRC page's reading of IRC events (docs/irc.md has their shapes): each one changes
// the windows of irc-view.js. Ours are the events of this page's connection only: their
// ids end in @<server>.
import {
  page, fold, nameOf, isMe, status, channel, privateChat,
  renderTopic, renderMembers, renderControls, entry, info,
} from '/static/irc-view.js';

import { decorate, onReact, onTyping, typingEnded } from '/static/irc-signals.js';

const { $ } = globalThis.Examples;

export const isIrc = (a) => Array.isArray(a['@context'])
  && a['@context'].some((u) => typeof u === 'string' && u.includes('/platform/irc/'));

/** Whether an event concerns this page's connection (its ids end in @<server>). */
export function ours(a) {
  if (!page.conn) return false;
  const host = page.conn.server.toLowerCase();
  return [a.actor, a.target].some((e) => {
    const id = String((e && e.id) || '').toLowerCase();
    return id === host || id.endsWith('@' + host);
  });
}

function removeMember(c, nick) {
  for (const k of c.members.keys()) {
    if (fold(k) === fold(nick)) { c.members.delete(k); return true; }
  }
  return false;
}
const hasMember = (c, nick) => [...c.members.keys()].some((k) => fold(k) === fold(nick));

function onSend(a) {
  const o = a.object || {};
  const from = nameOf(a.actor);
  const kind = o.type === 'me' ? 'action' : o.type === 'notice' ? 'notice' : 'message';
  let c;
  if (a.target && a.target.type === 'room') c = channel(nameOf(a.target));
  else if (a.actor && a.actor.type === 'service') c = status();
  else if (kind === 'notice' && !page.convs.has(fold(from))) c = page.convs.get(page.current) || status();
  else c = privateChat(from);
  const li = entry(c, kind, { from, text: o.content || '', when: a.published, data: { id: o.id } });
  decorate(c, li, o.inReplyTo); // reply and react buttons; the message it answers
  typingEnded(c, from);
}

function onJoin(a) {
  const nick = nameOf(a.actor);
  const c = channel(nameOf(a.target));
  if (isMe(nick)) {
    c.joined = true;
    info(c, `You joined ${c.name}`, { event: 'join', nick });
  } else {
    info(c, `${nick} joined ${c.name}`, { event: 'join', nick });
  }
  if (!hasMember(c, nick)) c.members.set(nick, 'member');
  if (c.key === page.current) { renderMembers(); renderTopic(); renderControls(); }
}

function onLeave(a) {
  const nick = nameOf(a.actor);
  const o = a.object || {};
  if (a.target && a.target.type === 'service') { // QUIT: every channel shared with them
    for (const c of page.convs.values()) {
      if ((c.kind === 'channel' && removeMember(c, nick)) || (c.kind === 'private' && fold(c.name) === fold(nick))) {
        info(c, `${nick} quit (${o.content || ''})`, { event: 'quit', nick });
      }
    }
    renderMembers();
    return;
  }
  const c = page.convs.get(fold(nameOf(a.target)));
  if (!c) return; // a channel whose window was closed when we left it
  removeMember(c, nick);
  if (o.type === 'kick') {
    info(c, `${nick} was kicked by ${nameOf(o.by)} (${o.content || ''})`, { event: 'kick', nick });
  } else {
    info(c, `${nick} left ${c.name} (${o.content || ''})`, { event: 'part', nick });
  }
  if (isMe(nick)) { c.joined = false; c.members.clear(); }
  if (c.key === page.current) { renderMembers(); renderTopic(); renderControls(); }
}

function onNick(a, hooks) {
  const { conn } = page;
  const old = nameOf(a.actor);
  const now = nameOf(a.target);
  const mine = isMe(old);
  if (mine) { conn.nick = now; $('me').textContent = now; }
  if (mine && conn.replaying) {
    // Registering again after a lost session, and the nick was taken (by our old
    // connection, until its session expires): not a rename in the channels.
    info(status(), `Registered as ${now} (${old} is in use)`, { event: 'nick', nick: now });
    return;
  }
  if (mine) info(status(), `You are now known as ${now}`, { event: 'nick', nick: now });
  for (const c of page.convs.values()) {
    if (c.kind === 'channel') {
      const role = [...c.members.entries()].find(([k]) => fold(k) === fold(old));
      if (!role) continue;
      removeMember(c, old);
      c.members.set(now, role[1]);
    } else if (c.kind !== 'private' || fold(c.name) !== fold(old)) {
      continue;
    }
    info(c, `${old} is now known as ${now}`, { event: 'nick', nick: now, old });
  }
  renderMembers();
  if (mine) hooks.onMyNick();
}

function onUpdate(a, hooks) {
  const o = a.object || {};
  if (o.type === 'address') { onNick(a, hooks); return; }
  const c = channel(nameOf(a.target));
  const by = a.actor && a.actor.type !== 'service' ? nameOf(a.actor) : null;
  if (o.type === 'topic') {
    c.topic = o.content || '';
    const text = c.topic
      ? (by ? `${by} set the topic: ${c.topic}` : `Topic: ${c.topic}`)
      : (by ? `${by} cleared the topic` : 'No topic is set');
    info(c, text, { event: 'topic', by });
    if (c.key === page.current) renderTopic();
  } else if (o.type === 'mode') {
    info(c, `${by || nameOf(a.actor)} sets mode ${o.content || ''}`, { event: 'mode', by });
  }
}

function onRole(a) { // MODE +o/-o, +v/-v ...: add|remove a role
  const o = a.object || {};
  if (o.relationship !== 'role' || !o.object) return;
  const c = channel(nameOf(o.object));
  const nick = nameOf(a.target);
  const by = nameOf(a.actor);
  const entryOf = [...c.members.keys()].find((k) => fold(k) === fold(nick)) || nick;
  if (a.type === 'add') c.members.set(entryOf, o.role);
  else if (c.members.get(entryOf) === o.role) c.members.set(entryOf, 'member');
  const text = a.type === 'add' ? `${by} gives ${o.role} to ${nick}` : `${by} takes ${o.role} from ${nick}`;
  info(c, text, { event: 'mode', by, nick });
  if (c.key === page.current) renderMembers();
}

export function onAttendance(a) { // NAMES: the whole member list of a channel
  const o = a.object || {};
  if (o.type !== 'attendance') return;
  const c = channel(nameOf(a.actor));
  c.members = new Map();
  const roles = o.roles || {};
  for (const nick of o.members || Object.keys(roles)) c.members.set(nick, roles[nick] || 'member');
  if (c.key === page.current) renderMembers();
}

/**
 * One event of the client (`sc.on('message')`): what it changes in the page. `hooks`:
 * `onConnection(a)` for a connection state, `onMyNick()` when our own nick changed.
 */
export function ircEvent(a, hooks) {
  if (!isIrc(a) || !ours(a)) return;
  const o = a.object || {};
  switch (a.type) {
    case 'connect':
    case 'disconnect':
      if (o.type === 'connection') hooks.onConnection(a);
      break;
    case 'send': onSend(a); break;
    case 'join': onJoin(a); break;
    case 'leave': onLeave(a); break;
    case 'update': onUpdate(a, hooks); break;
    case 'add':
    case 'remove': onRole(a); break;
    case 'query': onAttendance(a); break;
    case 'typing': onTyping(a); break;
    case 'react': onReact(a); break;
    default: info(status(), `${a.type}: ${JSON.stringify(o)}`);
  }
}
