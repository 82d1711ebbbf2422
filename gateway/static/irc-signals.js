// The IRC page's typing indicator, replies and reactions: the shared shapes of
// docs/protocol.md ("Shapes shared by the chat platforms"), which IRC carries as IRCv3
// client tags (+typing, +draft/reply, +draft/react). A server without message-tags drops
// typing quietly, refuses a reaction (shown as an error line) and gets a reply as a plain
// message.
import { page, fold, nameOf, isMe, problem } from '/static/irc-view.js';

const { $, textElement } = globalThis.Examples;

const EMOJIS = ['👍', '❤️', '😂', '🎉', '👀'];
const TYPING_EVERY = 3000; // +typing: "active" at most every 3 s; the connector drops more
const PAUSED_AFTER = 5000; // no key for this long: "paused"
const TYPING_EXPIRES = 6000; // someone's "active" without a refresh ends after 6 s

let send = null; // (verb, parts) → promise of the reply: irc() of irc.js
let targetOf = null; // a window → the AS2 target of its conversation
let replyTo = null; // {id, from, text, key}: the message the next one answers

// ---- typing ---------------------------------------------------------------------------

const typing = new Map(); // window key → Map nick → expiry timer
const mine = { key: null, last: 0, pause: null }; // what we told the current window

function renderTyping() {
  const who = [...(typing.get(page.current)?.keys() || [])];
  const el = $('typing');
  el.dataset.nicks = who.join(' ');
  el.textContent = who.length === 0 ? ''
    : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
}

function setTyping(key, nick, on) {
  const here = typing.get(key) || new Map();
  clearTimeout(here.get(nick));
  here.delete(nick);
  if (on) here.set(nick, setTimeout(() => setTyping(key, nick, false), TYPING_EXPIRES));
  typing.set(key, here);
  if (key === page.current) renderTyping();
}

/** A `typing` event: `composing` shows the nick; `paused` and `active` take it away. */
export function onTyping(a) {
  const nick = nameOf(a.actor);
  if (isMe(nick)) return;
  const key = a.target && a.target.type === 'room' ? fold(nameOf(a.target)) : fold(nick);
  setTyping(key, nick, a.object && a.object.state === 'composing');
}

function tell(c, state) {
  send('typing', { target: targetOf(c), object: { type: 'typing', state } }).catch(() => {});
}

/** The message input changed: `composing` (at most every 3 s), `paused` after 5 s idle,
 * `active` once the line is empty again. */
function typed() {
  const c = page.convs.get(page.current);
  if (!c || c.kind === 'status' || !page.conn || page.conn.state !== 'connected') return;
  const text = $('message').value;
  clearTimeout(mine.pause);
  if (mine.key && mine.key !== c.key) stopped();
  if (!text || text.startsWith('/')) { if (mine.key) { tell(c, 'active'); mine.key = null; } return; }
  const now = Date.now();
  if (mine.key !== c.key || now - mine.last >= TYPING_EVERY) {
    tell(c, 'composing');
    mine.key = c.key;
    mine.last = now;
  }
  mine.pause = setTimeout(() => { tell(c, 'paused'); mine.last = 0; }, PAUSED_AFTER);
}

/** The line was sent (a message ends typing by itself) or the window changed. */
export function stopped() {
  clearTimeout(mine.pause);
  mine.key = null;
  mine.last = 0;
}

// ---- replies --------------------------------------------------------------------------

function renderReplyBar() {
  const bar = $('reply-bar');
  bar.hidden = !replyTo || replyTo.key !== page.current;
  $('reply-text').textContent = replyTo ? `Replying to ${replyTo.from}: ${replyTo.text}` : '';
}

/** What the next `send` in window `c` answers: `{inReplyTo}` or nothing; then forgotten. */
export function takeReply(c) {
  if (!replyTo || replyTo.key !== c.key) return {};
  const id = replyTo.id;
  replyTo = null;
  renderReplyBar();
  return { inReplyTo: id };
}

const byId = (c, id) => [...c.log.querySelectorAll('li[data-id]')].find((li) => li.dataset.id === id);

// ---- reactions ------------------------------------------------------------------------

