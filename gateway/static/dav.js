// What calendar.js and contacts.js share: signing in to a DAV server through the caldav
// or carddav platform, and reading the gateway's answer to a stale ETag.
//
// The page never talks to the DAV server itself (it sends no CORS headers); the gateway's
// worker does, with the credentials the page gave for its actor.

const { $, showStatus } = globalThis.Examples;

/**
 * Sign in from the #login form (#dav-url, #username, #password) when it is submitted:
 * send the credentials, then `fetch` (discovery), and hand the collections found to
 * `onCollections(actor, items)`. Progress and failures go to the #status line.
 */
export function signInForm(sc, platform, onCollections) {
  const given = new URLSearchParams(location.search).get('url');
  if (given) $('dav-url').value = given;
  $('login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const url = $('dav-url').value.trim();
    const username = $('username').value.trim();
    // One actor per account: credentials are kept per session, platform and actor id.
    const actor = { id: `${username}@${new URL(url).host}`, type: 'person' };
    $('signin').disabled = true;
    showStatus('loading', `signing in to ${url}…`);
    try {
      // The client keeps the credentials in memory and sends them again by itself
      // if the session is ever lost (docs/client.md); the gateway stores them sealed.
      await sc.credentials(platform, actor, { url, username, password: $('password').value });
      const found = await sc.send({ platform, type: 'fetch', actor });
      showStatus('completed', `${found.summary}: ${found.totalItems}`);
      onCollections(actor, found.items || []);
    } catch (err) {
      showStatus('failed', explain(err), err.code);
    } finally {
      $('signin').disabled = false;
    }
  });
}

/** A failure as a sentence for people, by its code (and the DAV server's condition). */
export function explain(err) {
  if (err.code === 'auth-failed') return 'The server did not accept this user name and password.';
  if (err.code === 'blocked-address') {
    return err.condition === 'https-required'
      ? 'This gateway talks to DAV servers over https only.'
      : 'This gateway may not reach that address.';
  }
  if (err.condition === 'forbidden') return 'That collection is not yours to use.';
  return `${err.code}${err.condition ? ` (${err.condition})` : ''}: ${err.message}`;
}

/**
 * For a failed update or delete: the item's current ETag when the failure is a stale one
 * (code `refused`, condition `conflict`), `null` when the item is gone meanwhile, and
 * `undefined` when the failure is something else.
 */
export function conflictEtag(err) {
  if (err.code !== 'refused' || err.condition !== 'conflict') return undefined;
  const detail = (err.details || [])[0] || {};
  return detail.etag ?? null;
}

/** `item` without the fields a query answers with but update does not take. */
export function writable(item) {
  const { updateSupported, occurrences, occurrencesTruncated, ...rest } = item;
  return rest;
}
