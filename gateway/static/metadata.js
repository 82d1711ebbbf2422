// What a page says about itself is shown as text (textContent); URLs are used only
// when they are http(s), and only as link targets and image sources.
import '/static/sockethub-client.js';
const { $, startClient, followConnection, isWeb, fetchInto, urlForm } = globalThis.Examples;

// storage 'none': a fetch page has no session state worth resuming after a reload.
const sc = startClient({ storage: 'none' });
followConnection(sc, 'state');

function image(el, url) {
  el.hidden = !isWeb(url);
  if (isWeb(url)) el.src = url; else el.removeAttribute('src');
}

function show(result) {
  const site = result.actor || {};
  const page = result.object || {};
  const first = (page.image || [])[0];
  image($('preview-image'), first && first.url);
  if (first && first.alt) $('preview-image').alt = first.alt;
  image($('preview-favicon'), page.favicon);
  $('preview-site').textContent = site.name || '';
  const title = $('preview-title');
  title.textContent = page.title || site.id || '';
  if (isWeb(site.id)) title.href = site.id; else title.removeAttribute('href');
  $('preview-description').textContent = page.description || '';
  $('preview-url').textContent = site.id || '';
  $('preview-raw').textContent = JSON.stringify(page, null, 2);
  $('card').hidden = false;
}

async function preview() {
  const url = $('url').value.trim();
  if (!url) return;
  const request = { platform: 'metadata', type: 'fetch', actor: { id: url, type: 'website' } };
  await fetchInto(sc, request, { card: 'card', show, done: () => 'done' });
}

urlForm(preview);
