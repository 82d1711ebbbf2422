// reader.html: a feed reader on the feeds platform's follow verbs.
//
// The flow an app follows:
//   1. `follow` a feed (or a page naming one): the reply is the feed's collection as
//      `fetch` gives it, what is there now; its `actor.id` is the feed's URL, which
//      `unfollow` takes;
//   2. every new item then arrives as an event of type `post`, one item each, as long as
//      the session lives; sc.on('post', ...) hears them;
//   3. `opml-import` follows every feed of an OPML document; `opml-export` gives the
//      session's follows as one.
// A follow belongs to the gateway session: if the client ever gets a new session (its
// `connection` event says `new-session`), the follows are gone and the page makes them
// again.
//
// Everything shown comes from feeds someone else wrote: text goes in as text, links only
// when they are http(s) (feeds.html shows an item's HTML in a sandboxed iframe).
import '/static/sockethub-client.js';

const { $, startClient, followConnection, textElement, isWeb, showStatus } = globalThis.Examples;

const sc = startClient();
followConnection(sc, 'state');

const ME = { id: 'me', type: 'person' }; // OPML verbs are about the session, any actor
const SHOWN = 300; // items kept on the page
const feeds = new Map(); // feed URL → {name, li, unread, failing}
const items = new Map(); // feed URL + item id → {post, isNew, when}
let only = null; // the feed whose items are shown, or null for all

// ---- following -----------------------------------------------------------------------

async function follow(url) {
  showStatus('loading', `following ${url}…`);
  try {
    const collection = await sc.send({
      platform: 'feeds', type: 'follow', actor: { id: url, type: 'feed' }, object: { limit: 20 },
    });
    const feed = collection.actor;
    addFeed(feed.id, collection.summary || feed.name);
    for (const post of collection.items || []) addItem(post, false);
    showStatus('completed', `following ${feed.id}${feed.id !== url ? ` (found on ${url})` : ''}`);
    draw();
  } catch (err) {
    showStatus('failed', `${err.code}: ${err.message}`, err.code);
  }
}

async function unfollow(url) {
  try {
    await sc.send({ platform: 'feeds', type: 'unfollow', actor: { id: url, type: 'feed' } });
  } catch (err) {
    // not-found: the gateway had already forgotten it (a new session); drop it all the same
    if (err.code !== 'not-found') { showStatus('failed', `${err.code}: ${err.message}`, err.code); return; }
  }
  if (!feeds.has(url)) return; // a second click while the first was on its way
  feeds.get(url).li.remove();
  feeds.delete(url);
  for (const [key, item] of items) if (item.post.actor.id === url) items.delete(key);
  if (only === url) only = null;
  showStatus('completed', `unfollowed ${url}`);
  draw();
}

function addFeed(url, name) {
  if (feeds.has(url)) return feeds.get(url);
  const li = document.createElement('li');
  li.dataset.url = url;
  const pick = textElement('button', 'pick', name || url);
  pick.type = 'button';
  pick.title = url;
  pick.addEventListener('click', () => { only = only === url ? null : url; draw(); });
  const count = textElement('span', 'count', '');
  const drop = textElement('button', 'unfollow secondary', 'Unfollow');
  drop.type = 'button';
  drop.addEventListener('click', () => unfollow(url));
  li.append(pick, count, drop);
  $('feeds').append(li);
  const feed = { name: name || url, li, unread: 0 };
  feeds.set(url, feed);
  return feed;
}

// New items: one event per item, while the session follows the feed.
sc.on('post', (post) => {
  if (!feeds.has(post.actor.id)) return; // unfollowed meanwhile
  if (addItem(post, true)) {
    const feed = feeds.get(post.actor.id);
    feed.unread += 1;
    draw();
  }
});

// A feed that keeps failing says so once (condition feed-failing); it is still polled.
sc.on('message', (activity) => {
  if (activity.type !== 'error' || !activity.object || activity.object.condition !== 'feed-failing') return;
  const feed = feeds.get(activity.actor.id);
  if (!feed) return;
  feed.li.dataset.failing = 'true';
  feed.li.querySelector('.pick').title = `failing: ${activity.object.content || activity.error}`;
});

