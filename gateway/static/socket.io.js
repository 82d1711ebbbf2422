/*
 * socket.io.js: a small `io()` of this project's own, for pages written for Sockethub.
 *
 * Sockethub's pages load `/socket.io.js` (socket.io-client's bundle) and call
 * `io(url, {path: "/sockethub"})`. This is not that bundle: it is the part of the
 * Socket.IO v4 client such a page uses, written for this gateway, over a WebSocket only
 * (no long-polling, no binary, the default namespace "/" only):
 *
 *   Engine.IO 4: the open packet `0{"sid",...,"pingInterval","pingTimeout"}`, a pong `3`
 *   for every ping `2`, a message `4<Socket.IO packet>`, a close `1`.
 *   Socket.IO 5 (v4 servers): CONNECT `0`, DISCONNECT `1`, EVENT `2[id][name, ...args]`,
 *   ACK `3id[...]`, CONNECT_ERROR `4{...}`.
 *
 * The socket: `on`, `off`, `once`, `emit(event, ...args[, ack])`, `connect()`,
 * `disconnect()`, `connected`, `id`; events `connect`, `disconnect` (with a reason),
 * `connect_error`. Emits made while disconnected wait and go once connected, as in
 * socket.io-client. It reconnects after a lost connection with a growing, randomised
 * delay, but not after `disconnect()` or a server's disconnect ("io server disconnect").
 * For everything else of Socket.IO, use the real socket.io-client from npm.
 */
