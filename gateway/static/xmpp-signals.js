// The XMPP page's signals about messages, in the shapes shared with IRC (docs/protocol.md):
// typing (XEP-0085), replies (XEP-0461), reactions (XEP-0444), retraction (XEP-0424),
// read markers (XEP-0333) and a contact's profile and avatar (XEP-0292, XEP-0084).
// Ids: a line's data-id is the `object.id` of its `send`; the gateway maps it to the
// room's stanza-id where a XEP wants that, and back, so the page needs nothing else.
import { page, bare } from '/static/xmpp-view.js';

const { $, textElement } = globalThis.Examples;
const QUICK = ['👍', '❤️', '😂']; // the reactions offered on every line
const TYPING_AGAIN_MS = 5000; // XEP-0085 §5.2: not a notification per key press
const PAUSED_AFTER_MS = 3000;

let send = null; // (verb, extra) → Promise of the result; set by init
let replyTo = null; // {key, id, text} while the composer answers a line
const typingSent = { key: null, at: 0, timer: null };

export function init(sendFn) {
  send = sendFn;
  $('cancel-reply').addEventListener('click', () => setReply(null));
}

const targetOf = (c) => (c.kind === 'room'
  ? { id: c.jid, type: 'room', name: c.jid.split('@')[0] } : { id: c.jid, type: 'person' });
const lineFor = (c, id) => [...c.log.children].find(
  (li) => li.dataset.id === id || li.dataset.stanzaId === id);
// Room events name the room; a chat's name the other person (or us, from our other devices).
const convOf = (a) => page.convs.get(bare(a.target && a.target.type === 'room' ? a.target.id
  : (bare(a.actor.id) === bare(page.conn.actor.id) ? a.target.id : a.actor.id)));

// ---- message lines --------------------------------------------------------------------

/** Reply and reaction buttons on a message line, and the quote when it answers one. */
export function decorate(c, li, inReplyTo) {
  if (inReplyTo) {
    li.dataset.inReplyTo = inReplyTo;
    const quoted = lineFor(c, inReplyTo);
    const text = quoted ? quoted.querySelector('.text').textContent : inReplyTo;
    li.prepend(textElement('span', 'quote muted', `↪ ${text.slice(0, 80)} `));
  }
  const tools = document.createElement('span');
  tools.className = 'tools';
  const reply = textElement('button', 'link reply', 'Reply');
  reply.type = 'button';
  reply.addEventListener('click', () => setReply({ key: c.key, id: li.dataset.id, text: li.querySelector('.text').textContent }));
  tools.append(' ', reply);
  for (const emoji of QUICK) {
    const b = textElement('button', 'link react', emoji);
    b.type = 'button';
    b.dataset.emoji = emoji;
    b.addEventListener('click', () => react(c, li, emoji));
    tools.append(' ', b);
  }
  li.append(tools, textElement('span', 'reactions', ''));
}

function setReply(r) {
  replyTo = r;
  $('replying').hidden = !r;
  $('replying-text').textContent = r ? r.text.slice(0, 80) : '';
}

/** What the next `send` in `c` answers (its line's id), and the composer forgets it. */
export function takeReply(c) {
  const r = replyTo && replyTo.key === c.key && replyTo.id ? replyTo.id : null;
  setReply(null);
  return r;
}

// Who reacted with what on a line: emoji → Set of actor ids, drawn as "👍 2".
function drawReactions(li) {
  const counts = [...(li.reactions || new Map()).entries()].filter(([, who]) => who.size);
  li.querySelector('.reactions').textContent = counts.map(([e, who]) => `${e} ${who.size}`).join(' ');
  li.dataset.reactions = counts.map(([e]) => e).join('');
}

function toggle(li, actor, emoji, remove) {
  li.reactions = li.reactions || new Map();
  const who = li.reactions.get(emoji) || new Set();
  if (remove) who.delete(actor); else who.add(actor);
  li.reactions.set(emoji, who);
  drawReactions(li);
}

