// contacts.html: a CardDAV address book through the carddav platform.
//
// The flow an app follows:
//   1. credentials for an actor, then `fetch`: the address books of the account (dav.js);
//   2. `query`, optionally with `text` (a case-insensitive "contains" on name, email,
//      telephone and organisation): the contacts, sorted by name;
//   3. `create` a contact; `update` it with the whole contact and its ETag (the server
//      keeps what the contact does not model: the card's version, X- lines, a photo);
//      `delete` it with {id, type: 'person', etag}.
// A stale ETag fails with code `refused`, condition `conflict`, the current ETag in
// details[0].etag, as in calendar.js.
import '/static/sockethub-client.js';
import { conflictEtag, explain, signInForm, writable } from './dav.js';

const { $, startClient, followConnection, textElement } = globalThis.Examples;

const sc = startClient();
followConnection(sc, 'state');

const view = { actor: null, book: null, contacts: [], editing: null, etag: null, retry: null };
const target = () => ({ id: view.book, type: 'addressBook' });
const listStatus = (text, kind) => {
  $('list-status').textContent = text;
  $('list-status').dataset.status = kind;
};

signInForm(sc, 'carddav', (actor, books) => {
  view.actor = actor;
  $('books').replaceChildren(...books.map((b) => {
    const option = textElement('option', '', b.name || b.id);
    option.value = b.id;
    return option;
  }));
  if (!books.length) return;
  $('book').hidden = false;
  view.book = $('books').value;
  list();
});

/** Ask for the contacts (matching the search box) and list them; then say `done`. */
async function list(done = null) {
  const text = $('search').value.trim();
  const object = { type: 'contactQuery', limit: 1000 };
  if (text) object.text = text;
  listStatus('loading…', 'loading');
  try {
    const found = await sc.send({ platform: 'carddav', type: 'query', actor: view.actor, target: target(), object });
    view.contacts = found.items || [];
    $('contacts').replaceChildren(...view.contacts.map(entry));
    listStatus(done || `${view.contacts.length} contact(s)`, 'completed');
  } catch (err) {
    listStatus(explain(err), 'failed');
  }
}

function entry(contact) {
  const li = document.createElement('li');
  const button = textElement('button', '', contact.name);
  button.type = 'button';
  button.dataset.uid = contact.uid;
  button.setAttribute('role', 'option');
  button.setAttribute('aria-selected', String(view.editing && view.editing.uid === contact.uid));
  const first = (contact.emails || [])[0] || (contact.telephones || [])[0];
  if (first || contact.organization) {
    button.append(textElement('span', 'sub', [first && first.value, contact.organization].filter(Boolean).join(' · ')));
  }
  button.addEventListener('click', () => open(contact));
  li.append(button);
  return li;
}

// ---- the editor ----------------------------------------------------------------------

const FIELDS = [ // [contact field, input id]: single text values
  ['name', 'c-name'], ['givenName', 'c-given'], ['familyName', 'c-family'],
  ['organization', 'c-org'], ['title', 'c-title'], ['note', 'c-note'],
];
const LISTS = [['emails', 'c-emails'], ['telephones', 'c-phones']]; // [{value, types?}]

function open(contact) {
  view.editing = contact;
  view.etag = contact && contact.etag;
  for (const b of $('contacts').querySelectorAll('button')) {
    b.setAttribute('aria-selected', String(!!contact && b.dataset.uid === contact.uid));
  }
  $('editor-title').textContent = contact ? `Edit ${contact.name}` : 'New contact';
  for (const [field, id] of FIELDS) $(id).value = (contact && contact[field]) || '';
  for (const [field, id] of LISTS) {
    $(id).value = ((contact && contact[field]) || []).map((v) => v.value).join('\n');
  }
  $('delete').hidden = !contact;
  $('conflict').hidden = true;
  $('editor-status').textContent = '';
  $('contact-form').hidden = false;
  $('c-name').focus();
}

/** The contact as the form says, over the one it edits (whose other fields are kept). */
function fromForm() {
  const base = view.editing ? writable(view.editing) : { type: 'person' };
  const obj = { ...base };
  for (const [field, id] of FIELDS) {
    const value = $(id).value.trim();
    if (value) obj[field] = value; else delete obj[field];
  }
  for (const [field, id] of LISTS) {
    // A line that was there keeps its types ("work", "cell") and preference.
    const before = new Map((base[field] || []).map((v) => [v.value, v]));
    const lines = $(id).value.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length) obj[field] = lines.map((value) => before.get(value) || { value });
    else delete obj[field];
  }
  if (view.editing) obj.etag = view.etag;
  return obj;
}

async function send(verb, obj) {
  $('editor-status').textContent = '';
  $('save').disabled = $('delete').disabled = true;
  try {
    const done = await sc.send({ platform: 'carddav', type: verb, actor: view.actor, target: target(), object: obj });
    const name = obj.name || view.editing.name;
    if (verb === 'delete') {
      view.editing = null;
      $('contact-form').hidden = true;
    } else {
      // Keep editing what was saved: the reply names it, with its new ETag.
      view.editing = { ...obj, ...done.object };
      view.etag = done.object.etag;
    }
    await list(`${verb === 'delete' ? 'deleted' : 'saved'} “${name}”`);
    if (view.editing) open(view.contacts.find((c) => c.uid === view.editing.uid) || view.editing);
  } catch (err) {
    const current = conflictEtag(err);
    if (current === undefined) $('editor-status').textContent = explain(err);
    else showConflict(current, verb === 'update' ? save : () => send(verb, { ...obj, etag: current }));
  } finally {
    $('save').disabled = $('delete').disabled = false;
  }
}

function showConflict(current, retry) {
  const who = view.editing ? view.editing.name : 'A contact with this UID';
  $('conflict').hidden = false;
  $('conflict').dataset.etag = current || '';
  $('overwrite').hidden = current === null;
  $('conflict-text').textContent = current === null
    ? `${who} was deleted on the server since the list was shown. Nothing was saved.`
    : `${who} was changed on the server since the list was shown (its ETag is now ${current}). Nothing was saved.`;
  view.etag = current;
  view.retry = retry;
}

function save() {
  const obj = fromForm();
  if (!obj.name) { $('editor-status').textContent = 'A contact needs a name.'; return; }
  send(view.editing ? 'update' : 'create', obj);
}

$('contact-form').addEventListener('submit', (ev) => { ev.preventDefault(); save(); });
$('delete').addEventListener('click', () => {
  const { id, type } = view.editing;
  send('delete', { id, type, etag: view.etag });
});
$('overwrite').addEventListener('click', () => view.retry());
$('reload').addEventListener('click', () => {
  const uid = view.editing.uid;
  list().then(() => open(view.contacts.find((c) => c.uid === uid) || null));
});
$('new').addEventListener('click', () => open(null));
$('find').addEventListener('submit', (ev) => { ev.preventDefault(); list(); });
$('books').addEventListener('change', () => {
  view.book = $('books').value;
  $('contact-form').hidden = true;
  list();
});
