// Everything shown here comes from a feed someone else wrote. Text goes in as text
// (textContent), links only when they are http(s), and an item's HTML (which the
// worker has already sanitised) only inside a sandboxed iframe: no scripts, no
// same-origin access, no network but images.
import '/static/sockethub-client.js';
const { $, startClient, followConnection, textElement, isWeb, fetchInto, urlForm } = globalThis.Examples;

// storage 'none': a fetch page has no session state worth resuming after a reload.
const sc = startClient({ storage: 'none' });
followConnection(sc, 'state');

const FRAME_HEAD = '<!doctype html><meta charset="utf-8">' +
  '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src http: https: data:; style-src \'unsafe-inline\'">' +
  '<base target="_blank"><style>body{font:15px/1.5 system-ui,sans-serif;margin:0.5rem;color:#1d2330}img{max-width:100%;height:auto}</style>';

function plain(html) {
  // Parsing into an inert document runs nothing and loads nothing; we keep its text.
  return new DOMParser().parseFromString(html, 'text/html').body.textContent.trim();
}

function item(post) {
  const o = post.object || {};
  const li = document.createElement('li');
  li.dataset.id = o.id || '';
  const title = isWeb(o.url) ? document.createElement('a') : document.createElement('span');
  title.className = 'title';
  title.textContent = o.title || o.url || '(untitled)';
  if (isWeb(o.url)) {
    title.href = o.url;
    title.rel = 'noopener noreferrer';
    title.target = '_blank';
  }
  const meta = document.createElement('div');
  meta.className = 'meta';
  if (o.published) {
    const when = document.createElement('time');
    when.className = 'date';
    when.dateTime = o.published;
    when.textContent = new Date(o.published).toLocaleString();
    meta.append(when);
  }
  if (o.author) meta.append(textElement('span', 'author', ` · ${o.author}`));
  const content = o.content || '';
  const summary = o.contentType === 'html' ? plain(o.brief || content) : (o.brief || content);
  li.append(title, meta, textElement('p', 'summary', summary.length > 300 ? summary.slice(0, 300) + '…' : summary));
  if (o.contentType === 'html' && content) {
    const read = textElement('button', 'read secondary', 'Read');
    read.type = 'button';
    read.addEventListener('click', () => {
      const open = li.querySelector('iframe');
      if (open) { open.remove(); read.textContent = 'Read'; return; }
      const frame = document.createElement('iframe');
      frame.setAttribute('sandbox', 'allow-popups allow-popups-to-escape-sandbox');
      frame.referrerPolicy = 'no-referrer';
      frame.title = o.title || 'article';
      frame.srcdoc = FRAME_HEAD + content;
      li.append(frame);
      read.textContent = 'Close';
    });
    li.append(read);
  }
  return li;
}

function show(collection) {
  const feed = collection.actor || {};
  $('feed-title').textContent = collection.summary || feed.name || '';
  $('feed-description').textContent = feed.description || '';
  const link = $('feed-link');
  link.textContent = isWeb(feed.link) ? feed.link : '';
  if (isWeb(feed.link)) link.href = feed.link; else link.removeAttribute('href');
  $('items').replaceChildren(...(collection.items || []).map(item));
  $('feed').hidden = false;
}

async function fetchFeed() {
  const url = $('url').value.trim();
  if (!url) return;
  const limit = parseInt($('limit').value, 10);
  const request = { platform: 'feeds', type: 'fetch', actor: { id: url, type: 'feed' } };
  if (limit > 0) request.object = { limit };
  await fetchInto(sc, request, { card: 'feed', show, done: (c) => `${c.totalItems} item(s)` });
}

urlForm(fetchFeed);