(function (root) {
  'use strict';

  var RESERVED = { connect: 1, connect_error: 1, disconnect: 1, disconnecting: 1 };

  function wsUrl(url, opts) {
    var loc = root.location || {};
    var base = url || (loc.protocol + '//' + loc.host);
    var parsed = new URL(base, loc.href);
    var scheme = parsed.protocol === 'https:' || parsed.protocol === 'wss:' ? 'wss:' : 'ws:';
    var path = (opts.path || '/socket.io').replace(/\/$/, '') + '/';
    var query = 'EIO=4&transport=websocket';
    if (opts.query) {
      Object.keys(opts.query).forEach(function (k) {
        query += '&' + encodeURIComponent(k) + '=' + encodeURIComponent(opts.query[k]);
      });
    }
    return scheme + '//' + parsed.host + path + '?' + query;
  }

  /** A Socket.IO packet from the text of an Engine.IO message; null if unreadable. */
  function decode(text) {
    var type = Number(text.charAt(0));
    var i = 1;
    if (text.charAt(i) === '/') { // a namespace: "/name,"; only "/" is used here
      var comma = text.indexOf(',', i);
      i = comma < 0 ? text.length : comma + 1;
    }
    var start = i;
    while (i < text.length && text.charAt(i) >= '0' && text.charAt(i) <= '9') i++;
    var id = i > start ? Number(text.slice(start, i)) : null;
    var data;
    try { data = i < text.length ? JSON.parse(text.slice(i)) : undefined; } catch (e) { return null; }
    return { type: type, id: id, data: data };
  }

  class Socket {
    constructor(url, opts) {
      this.opts = Object.assign({
        reconnection: true,
        reconnectionAttempts: Infinity,
        reconnectionDelay: 1000,
        reconnectionDelayMax: 5000,
        randomizationFactor: 0.5,
        timeout: 20000,
        autoConnect: true,
      }, opts || {});
      this.url = wsUrl(url, this.opts);
      this.connected = false;
      this.disconnected = true;
      this.id = undefined;
      this._listeners = new Map();
      this._acks = new Map();
      this._ackId = 0;
      this._buffer = [];
      this._ws = null;
      this._attempts = 0;
      this._wanted = false; // connect() was called and disconnect() was not
      this._timers = {};
      if (this.opts.autoConnect) this.connect();
    }

    // ---- the API ----------------------------------------------------------------------
    on(event, fn) {
      if (!this._listeners.has(event)) this._listeners.set(event, []);
      this._listeners.get(event).push(fn);
      return this;
    }

    off(event, fn) {
      if (!event) { this._listeners.clear(); return this; }
      if (!fn) { this._listeners.delete(event); return this; }
      var list = (this._listeners.get(event) || []).filter(function (f) { return f !== fn && f._of !== fn; });
      this._listeners.set(event, list);
      return this;
    }

    once(event, fn) {
      var self = this;
      function one() { self.off(event, one); fn.apply(self, arguments); }
      one._of = fn;
      return this.on(event, one);
    }

    emit(event) {
      if (RESERVED[event]) throw new Error('"' + event + '" is a reserved event name');
      var args = Array.prototype.slice.call(arguments);
      var id = null;
      if (typeof args[args.length - 1] === 'function') {
        id = this._ackId++;
        this._acks.set(id, args.pop());
      }
      var packet = '2' + (id === null ? '' : id) + JSON.stringify(args);
      if (this.connected) this._send(packet); else this._buffer.push(packet);
      return this;
    }

    send() {
      return this.emit.apply(this, ['message'].concat(Array.prototype.slice.call(arguments)));
    }

    connect() {
      this._wanted = true;
      if (!this._ws) this._open();
      return this;
    }

    open() { return this.connect(); }

    disconnect() {
      this._wanted = false;
      clearTimeout(this._timers.retry);
      if (this.connected) this._send('1');
      this._drop('io client disconnect');
      return this;
    }

    close() { return this.disconnect(); }

    // ---- inside ---------------------------------------------------------------------
    _fire(event, args) {
      var self = this;
      (this._listeners.get(event) || []).slice().forEach(function (fn) {
        try { fn.apply(self, args); } catch (e) {
          if (root.console) root.console.error('socket.io.js: error in "' + event + '" listener', e);
        }
      });
    }

    /** A Socket.IO packet, as an Engine.IO message. */
    _send(text) {
      try { this._ws.send('4' + text); } catch (e) { /* closing: its close event follows */ }
    }

    _open() {
      var self = this;
      var ws;
      try { ws = new root.WebSocket(this.url); } catch (e) { this._failed(e); return; }
      this._ws = ws;
      this._timers.connect = setTimeout(function () {
        if (!self.connected && self._ws === ws) { ws.close(); }
      }, this.opts.timeout);
      ws.onmessage = function (ev) { if (self._ws === ws) self._engine(String(ev.data)); };
      ws.onclose = function () {
        if (self._ws !== ws) return;
        var was = self.connected;
        self._drop('transport close');
        if (!was) self._failed(new Error('websocket error'));
        else self._retry();
      };
    }

    _engine(text) {
      var kind = text.charAt(0);
      if (kind === '0') { // open: the ping timing, then our CONNECT to "/"
        var open = JSON.parse(text.slice(1));
        this._pingWindow = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
        this._alive();
        this._ws.send('40');
      } else if (kind === '2') { // ping
        this._alive();
        this._ws.send('3');
      } else if (kind === '1') { // the server closes the transport
        this._ws.close();
      } else if (kind === '4') {
        var packet = decode(text.slice(1));
        if (packet) this._packet(packet);
      }
    }

    _alive() {
      var self = this;
      var ws = this._ws;
      clearTimeout(this._timers.ping);
      this._timers.ping = setTimeout(function () { if (self._ws === ws) ws.close(); }, this._pingWindow);
    }

    _packet(p) {
      var self = this;
      if (p.type === 0) { // CONNECT answered
        clearTimeout(this._timers.connect);
        this.id = p.data && p.data.sid;
        this.connected = true;
        this.disconnected = false;
        this._attempts = 0;
        this._fire('connect', []);
        var waiting = this._buffer;
        this._buffer = [];
        waiting.forEach(function (text) { self._send(text); });
      } else if (p.type === 1) { // the server disconnected us: no reconnecting by ourselves
        this._wanted = false;
        this._drop('io server disconnect');
      } else if (p.type === 2 && Array.isArray(p.data)) {
        var args = p.data.slice(1);
        if (p.id !== null) {
          var sent = false;
          args.push(function () {
            if (sent) return;
            sent = true;
            self._send('3' + p.id + JSON.stringify(Array.prototype.slice.call(arguments)));
          });
        }
        this._fire(String(p.data[0]), args);
      } else if (p.type === 3 && p.id !== null) {
        var ack = this._acks.get(p.id);
        this._acks.delete(p.id);
        if (ack) ack.apply(this, Array.isArray(p.data) ? p.data : []);
      } else if (p.type === 4) {
        this._fire('connect_error', [new Error((p.data && p.data.message) || 'connect error')]);
      }
    }

    _drop(reason) {
      var ws = this._ws;
      var was = this.connected;
      this._ws = null;
      this.connected = false;
      this.disconnected = true;
      clearTimeout(this._timers.ping);
      clearTimeout(this._timers.connect);
      if (ws) { try { ws.close(); } catch (e) { /* already closed */ } }
      if (was) {
        this.id = undefined;
        this._acks.clear(); // as socket.io-client: acks of a lost connection never come
        this._fire('disconnect', [reason]);
      }
    }

    _failed(err) {
      this._fire('connect_error', [err]);
      this._retry();
    }

    _retry() {
      var o = this.opts;
      if (!this._wanted || !o.reconnection || this._attempts >= o.reconnectionAttempts) return;
      var delay = Math.min(o.reconnectionDelay * Math.pow(2, this._attempts), o.reconnectionDelayMax);
      delay = delay * (1 + o.randomizationFactor * (Math.random() * 2 - 1));
      this._attempts++;
      var self = this;
      clearTimeout(this._timers.retry);
      this._timers.retry = setTimeout(function () { if (self._wanted && !self._ws) self._open(); }, delay);
    }
  }

  function io(url, opts) {
    if (url && typeof url === 'object') { opts = url; url = undefined; }
    return new Socket(url, opts);
  }
  io.Socket = Socket;
  io.protocol = 5;
  io.connect = io;
  io.io = io;

  root.io = io;
  if (typeof module === 'object' && module && module.exports) module.exports = io;
})(typeof globalThis !== 'undefined' ? globalThis : (typeof self !== 'undefined' ? self : this));
