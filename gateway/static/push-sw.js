// The example pages' service worker: it shows the Web Push notifications the gateway sends
// while no tab of a session is open (docs/client.md, "Web Push").
//
// A push's payload is JSON with exactly three fields, decrypted by the browser:
//   {sender: {id, name?}, conversation: {id, type: "room" | "person", name?}, preview}
// The page that registered this worker is named in its URL (?page=/static/irc.html); a
// click on a notification focuses a tab of that page, or opens one.
'use strict';

const PAGE = new URL(self.location.href).searchParams.get('page') || '/';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  const sender = data.sender || {};
  const conv = data.conversation || {};
  const who = sender.name || sender.id || 'someone';
  const title = conv.type === 'room' ? `${who} in ${conv.name || conv.id}` : who;
  event.waitUntil(self.registration.showNotification(title, {
    body: typeof data.preview === 'string' ? data.preview : '',
    tag: conv.id || 'sockethub', // one notification per conversation, replaced by the next
    renotify: true,
    data: { page: PAGE, conversation: conv.id || null },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const page = new URL((event.notification.data && event.notification.data.page) || PAGE, self.location.origin);
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const tab = open.find((c) => new URL(c.url).pathname === page.pathname);
    if (tab) return tab.focus();
    return self.clients.openWindow(page.href);
  })());
});