function chips(li) {
  let box = li.querySelector('.reactions');
  if (!box) { box = textElement('span', 'reactions', ''); li.append(box); }
  return box;
}

/** Add or take away `nick`'s `emoji` on the message `li`; the chip counts the nicks. */
function applyReaction(li, emoji, nick, remove) {
  li.reactions = li.reactions || new Map();
  const who = li.reactions.get(emoji) || new Set();
  if (remove) who.delete(nick); else who.add(nick);
  li.reactions.set(emoji, who);
  const box = chips(li);
  let chip = [...box.children].find((b) => b.dataset.emoji === emoji);
  if (!who.size) { chip?.remove(); li.reactions.delete(emoji); return; }
  if (!chip) {
    chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'reaction';
    chip.dataset.emoji = emoji;
    chip.addEventListener('click', () => react(li, emoji, chip.dataset.mine === 'true'));
    box.append(chip);
  }
  chip.dataset.count = String(who.size);
  chip.dataset.mine = String([...who].some((n) => isMe(n)));
  chip.title = [...who].join(', ');
  chip.textContent = `${emoji} ${who.size}`;
}

async function react(li, emoji, remove) {
  const c = page.convs.get(li.dataset.key) || page.convs.get(page.current);
  const object = { type: 'reaction', inReplyTo: li.dataset.id, content: emoji, ...(remove ? { remove: true } : {}) };
  try {
    await send('react', { target: targetOf(c), object });
    applyReaction(li, emoji, page.conn.nick, remove); // our own comes back as no event
  } catch (err) {
    problem(c, 'Reaction not sent', err);
  }
}

/** A `react` event: someone added (or took back) an emoji on a message we show. */
export function onReact(a) {
  const o = a.object || {};
  const nick = nameOf(a.actor);
  const key = a.target && a.target.type === 'room' ? fold(nameOf(a.target)) : fold(nick);
  const c = page.convs.get(key);
  const li = c && byId(c, o.inReplyTo);
  if (li) applyReaction(li, o.content, nick, o.remove === true);
}

// ---- message lines --------------------------------------------------------------------

function button(cls, text, title, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

/**
 * A message line of window `c` that has its server id (`li.dataset.id`): the message it
 * answers above it, and buttons to reply and react. `inReplyTo`: the id it answers.
 */
export function decorate(c, li, inReplyTo) {
  li.dataset.key = c.key;
  if (inReplyTo) {
    li.dataset.inReplyTo = inReplyTo;
    const original = byId(c, inReplyTo);
    const quote = original
      ? `↪ ${original.dataset.from}: ${original.querySelector('.text')?.textContent || ''}`
      : '↪ an earlier message';
    li.querySelector('.text')?.before(textElement('span', 'in-reply-to', quote));
  }
  if (!li.dataset.id || li.querySelector('.actions')) return;
  const actions = textElement('span', 'actions', '');
  actions.append(button('reply', '↩', 'Reply', () => {
    replyTo = { id: li.dataset.id, from: li.dataset.from, text: li.querySelector('.text')?.textContent || '', key: c.key };
    renderReplyBar();
    $('message').focus();
  }));
  const picker = textElement('span', 'picker', '');
  picker.hidden = true;
  for (const emoji of EMOJIS) {
    picker.append(button('pick', emoji, `React with ${emoji}`, () => { picker.hidden = true; react(li, emoji, false); }));
  }
  actions.append(button('react', '☺+', 'React', () => { picker.hidden = !picker.hidden; }), picker);
  li.append(actions);
}

/** Wire the input line; `irc(verb, parts)` sends, `target(c)` names a window's target. */
export function initSignals(irc, target) {
  send = irc;
  targetOf = target;
  $('message').addEventListener('input', typed);
  $('reply-cancel').addEventListener('click', () => { replyTo = null; renderReplyBar(); });
}

/** The window shown changed: its typing line and reply bar. */
export function renderSignals() {
  if (mine.key && mine.key !== page.current) stopped();
  renderTyping();
  renderReplyBar();
}

/** Someone's message ends their typing. */
export const typingEnded = (c, nick) => setTyping(c.key, nick, false);
