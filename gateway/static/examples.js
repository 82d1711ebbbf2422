// What the example pages (dummy, irc, xmpp, feeds, metadata) share. A plain script, no
// build step: a page includes it with <script src="/static/examples.js"> before its own
// module script, which takes what it needs from globalThis.Examples.
//
// Everything that came over the network is put in the page as text (textContent), never
// as HTML.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);

  /** The page's SockethubClient (sockethub-client.js must be loaded), also window.sc. */
  function startClient(options) {
    const sc = new globalThis.SockethubClient(options);
    window.sc = sc; // handy in the console
    return sc;
  }

  /** Show a connection state in a .state element (its colour follows data-state). */
  function showState(el, state, text = state) {
    el.textContent = text;
    el.dataset.state = state;
  }

  /** Keep the element with id `id` showing the state of the client's WebSocket. */
  function followConnection(sc, id) {
    sc.on('connection', (info) => showState($(id), info.state));
  }

  /** A new `tag` element of class `cls` holding `text`, as text. */
  function textElement(tag, cls, text) {
    const el = document.createElement(tag);
    el.className = cls;
    el.textContent = text;
    return el;
  }

  /**
   * A log line: an <li> of class `cls` with `data` (null values left out) as data-*
   * attributes, the time (of `when` if given and valid, else now), then `parts`.
   */
  function logLine(cls, { data = {}, when = null, parts = [] } = {}) {
    const li = document.createElement('li');
    li.className = cls;
    for (const [k, v] of Object.entries(data)) if (v != null) li.dataset[k] = v;
    const at = when ? new Date(when) : new Date();
    li.append(textElement('span', 'time', (isNaN(at) ? new Date() : at).toLocaleTimeString()));
    li.append(...parts);
    return li;
  }

  /**
   * What a page keeps in the tab's sessionStorage under `name` so that a reload can show
   * the same thing again: form values, which connection and windows were open. Never a
   * password: the gateway session keeps the credentials, sealed, and the client resumes it.
   */
  function pageMemory(name, keep) {
    const key = `sockethub-example:${name}`;
    // While the page is kept connected its memory must outlive the tab, as the session does.
    const here = () => (keep && keep.on ? localStorage : sessionStorage);
    const there = () => (keep && keep.on ? sessionStorage : localStorage);
    return {
      load() {
        try { return JSON.parse(here().getItem(key)) || {}; } catch (e) { return {}; }
      },
      save(value) {
        try {
          here().setItem(key, JSON.stringify(value));
          there().removeItem(key);
        } catch (e) { /* not kept */ }
      },
    };
  }

  const KEEP_SECONDS = 86400; // what the pages ask for: a day (the gateway may cap it)

  /**
   * The page's "keep me connected" choice, remembered in localStorage. While it is on, the
   * client asks the gateway to keep the session (`keep`) and keeps its resume state in
   * localStorage, so that the page, opened again after its tab was closed, finds the
   * session with its connections still up (docs/client.md, "Keeping the session").
   */
  function keepChoice(name) {
    const key = `sockethub-example:${name}:keep`;
    let on = false;
    try { on = localStorage.getItem(key) === '1'; } catch (e) { /* not kept */ }
    return {
      get on() { return on; },
      clientOptions() { return on ? { keep: KEEP_SECONDS, storage: 'local' } : {}; },
      set(value) {
        on = value;
        try { if (on) localStorage.setItem(key, '1'); else localStorage.removeItem(key); } catch (e) { /* not kept */ }
      },
    };
  }

  /** What a welcome says of the keep, in words. */
  function keepText(w) {
    if (w.keep) {
      return `Kept connected for ${Math.round(w.keep / 3600)} h after this page is closed `
        + `(until ${w.keepUntil}, were it closed now)`;
    }
    if (w.keepRefused) return `Not kept connected: ${w.keepRefused.message}`;
    return 'Not kept connected: the session ends a minute after this page is closed';
  }

  /**
   * Wire the "keep me connected" checkbox `box`: ticking it moves the resume state to
   * localStorage and asks the gateway to keep the session (`sc.setKeep`), unticking undoes
   * both; `line(text)` says what the gateway answered, `changed()` lets the page move its
   * memory along.
   */
  function keepCheckbox(sc, box, keep, line, changed) {
    box.checked = keep.on;
    if (keep.on) sc.once('welcome', (w) => line(keepText(w)));
    box.addEventListener('change', async () => {
      keep.set(box.checked);
      sc.setStorage(keep.on ? 'local' : 'session');
      if (changed) changed();
      const w = await sc.setKeep(keep.on ? KEEP_SECONDS : false);
      if (w) line(keepText(w));
    });
  }

  /**
   * Say, with `line(text, data)`, that a resume could not replay everything: the session's
   * stream is bounded and its start (`missed`: {from, to, reason} of the welcome) is gone.
   */
  function missedLine(missed, line) {
    const count = missed.to - missed.from + 1;
    line(`${count} older event(s) of this session are no longer kept, so older lines are not shown`
      + ` (${missed.reason})`, { event: 'missed' });
  }

  // ---- the chat pages (irc, xmpp): a window per conversation, a tab each ---------------

  /**
   * Give window `c` (its `kind` set) a list inside #log and a tab button in #rooms, both
   * with data-room=`room`; the tab reads `label` and calls `onSelect` when clicked.
   */
  function addWindow(c, room, label, onSelect) {
    c.log = document.createElement('ul');
    c.log.className = 'log chat';
    c.log.dataset.room = room;
    c.log.dataset.kind = c.kind;
    c.log.hidden = true;
    $('log').append(c.log);
    c.tab = document.createElement('li');
    c.button = textElement('button', 'tab', label);
    c.button.type = 'button';
    c.button.dataset.room = room;
    c.button.setAttribute('role', 'tab');
    c.button.addEventListener('click', onSelect);
    c.tab.append(c.button);
    $('rooms').append(c.tab);
  }

  /** Show the window whose key is `key` and hide the others; it is read now. */
  function selectWindow(windows, key) {
    for (const c of windows) {
      const on = c.key === key;
      c.log.hidden = !on;
      c.button.setAttribute('aria-selected', String(on));
      if (on) c.button.classList.remove('unread');
    }
  }

  /**
   * The lines of the chat pages' windows. A window `c` has a `key`, its list (`c.log`,
   * inside the scrolling #log) and its tab button (`c.button`, marked unread when a line
   * other than info comes in while another window is shown). `current()` is the key of
   * the window shown; `who(kind, from)` how a line's sender is written.
   */
  function chatLog({ current, who = (kind, from) => from }) {
    /** One line in a window. Network text goes in with textContent, never as HTML. */
    function entry(c, kind, { from = null, text = '', when = null, data = {} } = {}) {
      const parts = [];
      if (from != null) parts.push(textElement('span', 'who', who(kind, from)));
      parts.push(textElement('span', 'text', text));
      const li = logLine(kind, { data: { kind, from, ...data }, when, parts });
      const log = $('log');
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      c.log.append(li);
      if (c.key === current() && atBottom) log.scrollTop = log.scrollHeight;
      if (c.key !== current() && kind !== 'info') c.button.classList.add('unread');
      return li;
    }

    const info = (c, text, data) => entry(c, 'info', { text, data });
    // data-code: the kind of failure; data-condition: what the server itself said
    // (nick-in-use, forbidden), for a page that wants to offer something (another nick).
    const problem = (c, text, err) => entry(c, 'error', {
      text: `${text}: ${err.message || err}`, data: { code: err.code, condition: err.condition },
    });
    return { entry, info, problem };
  }

  // ---- "notify me" (irc, xmpp): Web Push while no tab is open ---------------------------

  /** A base64url string (the welcome's VAPID key) as the bytes PushManager wants. */
  function fromB64url(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
    return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  }

  /**
   * The "notify me" `button`: register the service worker (/static/push-sw.js, which shows
   * the notifications), subscribe with the gateway's VAPID key (`sc.vapidPublicKey`) and
   * hand the subscription to the session (`sc.subscribePush`). While no tab of the session
   * is attached, a direct message or a mention of our nick then shows a notification; a
   * click opens `pageUrl`. Hidden when the gateway has push off or the browser has no Push
   * API. The subscription belongs to the session: a new session registers it again.
   */
  function notifyMe(sc, button, pageUrl) {
    const supported = 'serviceWorker' in navigator && 'PushManager' in globalThis
      && 'Notification' in globalThis;
    const flag = `sockethub-example:notify:${pageUrl}`;
    let wanted = sessionStorage.getItem(flag) === '1';
    const render = (text) => {
      button.hidden = !supported || !sc.vapidPublicKey;
      if (text) button.textContent = text;
    };
    async function subscribe() {
      const worker = `/static/push-sw.js?page=${encodeURIComponent(pageUrl)}`;
      const reg = await navigator.serviceWorker.register(worker, { scope: '/static/' });
      const key = fromB64url(sc.vapidPublicKey);
      let sub = await reg.pushManager.getSubscription();
      const had = sub && sub.options && sub.options.applicationServerKey;
      if (sub && had && new Uint8Array(had).join() !== key.join()) {
        await sub.unsubscribe(); // made for another gateway key: it would never get a push
        sub = null;
      }
      if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      await sc.subscribePush(sub);
    }
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        if ((await Notification.requestPermission()) !== 'granted') {
          render('notifications blocked');
          return;
        }
        await subscribe();
        wanted = true;
        sessionStorage.setItem(flag, '1');
        render('notifying ✓');
      } catch (err) {
        render(`notify me (failed: ${err.code || err.message})`);
      } finally {
        button.disabled = false;
      }
    });
    sc.on('welcome', (welcome) => {
      render(wanted ? 'notifying ✓' : undefined);
      if (wanted && !welcome.resumed) subscribe().catch(() => render('notify me'));
    });
    render();
  }

  // ---- the fetch pages (feeds, metadata): a URL form, a status line and a card ----------

  /** Whether `url` may be used as a link or an image source: http(s) only. */
  const isWeb = (url) => typeof url === 'string' && /^https?:\/\//i.test(url);

  /** The #status line: `kind` in data-status, an error `code` in data-code. */
  function showStatus(kind, text, code) {
    const el = $('status');
    el.dataset.status = kind;
    if (code) el.dataset.code = code; else delete el.dataset.code;
    el.textContent = text;
  }

  /**
   * Send `request` with the #fetch button off meanwhile; `show(result)` fills the card
   * and `done(result)` says what the status line then says. On failure the card (id
   * `card`) is hidden and the status line shows the error.
   */
  async function fetchInto(sc, request, { card, show, done }) {
    showStatus('loading', `fetching ${request.actor.id}…`);
    $('fetch').disabled = true;
    try {
      const result = await sc.send(request);
      show(result);
      showStatus('completed', done(result));
    } catch (err) {
      $(card).hidden = true;
      showStatus('failed', `${err.code}: ${err.message}`, err.code);
    } finally {
      $('fetch').disabled = false;
    }
  }

  /** Run `go` when the #form is submitted; fill #url from the page's ?url=. */
  function urlForm(go) {
    $('form').addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
    const given = new URLSearchParams(location.search).get('url');
    if (given) $('url').value = given;
  }

  globalThis.Examples = {
    $, startClient, showState, followConnection, textElement, logLine, pageMemory, missedLine,
    keepChoice, keepCheckbox,
    addWindow, selectWindow, chatLog, notifyMe,
    isWeb, showStatus, fetchInto, urlForm,
  };
})();
