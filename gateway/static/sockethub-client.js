/*
 * sockethub-client.js: the browser client of the Sockethub for Python gateway.
 *
 * No build step. Load it either way:
 *
 *   <script src="/static/sockethub-client.js"></script>        // window.SockethubClient
 *
 *   import '/static/sockethub-client.js';                        // in an ES module
 *   const { SockethubClient } = globalThis;
 *
 * The file is a classic script on purpose: an `export` statement is a syntax error in a
 * classic <script>, so one file cannot carry one and be loadable both ways. It publishes
 * itself on globalThis (and on module.exports under CommonJS) instead.
 *
 * The wire protocol it speaks is docs/protocol.md; its API is docs/client.md.
 */
(function (root) {
  'use strict';

  var AS2_CONTEXT = 'https://www.w3.org/ns/activitystreams';
  var SOCKETHUB_CONTEXT = 'https://sockethub.org/ns/context/v1.jsonld';
  var PLATFORM_CONTEXT_PREFIX = 'https://sockethub.org/ns/context/platform/';
  var PLATFORM_CONTEXT_SUFFIX = '/v1.jsonld';

  var DEFAULTS = {
    requestTimeoutMs: null, // null: the server's limit for the verb + requestTimeoutGraceMs
    requestTimeoutGraceMs: 5000,
    maxQueued: 1000,
    // spreadMs: after a 1001 (gateway going away) every tab waits a random time up to this,
    // so a restarting gateway is not met by all of them at once. stableMs: the backoff
    // starts again from minDelayMs only after a connection has stayed up this long.
    reconnect: { minDelayMs: 250, maxDelayMs: 10000, spreadMs: 5000, stableMs: 10000 },
    helloTimeoutMs: 10000,
    pingIntervalMs: 20000,
    pingTimeoutMs: 10000,
    WebSocket: null, // a WebSocket constructor; default: the global one
    // Where the resume state (session id, token) is kept, so a reload resumes the session:
    // 'session' (the tab's sessionStorage), 'local' (localStorage: outlives the tab, and
    // any script of the origin can read it), 'none', or a Storage-like object.
    storage: 'session',
    storageName: '', // part of the key, for two pages of one origin that want two sessions
    // Keep the session (and its IRC/XMPP connections) while no socket is attached: seconds,
    // true for the gateway's most (welcome.limits.keepMax), false to stop; null: not asked,
    // the session ends limits.resumeGrace after its socket is gone (docs/protocol.md).
    keep: null,
  };
  var FALLBACK_REQUEST_TIMEOUT_S = 30;
  // Event names of the client itself: activities of these types go to 'message' only.
  var RESERVED_EVENTS = { message: 1, connection: 1, welcome: 1, error: 1, reply: 1 };
  // Close codes after which reconnecting cannot help (docs/protocol.md, close codes).
  var FINAL_CLOSE_CODES = { 4001: 'session-resumed-elsewhere' };
  // 1008 is a policy close: final when the origin is refused, but the rate and per-address
  // limits pass with time, so those reconnect after the longest backoff. The reason text
  // (docs/protocol.md, close codes) says which it was.
  var POLICY_CLOSES = [
    [/^origin not allowed/, 'origin-not-allowed', true],
    [/^rate limit/, 'rate-limited', false],
    [/^too many sockets/, 'too-many-sockets', false],
    [/^too many new sessions/, 'too-many-sessions', false],
  ];

  /** [code, final] for a close the gateway made on purpose, or null. */
  function closeVerdict(code, reason) {
    if (FINAL_CLOSE_CODES[code]) return [FINAL_CLOSE_CODES[code], true];
    if (code !== 1008) return null;
    var text = String(reason || '');
    for (var i = 0; i < POLICY_CLOSES.length; i++) {
      if (POLICY_CLOSES[i][0].test(text)) return [POLICY_CLOSES[i][1], POLICY_CLOSES[i][2]];
    }
    return ['policy-violation', true]; // a policy we do not know: do not hammer it
  }
  var SOCKET_OPEN = 1;

  // The client's own codes after which sending the same request again may succeed
  // (the gateway's failed replies say so themselves, in `retryable`).
  var CLIENT_RETRYABLE = { timeout: true, 'queue-overflow': true, 'session-lost': true };

  /** The platform's own condition (IRC `nick-in-use`, XMPP `forbidden`) in `details`. */
  function conditionOf(details) {
    if (!Array.isArray(details)) return undefined;
    for (var i = 0; i < details.length; i++) {
      if (details[i] && typeof details[i].condition === 'string') return details[i].condition;
    }
    return undefined;
  }

  /** A failed request, a failed reply or a client-side refusal; `code` is stable. */
  class SockethubError extends Error {
    constructor(code, message, extra) {
      super(message || code);
      this.name = 'SockethubError';
      this.code = code;
      extra = extra || {};
      this.retryable = typeof extra.retryable === 'boolean' ? extra.retryable : CLIENT_RETRYABLE[code] === true;
      this.condition = conditionOf(extra.details);
      this.ref = extra.ref;
      this.path = extra.path;
      this.details = extra.details;
      this.activity = extra.activity;
      this.requestId = extra.requestId;
      this.reply = extra.reply;
    }
  }

  function contextFor(platform) {
    return [AS2_CONTEXT, SOCKETHUB_CONTEXT, PLATFORM_CONTEXT_PREFIX + platform + PLATFORM_CONTEXT_SUFFIX];
  }

  /** The platform an @context names, read from its platform URL (null if none). */
  function platformOf(context) {
    if (!Array.isArray(context)) return null;
    for (var i = 0; i < context.length; i++) {
      var url = context[i];
      if (typeof url === 'string' && url.indexOf(PLATFORM_CONTEXT_PREFIX) === 0) {
        var rest = url.slice(PLATFORM_CONTEXT_PREFIX.length);
        var slash = rest.indexOf('/');
        return slash < 0 ? rest : rest.slice(0, slash);
      }
    }
    return null;
  }

  function asObject(value, key) {
    if (typeof value !== 'string') return value;
    var out = {};
    out[key] = value;
    return out;
  }

  /** Sockethub's normalisation: string actor/target → {id}, string object → {content}. */
  function normalize(activity) {
    var out = {};
    Object.keys(activity).forEach(function (k) { out[k] = activity[k]; });
    if (out.actor !== undefined) {
      out.actor = asObject(out.actor, 'id');
      if (out.actor && typeof out.actor === 'object' && !Array.isArray(out.actor) && !out.actor.type) {
        out.actor = Object.assign({}, out.actor, { type: 'person' });
      }
    }
    if (out.target !== undefined) out.target = asObject(out.target, 'id');
    if (out.object !== undefined) out.object = asObject(out.object, 'content');
    return out;
  }

  /** A resumeError or error field as text: the gateway sends {code, message}. */
  function describe(error) {
    if (!error) return '';
    if (typeof error === 'object') return error.message || error.code || JSON.stringify(error);
    return String(error);
  }

  function idOf(value) {
    if (value && typeof value === 'object') return value.id;
    return value;
  }

  function randomToken() {
    var c = root.crypto;
    if (c && c.getRandomValues) {
      var bytes = c.getRandomValues(new Uint8Array(6));
      return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
    }
    return Math.random().toString(16).slice(2, 14);
  }

  function byteLength(text) {
    if (typeof root.TextEncoder === 'function') return new root.TextEncoder().encode(text).length;
    return unescape(encodeURIComponent(text)).length;
  }

  var STORAGE_PREFIX = 'sockethub-client:';
  // Storage keys taken by a live client of this page: a second client of the same gateway
  // would otherwise resume the first one's session and take it over (4001).
  var CLAIMED = new Set();

  /** The Storage the `storage` option names, or null (none asked for, or none usable). */
  function pickStorage(choice) {
    if (choice === 'none' || choice === false || choice === null) return null;
    if (choice && typeof choice === 'object') return choice;
    if (choice !== 'session' && choice !== 'local') {
      throw new Error("SockethubClient: storage must be 'session', 'local', 'none' or a Storage");
    }
    try {
      // Reading the property throws where the page may not use storage (an opaque origin,
      // storage disabled): then nothing is kept, as with 'none'.
      return root[choice === 'local' ? 'localStorage' : 'sessionStorage'] || null;
    } catch (e) {
      return null;
    }
  }

  function readState(storage, key) {
    try {
      var value = JSON.parse(storage.getItem(key));
      if (value && typeof value.session === 'string' && typeof value.token === 'string') return value;
    } catch (e) { /* unreadable: as if there were nothing */ }
    return null;
  }

  function defaultUrl() {
    var loc = root.location;
    if (!loc || !loc.host) throw new Error('SockethubClient: no url given and no location to derive it from');
    return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/sockethub';
  }

  function resolveUrl(url) {
    if (!url) return defaultUrl();
    if (/^wss?:\/\//i.test(url)) return url;
    if (/^https?:\/\//i.test(url)) return url.replace(/^http/i, 'ws');
    var loc = root.location;
    if (url.charAt(0) === '/' && loc && loc.host) {
      return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + url;
    }
    return url;
  }

  // The gateway's HTTP origin (and path prefix) for a path it names: ws://h/p/sockethub → http://h/p.
  function uploadUrl(wsUrl, path) {
    return wsUrl.replace(/^ws/i, 'http').replace(/\/sockethub\/?(\?.*)?$/, '') + path;
  }

  // One PUT of the file to the gateway, with upload progress (fetch has none); the answer
  // is the gateway's JSON: the file, or `{ error: {code, message}, reason }`.
  function putFile(XHR, url, file, session, onProgress) {
    return new Promise(function (resolve, reject) {
      if (typeof XHR !== 'function') { reject(new SockethubError('client-error', 'no XMLHttpRequest available')); return; }
      var xhr = new XHR();
      xhr.open('PUT', url);
      xhr.setRequestHeader('X-Sockethub-Session', session || '');
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (e) { onProgress(e.loaded, e.lengthComputable ? e.total : file.size); };
      }
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: a proxy's page */ }
        if (xhr.status === 200 && body && body.url) { resolve(body); return; }
        var err = (body && body.error) || {};
        var extra = Object.assign({}, err, { details: err.details || (body && body.reason ? [{ condition: body.reason }] : undefined) });
        reject(new SockethubError(err.code || 'upstream-error', err.message || 'the upload failed (HTTP ' + xhr.status + ')', extra));
      };
      xhr.onerror = function () {
        reject(new SockethubError('upstream-unavailable', 'the upload could not reach the gateway', { retryable: true }));
      };
      xhr.send(file);
    });
  }

  /**
   * One client, one WebSocket, one gateway session at a time. It reconnects by itself,
   * resumes its session, and replays credentials, connects and joins onto a new one.
   */
  class SockethubClient {
    constructor(url, options) {
      if (url && typeof url === 'object') { options = url; url = undefined; }
      options = options || {};
      this.url = resolveUrl(url);
      this.options = Object.assign({}, DEFAULTS, options);
      this.options.reconnect = Object.assign({}, DEFAULTS.reconnect, options.reconnect || {});
      this._WebSocket = this.options.WebSocket || root.WebSocket;
      if (typeof this._WebSocket !== 'function') throw new Error('SockethubClient: no WebSocket available');

      this._listeners = new Map();
      this._idPrefix = randomToken();
      this._idCounter = 0;
      this._records = new Map(); // request id → record, from request until settled
      this._outbox = []; // user requests not yet sent
      this._replayOutbox = []; // replayed credentials/connects/joins not yet sent
      // Replay maps, keyed "<platform>:<actorId>-<targetId>" as Sockethub's client keys them.
      this._replay = { credentials: new Map(), connect: new Map(), join: new Map() };

      this._socket = null;
      this._socketGen = 0; // counts sockets, so a resume knows what was sent on an old one
      this._catchUpTo = null; // after a resume: the seq to reach before sending anything new
      this._retransmitted = new Set(); // ids sent twice; a second answer to them is expected
      this._resendBox = []; // sent on an earlier socket, unanswered: to send again after a resume
      this._catchUpTimer = null;
      this._welcomed = false; // the current socket got its welcome
      this._ready = false; // the current session finished its replay
      this._closed = false; // close() was called
      this._endPromise = null; // end() was called: settles once the gateway said `ended`
      this._endResolve = null;
      this._session = null;
      this._token = null;
      this._lastSeq = 0;
      this.welcome = null;
      this.state = 'idle';
      this._restored = false; // the session came from storage (a reload), not from this page
      this._storage = null;
      this._storageKey = STORAGE_PREFIX + (this.options.storageName ? this.options.storageName + ':' : '') + this.url;
      this._restore(pickStorage(this.options.storage));

      this._attempt = 0;
      this._everWelcomed = false;
      this._reconnectTimer = null;
      this._stableTimer = null;
      this._helloTimer = null;
      this._pingTimer = null;
      this._pongTimer = null;
      this._drainTimer = null;
      this._tokens = null; // rate bucket, filled from the welcome's limits
      this._tokensAt = 0;
      this._readyWaiters = [];

      var self = this;
      this._onOnline = function () { self._reconnectNow(); };
      if (root.addEventListener) root.addEventListener('online', this._onOnline);
      // Open on the next microtask, so listeners added right after `new` see 'connecting'.
      Promise.resolve().then(function () { if (!self._socket && !self._reconnectTimer) self._open(); });
    }

    // ---- resume state kept across a reload ------------------------------------------

    _restore(storage) {
      if (!storage || CLAIMED.has(this._storageKey)) return;
      CLAIMED.add(this._storageKey);
      this._storage = storage;
      var state = readState(storage, this._storageKey);
      if (!state) return;
      // A reloaded page has none of the session's frames in memory: lastSeq stays 0, so
      // the gateway sends the session's whole buffered stream and the page rebuilds from it.
      this._session = state.session;
      this._token = state.token;
      this._restored = true;
    }

    _store() {
      if (!this._storage) return;
      try {
        this._storage.setItem(this._storageKey, JSON.stringify({ session: this._session, token: this._token }));
      } catch (e) { /* full or refused: the next reload starts a new session */ }
    }

    _unstore() {
      if (!this._storage) return;
      try {
        var state = readState(this._storage, this._storageKey);
        if (state && state.session === this._session) this._storage.removeItem(this._storageKey);
      } catch (e) { /* nothing to do */ }
      CLAIMED.delete(this._storageKey);
      this._storage = null;
    }

    // ---- public API -------------------------------------------------------------------

    /**
     * Keep the resume state somewhere else from now on (the `storage` option's values),
     * moving it: e.g. to 'local' when the user asks to stay connected after the tab closes.
     */
    setStorage(storage) {
      var next = pickStorage(storage);
      this.options.storage = storage;
      this._unstore();
      if (!next || CLAIMED.has(this._storageKey)) return;
      CLAIMED.add(this._storageKey);
      this._storage = next;
      if (this._session) this._store();
    }

    /** The three-URL @context for `platform`, as the gateway announced it if it did. */
    contextFor(platform) {
      var known = this.platforms && this.platforms.find(function (p) { return p.name === platform; });
      var ctx = contextFor(platform);
      if (known && known.contextUrl) ctx[2] = known.contextUrl;
      return ctx;
    }

    get platforms() { return this.welcome ? this.welcome.platforms || [] : null; }
    get limits() { return this.welcome ? this.welcome.limits || {} : null; }
    get session() { return this._session; }
    get lastSeq() { return this._lastSeq; }
    /** Unsent requests waiting for the socket (or for the rate limit). */
    get queued() { return this._outbox.length; }

    /** Resolves once the socket is welcomed and any replay onto a new session is done. */
    ready() {
      if (this._closed) return Promise.reject(new SockethubError('closed', 'client closed'));
      if (this._isReady()) return Promise.resolve(this.welcome);
      var self = this;
      return new Promise(function (resolve, reject) { self._readyWaiters.push({ resolve: resolve, reject: reject }); });
    }

    /** Store credentials for (platform, actor) in the session; kept for replay. */
    credentials(platform, actor, creds) {
      return this.send({
        '@context': this.contextFor(platform),
        type: 'credentials',
        actor: actor,
        object: Object.assign({}, creds || {}, { type: 'credentials' }),
      });
    }

    /** Send `connect` for (platform, actor); kept for replay until `disconnect`. */
    connect(platform, actor, extra) {
      var activity = Object.assign({}, extra || {}, { platform: platform, type: 'connect', actor: actor });
      return this.send(activity);
    }

    /**
     * Send one activity; resolves with the reply's `result`, rejects with a SockethubError.
     * `platform` (a name) or `@context` picks the platform.
     */
    send(activity) {
      if (!activity || typeof activity !== 'object') {
        return Promise.reject(new SockethubError('invalid-envelope', 'activity must be an object'));
      }
      var a = normalize(activity);
      if (a.platform !== undefined) {
        var platform = a.platform;
        delete a.platform;
        if (!a['@context']) a = Object.assign({ '@context': this.contextFor(platform) }, a);
      }
      return this._request(a, { replay: false });
    }

    /**
     * Upload a file (a File or Blob) through the gateway (XMPP HTTP upload, XEP-0363;
     * docs/client.md "Uploads"): asks for an upload over the socket, PUTs the bytes to the
     * gateway's one-time URL (the upload server is never contacted from the page, so its
     * CORS does not matter), and resolves with `{ type: 'file', url, name, size, mediaType }`,
     * `url` being where others download it. Options: `actor` (required), `platform`
     * ('xmpp'), `name`/`mediaType` (else the file's), `onProgress(sent, total)`, and
     * `target`: then a message carrying the link is sent there too (`content`, else the
     * URL, as its text); its result is the answer's `message`.
     */
    async upload(file, opts) {
      opts = opts || {};
      if (!file || typeof file.size !== 'number') throw new SockethubError('invalid-envelope', 'upload needs a File or Blob');
      if (!opts.actor) throw new SockethubError('invalid-envelope', 'upload needs opts.actor');
      var platform = opts.platform || 'xmpp';
      var object = {
        type: 'file',
        name: opts.name || file.name || 'file',
        size: file.size,
        mediaType: opts.mediaType || file.type || 'application/octet-stream',
      };
      var slot = await this.send({ platform: platform, type: 'upload', actor: opts.actor, object: object });
      var XHR = this.options.XMLHttpRequest || root.XMLHttpRequest;
      var done = await putFile(XHR, uploadUrl(this.url, slot.object.upload.url), file, this._session, opts.onProgress);
      if (opts.target) {
        var attachment = { type: 'file', url: done.url, name: done.name, mediaType: done.mediaType, size: done.size };
        done.message = await this.send({
          platform: platform, type: 'send', actor: opts.actor, target: opts.target,
          object: { type: 'message', content: opts.content || done.url, attachment: attachment },
        });
      }
      return done;
    }

    /**
     * Web Push: the key to subscribe with (`PushManager.subscribe`'s
     * `applicationServerKey`, base64url), or null when the gateway has push off.
     */
    get vapidPublicKey() {
      var push = this.welcome && this.welcome.push;
      return push && push.vapidPublicKey ? push.vapidPublicKey : null;
    }

    /**
     * Register a browser push subscription (a `PushSubscription` or its `toJSON()`) with
     * the session: while no socket of it is attached, a direct message or a mention of our
     * nick sends one push per conversation (docs/client.md). Registering the same endpoint
     * again replaces it. Resolves with `{type: 'push', subscriptions: <count>}`. A new
     * session (`new-session`) has none: register again then.
     */
    subscribePush(subscription) {
      var sub = subscription && typeof subscription.toJSON === 'function' ? subscription.toJSON() : subscription;
      return this._request(null, { replay: false, frame: { kind: 'push', subscription: sub } });
    }

    /** Remove the session's push subscription with this endpoint. */
    unsubscribePush(endpoint) {
      return this._request(null, { replay: false, frame: { kind: 'push', remove: String(endpoint) } });
    }

    /** Forget stored credentials, so they are not sent again onto a new session. */
    clearCredentials() { this._replay.credentials.clear(); }

    on(event, fn) {
      if (!this._listeners.has(event)) this._listeners.set(event, new Set());
      this._listeners.get(event).add(fn);
      return this;
    }

    off(event, fn) {
      var set = this._listeners.get(event);
      if (!set) return this;
      if (fn) set.delete(fn); else set.clear();
      return this;
    }

    once(event, fn) {
      var self = this;
      var wrapper = function () { self.off(event, wrapper); return fn.apply(this, arguments); };
      return this.on(event, wrapper);
    }

    /**
     * Close for good: no reconnect; every open request rejects with code `closed`. The
     * stored resume state is removed: a reload after close() starts a new session.
     */
    close() {
      if (this._closed) return;
      this._unstore();
      this._shutdown(1000, 'client closed', 'closed');
    }

    /**
     * End the session now, on the gateway too: its upstream connections are released (IRC
     * QUIT, XMPP unavailable, unless another session shares them), its keys are deleted and
     * the stored resume state is removed. Every open request rejects with `ended`. Resolves
     * once the gateway has said `ended` (sent as soon as a socket is welcomed, if none is).
     */
    end() {
      if (this._closed) return Promise.resolve();
      var self = this;
      if (!this._endPromise) {
        this._endPromise = new Promise(function (resolve) { self._endResolve = resolve; });
        if (this._socket && this._welcomed) this._sendEnd();
      }
      return this._endPromise;
    }

    _sendEnd() {
      try { this._socket.send('{"kind":"end"}'); } catch (e) { /* the next socket sends it */ }
    }

    _ended() {
      var resolve = this._endResolve;
      this._endResolve = null;
      this._unstore();
      this._shutdown(1000, 'session ended', 'ended');
      if (resolve) resolve();
    }

    /**
     * Ask for the session to be kept (seconds, or true for the gateway's most) or no longer
     * (false) while no socket is attached. Only a hello can say so, so an open socket is
     * replaced at once by a resume that does: nothing is lost (the backlog is replayed).
     * Resolves with the welcome that answers it: its `keep` and `keepUntil` when kept, its
     * `keepRefused` when a cap of the gateway said no.
     */
    setKeep(value) {
      this.options.keep = value;
      if (this._closed) return Promise.resolve(null);
      var self = this;
      var answered = new Promise(function (resolve) { self.once('welcome', resolve); });
      var ws = this._socket;
      if (ws && this._welcomed) {
        this._detach(ws);
        try { ws.close(1000, 'keep changed'); } catch (e) { /* already closed */ }
        this._socket = null;
        this._welcomed = false;
        this._catchUpTo = null;
        this._resendBox = [];
        this._clearTimers();
        this._open();
      }
      return answered;
    }

    _shutdown(code, reason, errorCode) {
      if (this._closed) return;
      this._closed = true;
      this._clearTimers();
      if (this._reconnectTimer) { clearTimeout(this._reconnectTimer); this._reconnectTimer = null; }
      if (root.removeEventListener) root.removeEventListener('online', this._onOnline);
      if (this._storage) CLAIMED.delete(this._storageKey); // kept in storage, free to claim
      var ws = this._socket;
      this._socket = null;
      this._welcomed = false;
      if (ws) { this._detach(ws); try { ws.close(1000, 'client closed'); } catch (e) { /* already closed */ } }
      var err = function () { return new SockethubError(errorCode, reason || errorCode); };
      this._records.forEach(function (rec) { rec.reject(err()); });
      this._outbox.length = 0;
      this._replayOutbox.length = 0;
      this._readyWaiters.splice(0).forEach(function (w) { w.reject(err()); });
      this._setState({ state: 'closed', code: code, reason: reason, willReconnect: false });
    }

    // ---- requests -----------------------------------------------------------------------

    _nextId() {
      this._idCounter += 1;
      return this._idPrefix + '.' + this._idCounter;
    }

    _request(activity, opts) {
      if (this._closed) return Promise.reject(new SockethubError('closed', 'client closed', { activity: activity }));
      if (!opts.replay && this._outbox.length >= this.options.maxQueued) {
        return Promise.reject(new SockethubError('queue-overflow',
          'more than ' + this.options.maxQueued + ' requests waiting to be sent', { activity: activity }));
      }
      var self = this;
      var rec = { id: this._nextId(), activity: activity, replay: !!opts.replay, sent: false, timer: null };
      if (opts.frame) rec.frame = opts.frame; // a frame of its own kind (push), not a request
      var promise = new Promise(function (resolve, reject) {
        rec.resolve = function (v) { self._settle(rec); resolve(v); };
        rec.reject = function (e) { self._settle(rec); reject(e); };
      });
      this._records.set(rec.id, rec);
      (rec.replay ? this._replayOutbox : this._outbox).push(rec);
      this._drain();
      return promise;
    }

    _settle(rec) {
      if (rec.timer) { clearTimeout(rec.timer); rec.timer = null; }
      this._records.delete(rec.id);
      [this._resendBox, this._replayOutbox, this._outbox].forEach(function (box) {
        var i = box.indexOf(rec);
        if (i >= 0) box.splice(i, 1);
      });
    }

    /**
     * Send what may be sent now, in this order: copies of requests a resume may have lost,
     * replays onto a new session, then user requests once the session is ready.
     */
    _drain() {
      if (this._drainTimer) { clearTimeout(this._drainTimer); this._drainTimer = null; }
      while (this._welcomed && this._catchUpTo === null && this._socket && this._socket.readyState === SOCKET_OPEN) {
        var box = this._resendBox.length ? this._resendBox
          : this._replayOutbox.length ? this._replayOutbox
            : this._ready ? this._outbox : null;
        if (!box || !box.length) return;
        var wait = this._takeToken();
        if (wait > 0) {
          var self = this;
          this._drainTimer = setTimeout(function () { self._drainTimer = null; self._drain(); }, wait);
          return;
        }
        if (box === this._resendBox) this._sendRecord(box.shift());
        else this._transmit(box.shift());
      }
    }

    /** Client-side twin of the gateway's rate limit: 0 when a token was taken, else ms to wait. */
    _takeToken() {
      var limits = this.limits || {};
      var rate = Number(limits.rateLimit) || 0;
      if (rate <= 0) return 0;
      var burst = Math.max(1, Number(limits.rateBurst) || rate);
      var now = Date.now();
      if (this._tokens === null) { this._tokens = burst; this._tokensAt = now; }
      this._tokens = Math.min(burst, this._tokens + ((now - this._tokensAt) / 1000) * rate);
      this._tokensAt = now;
      if (this._tokens >= 1) { this._tokens -= 1; return 0; }
      return Math.ceil(((1 - this._tokens) / rate) * 1000) + 5;
    }

    _transmit(rec) {
      if (rec.frame) {
        rec.text = JSON.stringify(Object.assign({}, rec.frame, { id: rec.id }));
        rec.sent = true;
        this._sendRecord(rec);
        return;
      }
      var text = JSON.stringify({ kind: 'request', id: rec.id, activity: rec.activity });
      var max = this.limits && Number(this.limits.maxFrameBytes);
      if (max && byteLength(text) > max) {
        rec.reject(new SockethubError('frame-too-large',
          'request is ' + byteLength(text) + ' bytes, over the limit of ' + max,
          { activity: rec.activity, requestId: rec.id }));
        return;
      }
      rec.text = text;
      rec.sent = true;
      this._remember(rec.activity);
      this._sendRecord(rec);
    }

    _sendRecord(rec) {
      if (rec.gen !== undefined) { rec.retransmitted = true; this._retransmitted.add(rec.id); }
      this._socket.send(rec.text);
      rec.gen = this._socketGen;
      if (rec.timer) clearTimeout(rec.timer);
      var self = this;
      var ms = this._timeoutFor(rec.activity);
      rec.timer = setTimeout(function () {
        rec.reject(new SockethubError('timeout', 'no reply from the gateway within ' + ms + ' ms',
          { activity: rec.activity, requestId: rec.id }));
      }, ms);
    }

    /**
     * After a resume, once every reply produced before it has arrived: send again what was
     * sent on an earlier socket and is still unanswered. It may never have reached the
     * gateway (lost with the connection). The gateway refuses a request id it has seen in
     * this session with `duplicate-request`, so nothing runs twice; that refusal is ignored
     * and the real reply still comes.
     */
    _caughtUp() {
      if (this._catchUpTo === null || this._lastSeq < this._catchUpTo) return;
      this._catchUpTo = null;
      if (this._catchUpTimer) { clearTimeout(this._catchUpTimer); this._catchUpTimer = null; }
      var gen = this._socketGen;
      if (this._retransmitted.size > 10000) this._retransmitted.clear();
      this._resendBox = Array.from(this._records.values()).filter(function (rec) {
        return rec.sent && rec.gen < gen;
      });
      this._becameReady();
    }

    _timeoutFor(activity) {
      if (this.options.requestTimeoutMs) return this.options.requestTimeoutMs;
      var seconds = Number(this.limits && this.limits.requestTimeout) || FALLBACK_REQUEST_TIMEOUT_S;
      if (!activity) return seconds * 1000 + this.options.requestTimeoutGraceMs; // a push frame
      // A verb may have a limit of its own, announced in the welcome's platform list as
      // `timeouts: {verb: seconds}` (or as a verb object `{name, timeout}`).
      var name = platformOf(activity['@context']);
      var platform = this.platforms && this.platforms.find(function (p) { return p.name === name; });
      var own = platform && platform.timeouts && platform.timeouts[activity.type];
      if (!own && platform && Array.isArray(platform.verbs)) {
        var verb = platform.verbs.find(function (v) { return v && typeof v === 'object' && v.name === activity.type; });
        own = verb && verb.timeout;
      }
      if (Number(own) > 0) seconds = Number(own);
      return seconds * 1000 + this.options.requestTimeoutGraceMs;
    }

    // ---- replay of credentials, connects and joins --------------------------------------

    _key(activity) {
      return (platformOf(activity['@context']) || '?') + ':' + idOf(activity.actor) + '-' + (idOf(activity.target) || '');
    }

    /** Keep what a new session needs again (at the moment it is sent, as Sockethub does). */
    _remember(activity) {
      var key = this._key(activity);
      switch (activity.type) {
        case 'credentials': this._replay.credentials.set(key, activity); break;
        case 'connect': this._replay.connect.set(key, activity); break;
        case 'join': this._replay.join.set(key, activity); break;
        case 'leave': this._replay.join.delete(key); break;
        case 'disconnect': {
          var prefix = (platformOf(activity['@context']) || '?') + ':' + idOf(activity.actor) + '-';
          this._replay.connect.delete(key);
          var self = this;
          Array.from(this._replay.join.keys()).forEach(function (k) {
            if (k.indexOf(prefix) === 0) self._replay.join.delete(k);
          });
          break;
        }
        default:
      }
    }

    /** A failed reply means there is nothing worth sending again. */
    _forget(activity) {
      var map = this._replay[activity.type];
      if (map && map.get(this._key(activity)) === activity) map.delete(this._key(activity));
    }

    async _replaySession(session) {
      var self = this;
      var stages = ['credentials', 'connect', 'join'];
      for (var i = 0; i < stages.length; i++) {
        var activities = Array.from(this._replay[stages[i]].values());
        if (!activities.length) continue;
        var results = await Promise.allSettled(activities.map(function (a) {
          return self._request(a, { replay: true });
        }));
        if (this._closed || this._session !== session) return; // lost again: a new replay runs
        results.forEach(function (r) {
          if (r.status === 'rejected' && r.reason && r.reason.code !== 'session-lost' && r.reason.code !== 'closed') {
            r.reason.replay = true;
            self._emit('error', r.reason);
          }
        });
      }
      if (this._closed || this._session !== session) return;
      this._ready = true;
      this._becameReady();
    }

    _isReady() { return this._welcomed && this._ready && this._catchUpTo === null; }

    _becameReady() {
      if (this._isReady()) {
        var w = this.welcome;
        this._readyWaiters.splice(0).forEach(function (x) { x.resolve(w); });
      }
      this._drain();
    }

    // ---- the socket ---------------------------------------------------------------------

    _open() {
      if (this._closed) return;
      this._reconnectTimer = null;
      this._socketGen += 1;
      this._attempt += 1;
      this._setState({ state: 'connecting', attempt: this._attempt, url: this.url });
      var ws;
      try {
        ws = new this._WebSocket(this.url);
      } catch (e) {
        this._emit('error', e);
        this._scheduleReconnect(null, { code: 1006, reason: String(e && e.message) });
        return;
      }
      this._socket = ws;
      var self = this;
      ws.onopen = function () { if (ws === self._socket) self._onOpen(ws); };
      ws.onmessage = function (ev) { if (ws === self._socket) self._onFrame(ev.data); };
      ws.onclose = function (ev) { if (ws === self._socket) self._onClose(ws, ev.code, ev.reason); };
      ws.onerror = function () { /* a close event follows */ };
    }

    _detach(ws) { ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null; }

    _onOpen(ws) {
      var hello = { kind: 'hello' };
      if (this._session) hello.resume = { session: this._session, token: this._token, lastSeq: this._lastSeq };
      if (this.options.keep !== null && this.options.keep !== undefined) hello.keep = this.options.keep;
      ws.send(JSON.stringify(hello));
      var self = this;
      this._helloTimer = setTimeout(function () {
        self._drop(ws, 4000, 'no welcome within ' + self.options.helloTimeoutMs + ' ms');
      }, this.options.helloTimeoutMs);
    }

    /** Give up on a socket that looks dead without waiting for its close event. */
    _drop(ws, code, reason) {
      if (ws !== this._socket) return;
      this._detach(ws);
      try { ws.close(1000, reason); } catch (e) { /* ignore */ }
      this._onClose(ws, code, reason);
    }

    _onClose(ws, code, reason) {
      if (this._endResolve && code === 1000 && reason === 'session ended') {
        this._detach(ws);
        this._socket = null;
        this._ended(); // the close overtook the `ended` frame
        return;
      }
      this._detach(ws);
      this._socket = null;
      this._welcomed = false;
      this._catchUpTo = null;
      this._resendBox = [];
      this._clearTimers();
      this._scheduleReconnect(ws, { code: code, reason: reason });
    }

    _scheduleReconnect(ws, info) {
      if (this._closed) return;
      var verdict = closeVerdict(info.code, info.reason);
      if (verdict && verdict[1]) {
        this._emit('error', new SockethubError(verdict[0], info.reason || verdict[0]));
        this._shutdown(info.code, info.reason, verdict[0]);
        return;
      }
      if (verdict) this._emit('error', new SockethubError(verdict[0], info.reason || verdict[0]));
      var r = this.options.reconnect;
      // After a limit close, come back no sooner than the longest backoff allows.
      var attempt = verdict ? Infinity : Math.max(0, this._attempt - 1);
      var ceiling = Math.min(r.maxDelayMs, r.minDelayMs * Math.pow(2, attempt));
      // Jitter within the upper half, so a gateway restart is not met by a synchronised herd.
      var delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      if (info.code === 1001) {
        // Every tab of a restarting gateway hears 1001 at the same moment: spread them out.
        var spread = Math.min(r.maxDelayMs, r.spreadMs || 0);
        delay = Math.max(delay, Math.round(Math.random() * spread));
      }
      this._setState({ state: 'closed', code: info.code, reason: info.reason, willReconnect: true, delayMs: delay });
      var self = this;
      this._reconnectTimer = setTimeout(function () { self._open(); }, delay);
    }

    _reconnectNow() {
      if (this._closed || !this._reconnectTimer) return;
      clearTimeout(this._reconnectTimer);
      this._open();
    }

    _clearTimers() {
      ['_helloTimer', '_pingTimer', '_pongTimer', '_drainTimer', '_catchUpTimer', '_stableTimer'].forEach(function (name) {
        if (this[name]) { clearTimeout(this[name]); clearInterval(this[name]); this[name] = null; }
      }, this);
    }

    _startPing(ws) {
      var self = this;
      if (!this.options.pingIntervalMs) return;
      this._pingTimer = setInterval(function () {
        if (ws !== self._socket || self._pongTimer) return;
        try { ws.send('{"kind":"ping"}'); } catch (e) { return; }
        self._pongTimer = setTimeout(function () {
          self._drop(ws, 4000, 'no answer to ping within ' + self.options.pingTimeoutMs + ' ms');
        }, self.options.pingTimeoutMs);
      }, this.options.pingIntervalMs);
    }

    // ---- frames from the gateway --------------------------------------------------------

    _onFrame(data) {
      if (this._pongTimer) { clearTimeout(this._pongTimer); this._pongTimer = null; }
      var frame;
      try { frame = JSON.parse(data); } catch (e) {
        this._emit('error', new SockethubError('invalid-frame', 'gateway sent something that is not JSON'));
        return;
      }
      if (!frame || typeof frame !== 'object') return;
      if (frame.kind === 'welcome') { this._onWelcome(frame); return; }
      if (frame.kind === 'pong') return;
      if (frame.kind === 'ended') { this._ended(); return; }
      if (typeof frame.seq === 'number') {
        if (frame.seq <= this._lastSeq) return; // already processed (a resume may overlap)
        this._lastSeq = frame.seq;
      }
      // Replayed: produced before this socket's welcome, sent now as the resume's backlog.
      var meta = { seq: frame.seq, replayed: this._catchUpTo !== null && frame.seq <= this._catchUpTo };
      if (frame.kind === 'reply') this._onReply(frame, meta);
      else if (frame.kind === 'event') this._onEvent(frame, meta);
      if (this._catchUpTo !== null) this._caughtUp();
    }

    _onWelcome(frame) {
      if (this._helloTimer) { clearTimeout(this._helloTimer); this._helloTimer = null; }
      if (this._endResolve) {
        // end() was called while no socket was welcomed: end before anything else.
        this._welcomed = true;
        this._sendEnd();
        return;
      }
      var previous = this._session;
      var first = !this._everWelcomed;
      this.welcome = frame;
      this._session = frame.session;
      this._token = frame.token; // a new one on every resume: only the newest opens it
      this._store();
      var restored = this._restored;
      this._restored = false;
      this._welcomed = true;
      this._everWelcomed = true;
      // Not reset yet: a gateway that welcomes and drops at once would be retried at the
      // minimum delay for ever. A connection that stays up earns a fresh backoff.
      var welcomed = this._socket;
      var stable = this;
      this._stableTimer = setTimeout(function () {
        stable._stableTimer = null;
        if (stable._socket === welcomed) stable._attempt = 0;
      }, this.options.reconnect.stableMs);
      this._startPing(this._socket);
      this._emit('welcome', frame);

      if (frame.resumed) {
        // Resuming a stored session: this page sent nothing on it, so there is nothing of
        // its own to replay; it is ready once the backlog is in.
        if (restored) this._ready = true;
        // The backlog (every reply and event above our lastSeq) follows the welcome; send
        // nothing new until it is in, so retransmissions keep their place in the order.
        this._catchUpTo = typeof frame.lastSeq === 'number' ? frame.lastSeq : this._lastSeq;
        var self = this;
        this._catchUpTimer = setTimeout(function () {
          self._catchUpTimer = null;
          if (self._catchUpTo !== null) { self._catchUpTo = -1; self._caughtUp(); }
        }, this.options.helloTimeoutMs);
        this._setState({ state: 'resumed', session: frame.session, lastSeq: frame.lastSeq, restored: restored });
        this._caughtUp();
        return;
      }
      // A new session: nothing sent on the old one will be answered.
      this._lastSeq = typeof frame.lastSeq === 'number' ? frame.lastSeq : 0;
      this._ready = false;
      var lost = [];
      this._records.forEach(function (rec) { if (rec.sent) lost.push(rec); });
      var why = describe(frame.resumeError);
      lost.forEach(function (rec) {
        rec.reject(new SockethubError('session-lost',
          'the gateway session ended before this request was answered' + (why ? ': ' + why : ''),
          { activity: rec.activity, requestId: rec.id }));
      });
      this._setState(first && !restored ? { state: 'open', session: frame.session } : {
        state: 'new-session', session: frame.session, previousSession: previous,
        resumeError: frame.resumeError, lost: lost.length, restored: restored,
      });
      this._replaySession(frame.session);
    }

    _onReply(frame, meta) {
      var rec = frame.id != null ? this._records.get(frame.id) : null;
      var code = frame.error && frame.error.code;
      if (frame.id != null && this._retransmitted.has(frame.id)) {
        // The second answer to a request sent twice: the gateway's refusal of the copy,
        // or a copy's answer after the original's.
        if (!rec || (frame.status === 'failed' && code === 'duplicate-request')) return;
      }
      if (!rec) {
        // No promise waits for it: a reply after our own timeout, or (after a reload) to a
        // request of the page before. A page rebuilding its state reads them here.
        this._emit('reply', frame, meta);
        var mine = typeof frame.id === 'string' && frame.id.indexOf(this._idPrefix + '.') === 0;
        if (frame.status === 'failed' && (mine || (frame.id == null && !meta.replayed))) {
          var e = frame.error || {};
          this._emit('error', new SockethubError(e.code || 'internal', e.message,
            { path: e.path, details: e.details, retryable: e.retryable, ref: e.ref, reply: frame }));
        }
        return;
      }
      if (frame.status === 'completed') {
        rec.resolve(frame.result);
        return;
      }
      if (code === 'not-sent' && !rec.notSentAgain && this._socket && this._welcomed) {
        // The gateway that accepted it stopped before it left: it did not run, and its id
        // may be sent again. Once, with the same id, as if it had been lost on the way.
        rec.notSentAgain = true;
        this._sendRecord(rec);
        return;
      }
      var err = frame.error || {};
      if (rec.activity) this._forget(rec.activity);
      rec.reject(new SockethubError(err.code || 'internal', err.message || 'request failed', {
        path: err.path, details: err.details, retryable: err.retryable, ref: err.ref,
        activity: frame.activity || rec.activity,
        requestId: rec.id, reply: frame,
      }));
    }

    _onEvent(frame, meta) {
      var activity = frame.activity;
      if (!activity) return;
      this._emit('message', activity, meta);
      if (activity.type && !RESERVED_EVENTS[activity.type]) this._emit(activity.type, activity, meta);
    }

    // ---- events -------------------------------------------------------------------------

    _setState(info) {
      this.state = info.state;
      this._emit('connection', info);
    }

    _emit(event, a, b) {
      var set = this._listeners.get(event);
      if (!set || !set.size) return;
      Array.from(set).forEach(function (fn) {
        try { fn(a, b); } catch (e) {
          // A listener's bug must not break the client's own bookkeeping.
          if (root.console) root.console.error('SockethubClient: error in "' + event + '" listener', e);
        }
      });
    }
  }

  // ---- Sockethub's SDK API, when the constructor is given a Socket.IO socket ------------
  //
  // `new SockethubClient(io(url, {path: "/sockethub"}), options)`, as pages written for
  // Sockethub's `@sockethub/client` do, gives a `SockethubSdkClient` instead: the same
  // methods and events as that SDK (docs/sockethub-compatibility.md, "Pages written for
  // Sockethub"), over the gateway's Socket.IO endpoint. Self-contained: it shares only
  // the small helpers above with the client of our own protocol.

  var SDK_DEFAULTS = { initTimeoutMs: 5000, maxQueuedOutbound: 1000, maxQueuedAgeMs: 30000 };
  // What the SDK passes on from the raw socket (Sockethub's does not pass `error`: a page
  // listens for it on its own io() socket, or here on `sc.socket`, which passes it on too).
  var SDK_FORWARDED = ['connect', 'connect_error', 'disconnect'];

  function isSioSocket(value) {
    return !!value && typeof value === 'object' && typeof value.emit === 'function' &&
      typeof value.on === 'function';
  }

  /** Sockethub's normalisation of an activity, also inside arrays of actors/targets. */
  function sdkNormalize(activity) {
    if (!activity || typeof activity !== 'object' || Array.isArray(activity)) return activity;
    var out = normalize(activity);
    ['actor', 'target'].forEach(function (k) {
      if (Array.isArray(out[k])) out[k] = out[k].map(function (v) { return asObject(v, 'id'); });
    });
    return out;
  }

  class SockethubSdkClient {
    constructor(socket, options) {
      this.options = Object.assign({}, SDK_DEFAULTS, options || {});
      this._raw = socket;
      this._listeners = new Map();
      this._state = 'idle';
      this._registry = null;
      this._everReady = false;
      this._queue = []; // [event, activity, ack, queued at] sent once ready
      this._replay = { credentials: new Map(), connect: new Map(), join: new Map() };
      this._waiters = [];
      this._cycle = 0;
      this.socket = this._wrapper();
      var self = this;
      SDK_FORWARDED.forEach(function (event) {
        socket.on(event, function (a) { self._fromSocket(event, a); });
      });
      socket.on('message', function (a) { self._emit('message', sdkNormalize(a)); });
      socket.on('schemas', function (payload) { self._schemasEvent(payload); });
      if (socket.connected) this._init(this._everReady ? 'reconnect' : 'initial-connect');
    }

    // ---- Sockethub's SDK methods --------------------------------------------------------
    ready(timeoutMs) {
      var self = this;
      if (this._state === 'ready') return Promise.resolve(this._readyInfo('ready'));
      return new Promise(function (resolve, reject) {
        var waiter = { resolve: resolve, reject: reject, timer: null };
        if (timeoutMs) {
          waiter.timer = setTimeout(function () {
            self._waiters = self._waiters.filter(function (w) { return w !== waiter; });
            reject(new Error('SockethubClient ready() timed out after ' + timeoutMs + 'ms'));
          }, timeoutMs);
        }
        self._waiters.push(waiter);
      });
    }

    isReady() { return this._state === 'ready'; }

    isSchemasReady() { return !!this._registry; }

    getInitState() { return this._state; }

    waitForSchemas(timeoutMs) { return this.ready(timeoutMs); } // deprecated in the SDK too

    contextFor(platform) {
      if (!this._registry) {
        throw new Error('Schema registry not loaded yet; wait for ready() before calling contextFor()');
      }
      var entry = this._platform(platform);
      if (!entry) {
        throw new Error("unknown platform '" + platform + "'. Registered platforms: " +
          this.getRegisteredPlatforms().join(', '));
      }
      var c = this._registry.contexts;
      return [c.as, c.sockethub, entry.contextUrl];
    }

    getRegisteredPlatforms() {
      return this._registry ? this._registry.platforms.map(function (p) { return p.id; }) : [];
    }

    getRegisteredBaseContexts() {
      return this._registry ? Object.assign({}, this._registry.contexts) : {};
    }

    getPlatformSchema(platform, kind) {
      var entry = this._platform(platform);
      return entry && entry.schemas ? entry.schemas[kind || 'messages'] : undefined;
    }

    /** Advisory, as the SDK's: the envelope's shape and the registry's verbs; the gateway
     * validates everything again. The error message, or null when the activity passes. */
    validateActivity(activity) {
      var a = sdkNormalize(activity);
      if (!a || typeof a !== 'object') return 'activity stream must be an object';
      if (!Array.isArray(a['@context'])) return 'activity stream must contain an @context array.';
      if (typeof a.type !== 'string') return 'activity stream must contain a type property.';
      if (!a.actor) return 'activity stream must contain an actor property.';
      if (!this._registry) return null;
      var name = platformOf(a['@context']);
      var entry = name && this._platform(name);
      if (!entry) return 'activity streams must have exactly one registered platform context URL in @context';
      if (entry.types && entry.types.indexOf(a.type) < 0) {
        return 'platform type ' + a.type + ' not supported by ' + name + ' platform. (types: ' +
          entry.types.join(', ') + ')';
      }
      return null;
    }

    clearCredentials() { this._replay.credentials.clear(); }

    // ---- inside -----------------------------------------------------------------------
    _platform(name) {
      var list = this._registry ? this._registry.platforms : [];
      for (var i = 0; i < list.length; i++) if (list[i].id === name) return list[i];
      return null;
    }

    _wrapper() {
      var self = this;
      var raw = this._raw;
      var own = { message: 1, schemas: 1, ready: 1, init_error: 1, client_error: 1, connect: 1,
        disconnect: 1, connect_error: 1 };
      var wrapper = {
        on: function (event, fn) {
          if (own[event]) self._on(event, fn); else raw.on(event, fn);
          return wrapper;
        },
        off: function (event, fn) {
          if (own[event]) self._off(event, fn); else if (raw.off) raw.off(event, fn);
          return wrapper;
        },
        once: function (event, fn) {
          function one(a, b) { wrapper.off(event, one); fn(a, b); }
          return wrapper.on(event, one);
        },
        emit: function (event, activity, ack) {
          if (event === 'credentials' || event === 'message') self._outbound(event, activity, ack);
          else raw.emit.apply(raw, arguments);
          return wrapper;
        },
        connect: function () { raw.connect(); return wrapper; },
        disconnect: function () { raw.disconnect(); return wrapper; },
      };
      Object.defineProperty(wrapper, 'connected', { get: function () { return !!raw.connected; } });
      Object.defineProperty(wrapper, 'id', { get: function () { return raw.id; } });
      return wrapper;
    }

    _on(event, fn) {
      if (!this._listeners.has(event)) this._listeners.set(event, new Set());
      this._listeners.get(event).add(fn);
    }

    _off(event, fn) {
      var set = this._listeners.get(event);
      if (set) set.delete(fn);
    }

    _emit(event, a) {
      var set = this._listeners.get(event);
      if (!set) return;
      Array.from(set).forEach(function (fn) {
        try { fn(a); } catch (e) {
          if (root.console) root.console.error('SockethubClient: error in "' + event + '" listener', e);
        }
      });
    }

    _fromSocket(event, a) {
      if (event === 'connect') {
        this._emit('connect');
        this._init(this._everReady ? 'reconnect' : 'initial-connect');
        return;
      }
      if (event === 'disconnect') {
        this._cycle++; // an init cycle in flight is for a socket that is gone
        this._state = 'idle';
      }
      this._emit(event, a);
    }

    /** The schemas handshake of one (re)connect, then ready, the replay, the queue. */
    _init(reason) {
      var self = this;
      var cycle = ++this._cycle;
      var ms = this.options.initTimeoutMs;
      this._state = 'initializing';
      var timer = setTimeout(function () {
        if (cycle !== self._cycle || self._state === 'ready') return;
        self._state = 'init_error';
        self._emit('init_error', {
          error: 'Initialization timed out after ' + ms + 'ms waiting for schemas',
          phase: 'timeout',
          retrying: false,
        });
      }, ms);
      var known = this._registry ? this._registry.fingerprint : undefined;
      this._raw.emit('schemas', known, function (payload) {
        clearTimeout(timer);
        if (cycle !== self._cycle) return; // a late reply still completes its own cycle only
        if (!self._apply(payload, 'schemas-apply')) return;
        self._becomeReady(reason);
      });
    }

    /** Take a registry payload (or `unchanged`); false (and init_error) if unusable. */
    _apply(payload, phase) {
      if (payload && payload.unchanged === true && this._registry &&
          payload.fingerprint === this._registry.fingerprint) {
        return true;
      }
      var ok = payload && payload.contexts && typeof payload.contexts.as === 'string' &&
        typeof payload.contexts.sockethub === 'string' && Array.isArray(payload.platforms);
      if (!ok) {
        this._state = 'init_error';
        this._emit('init_error', { error: 'Received invalid schemas payload from server', phase: phase, retrying: false });
        return false;
      }
      var platforms = payload.platforms.filter(function (p) {
        return p && typeof p.id === 'string' && typeof p.version === 'string' && typeof p.contextUrl === 'string';
      });
      this._registry = Object.assign({}, payload, { platforms: platforms });
      this._emit('schemas', this._registry);
      return true;
    }

    _schemasEvent(payload) {
      var wasReady = this._state === 'ready';
      if (this._apply(payload, 'schemas-apply') && wasReady) {
        this._emit('ready', this._readyInfo('schemas-update'));
      }
    }

    _readyInfo(reason) {
      var r = this._registry || {};
      return {
        state: 'ready',
        reason: reason,
        sockethubVersion: r.version,
        contexts: Object.assign({}, r.contexts || {}),
        platforms: this.getRegisteredPlatforms(),
      };
    }

    _becomeReady(reason) {
      var self = this;
      this._state = 'ready';
      this._everReady = true;
      var info = this._readyInfo(reason);
      this._emit('ready', info);
      var waiters = this._waiters;
      this._waiters = [];
      waiters.forEach(function (w) { clearTimeout(w.timer); w.resolve(info); });
      if (reason === 'reconnect') {
        // The SDK's replay, without acks: credentials, then connects, then joins.
        var r = this._replay;
        r.credentials.forEach(function (a) { self._raw.emit('credentials', a); });
        r.connect.forEach(function (a) { self._raw.emit('message', a); });
        r.join.forEach(function (a) { self._raw.emit('message', a); });
      }
      var queued = this._queue;
      this._queue = [];
      var now = Date.now();
      queued.forEach(function (q) {
        if (now - q[3] > self.options.maxQueuedAgeMs) {
          self._fail(q[0], q[2], 'SockethubClient queued message expired after ' +
            self.options.maxQueuedAgeMs + 'ms before initialization');
        } else {
          self._outbound(q[0], q[1], q[2]);
        }
      });
    }

    _fail(event, ack, error) {
      if (typeof ack === 'function') ack({ error: error });
      else this._emit('client_error', { event: event, error: error });
    }

    _outbound(event, activity, ack) {
      if (this._state !== 'ready') {
        if (this._queue.length >= this.options.maxQueuedOutbound) {
          this._fail(event, ack, 'SockethubClient queue overflow before ready');
        } else {
          this._queue.push([event, activity, ack, Date.now()]);
        }
        return;
      }
      var a = sdkNormalize(activity);
      if (a && typeof a === 'object') {
        a = Object.assign({}, a);
        if (event === 'credentials' && !a.type) a.type = 'credentials';
        if (a.actor && typeof a.actor === 'object' && !a.actor.type) {
          a.actor = Object.assign({}, a.actor, { type: 'person' });
        }
      }
      var invalid = this.validateActivity(a);
      if (invalid) {
        this._fail(event, ack, 'SockethubClient validation failed: ' + invalid);
        return;
      }
      this._remember(event, a);
      if (typeof ack === 'function') this._raw.emit(event, a, ack);
      else this._raw.emit(event, a);
    }

    /** The replay maps, keyed "<platform>:<actor id>-<target id>" as the SDK keys them. */
    _remember(event, a) {
      var key = platformOf(a['@context']) + ':' + idOf(a.actor) + '-' + (idOf(a.target) || '');
      var r = this._replay;
      if (event === 'credentials') {
        if (a.object && a.object.type === 'credentials') r.credentials.set(key, a);
      } else if (a.type === 'connect') {
        r.connect.set(key, a);
      } else if (a.type === 'join') {
        r.join.set(key, a);
      } else if (a.type === 'disconnect') {
        r.connect.delete(key);
      } else if (a.type === 'leave') {
        r.join.delete(key);
      }
    }
  }

  // `new SockethubClient(socket)` builds the SDK-API client; a URL or options, ours.
  SockethubClient = new Proxy(SockethubClient, {
    construct: function (target, args, newTarget) {
      if (isSioSocket(args[0])) return new SockethubSdkClient(args[0], args[1]);
      return Reflect.construct(target, args, newTarget);
    },
  });
  SockethubClient.SockethubSdkClient = SockethubSdkClient;

  SockethubClient.SockethubError = SockethubError;
  SockethubClient.SockethubClient = SockethubClient;
  SockethubClient.contextFor = contextFor;
  SockethubClient.describeError = describe;
  SockethubClient.default = SockethubClient;

  root.SockethubClient = SockethubClient;
  root.SockethubError = SockethubError;
  if (typeof module === 'object' && module && module.exports) module.exports = SockethubClient;
})(typeof globalThis !== 'undefined' ? globalThis : (typeof self !== 'undefined' ? self : this));