// A new session has no follows: make them again (the items seen stay on the page).
sc.on('connection', (info) => {
  if (info.state !== 'new-session') return;
  for (const url of feeds.keys()) {
    sc.send({ platform: 'feeds', type: 'follow', actor: { id: url, type: 'feed' }, object: { limit: 20 } })
      .then((c) => { for (const post of c.items || []) addItem(post, false); draw(); })
      .catch((err) => showStatus('failed', `${url}: ${err.code}: ${err.message}`, err.code));
  }
});

/** Remember an item unless it is there already; whether it was new to the page. */
function addItem(post, isNew) {
  const key = `${post.actor.id} ${post.object.id}`;
  if (items.has(key)) return false;
  items.set(key, { post, isNew, when: post.object.datenum || Date.now() });
  return true;
}

// ---- the river -----------------------------------------------------------------------

function draw() {
  $('no-feeds').hidden = feeds.size > 0;
  for (const [url, feed] of feeds) {
    feed.li.setAttribute('aria-current', String(only === url));
    feed.li.querySelector('.count').textContent = feed.unread ? String(feed.unread) : '';
  }
  $('river-title').textContent = only ? feeds.get(only).name : 'All items';
  const shown = [...items.values()]
    .filter((i) => !only || i.post.actor.id === only)
    .sort((a, b) => (b.isNew - a.isNew) || (b.when - a.when))
    .slice(0, SHOWN);
  $('items').replaceChildren(...shown.map(entry));
  const fresh = shown.filter((i) => i.isNew).length;
  $('new-count').hidden = !fresh;
  $('new-count').textContent = `${fresh} new`;
}

function plain(html) {
  // Parsing into an inert document runs nothing and loads nothing; we keep its text.
  return new DOMParser().parseFromString(html, 'text/html').body.textContent.trim();
}

function entry({ post, isNew }) {
  const o = post.object;
  const li = document.createElement('li');
  li.dataset.id = o.id || '';
  li.dataset.feed = post.actor.id;
  li.dataset.new = String(isNew);
  const title = textElement(isWeb(o.url) ? 'a' : 'span', 'title', o.title || o.url || '(untitled)');
  if (isWeb(o.url)) Object.assign(title, { href: o.url, rel: 'noopener noreferrer', target: '_blank' });
  const when = o.published ? ` · ${new Date(o.published).toLocaleString()}` : '';
  const meta = textElement('div', 'meta', `${(feeds.get(post.actor.id) || {}).name || post.actor.id}${when}`);
  const text = o.contentType === 'html' ? plain(o.brief || o.content || '') : (o.brief || o.content || '');
  li.append(title, meta, textElement('p', 'summary', text.length > 280 ? `${text.slice(0, 280)}…` : text));
  return li;
}

// ---- OPML ----------------------------------------------------------------------------

async function importOpml() {
  const file = $('opml-file').files[0];
  if (!file) { showStatus('failed', 'Choose an OPML file first.'); return; }
  showStatus('loading', `importing ${file.name}…`);
  $('refused').replaceChildren();
  try {
    // The document travels in one frame: the client refuses one over the gateway's
    // limit (frame-too-large) before sending it; import a long list in parts.
    const done = await sc.send({
      platform: 'feeds', type: 'opml-import', actor: ME,
      object: { type: 'opml', content: await file.text() },
    });
    for (const feed of done.items || []) addFeed(feed.id, feed.name);
    $('refused').replaceChildren(...(done.refused || []).map((r) => textElement('li', '', `${r.id}: ${r.error}`)));
    // Nothing is fetched at import: their items come as they are published.
    showStatus('completed', `following ${done.totalItems} feed(s) from ${file.name}`
      + (done.refused && done.refused.length ? `, ${done.refused.length} refused` : ''));
    draw();
  } catch (err) {
    showStatus('failed', `${err.code}: ${err.message}`, err.code);
  }
}

async function exportOpml() {
  try {
    const opml = await sc.send({ platform: 'feeds', type: 'opml-export', actor: ME, object: { type: 'opml' } });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([opml.content], { type: 'text/x-opml' }));
    link.download = 'follows.opml';
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60e3);
    showStatus('completed', `exported ${opml.totalItems} feed(s)`);
  } catch (err) {
    showStatus('failed', `${err.code}: ${err.message}`, err.code);
  }
}

$('follow-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const url = $('url').value.trim();
  if (url) follow(url);
});
$('import').addEventListener('click', importOpml);
$('export').addEventListener('click', exportOpml);
const given = new URLSearchParams(location.search).get('url');
if (given) $('url').value = given;
draw();