async function react(c, li, emoji) {
  const me = c.kind === 'room' ? `${c.jid}/${c.nick}` : bare(page.conn.actor.id);
  const remove = !!li.reactions?.get(emoji)?.has(me);
  const object = { type: 'reaction', inReplyTo: li.dataset.id, content: emoji, ...(remove ? { remove: true } : {}) };
  try {
    await send('react', { target: targetOf(c), object });
    toggle(li, me, emoji, remove);
  } catch (err) { li.dataset.reactError = err.code || 'failed'; }
}

// ---- typing ----------------------------------------------------------------------------

/** The composer changed: `composing` now and then, `paused` once the typing stops. */
export function typingInput(c) {
  if (!c || !page.conn || c.kind === 'status') return;
  const now = Date.now();
  if (typingSent.key !== c.key || now - typingSent.at > TYPING_AGAIN_MS) {
    typingSent.key = c.key;
    typingSent.at = now;
    send('typing', { target: targetOf(c), object: { type: 'typing', state: 'composing' } }).catch(() => {});
  }
  clearTimeout(typingSent.timer);
  typingSent.timer = setTimeout(() => {
    typingSent.at = 0;
    send('typing', { target: targetOf(c), object: { type: 'typing', state: 'paused' } }).catch(() => {});
  }, PAUSED_AFTER_MS);
}

/** A message went: we are no longer typing (its body says `active`, XEP-0085 §5.1). */
export function typingDone() {
  clearTimeout(typingSent.timer);
  typingSent.at = 0;
}

export function renderTyping() {
  const c = page.convs.get(page.current);
  const who = c && c.typing ? [...c.typing] : [];
  $('typing').textContent = who.length ? `${who.join(', ')} ${who.length > 1 ? 'are' : 'is'} typing…` : '';
}

// ---- events ----------------------------------------------------------------------------

/** Handles a typing, react, delete or receipt event; false for any other. */
export function onSignal(a) {
  if (!['typing', 'react', 'delete', 'receipt'].includes(a.type)) return false;
  const c = convOf(a);
  if (!c) return true;
  const o = a.object || {};
  const name = a.actor.name || a.actor.id;
  if (a.type === 'typing') {
    c.typing = c.typing || new Set();
    if (o.state === 'composing') c.typing.add(name); else c.typing.delete(name);
    renderTyping();
    return true;
  }
  const li = lineFor(c, a.type === 'react' ? o.inReplyTo : o.id);
  if (!li) return true;
  if (a.type === 'react') toggle(li, a.actor.id, o.content, !!o.remove);
  else if (a.type === 'delete') {
    li.dataset.retracted = 'true';
    li.querySelector('.text').textContent = '(retracted)';
  } else if (o.status === 'read') li.dataset.read = 'true';
  else li.dataset.delivered = 'true';
  if (a.type !== 'react') c.typing?.delete(name);
  return true;
}

/** A message arrived from someone: they stopped typing. */
export function stoppedTyping(c, name) {
  if (c.typing && c.typing.delete(name)) renderTyping();
}

// ---- profiles ----------------------------------------------------------------------------

const safeImage = (src) => typeof src === 'string'
  && (/^data:image\/(png|jpeg|gif|webp|avif);base64,/.test(src) || /^https:\/\//.test(src));

/** The contact's profile for a chat window, asked once. */
export async function loadProfile(c) {
  if (c.kind !== 'chat' || c.profile !== undefined) return;
  c.profile = null;
  try {
    const result = await send('query', { target: { id: c.jid, type: 'person' }, object: { type: 'profile' } });
    c.profile = result.object;
  } catch { c.profile = { type: 'profile', name: c.jid }; }
  renderProfile();
}

export function renderProfile() {
  const c = page.convs.get(page.current);
  const p = c && c.kind === 'chat' ? c.profile : null;
  const img = $('avatar');
  img.hidden = !(p && safeImage(p.image));
  if (!img.hidden) img.src = p.image; else img.removeAttribute('src');
  $('profile-name').textContent = p ? [p.realName || p.name, p.note].filter(Boolean).join(' · ') : '';
}
