"""The Sockethub-API mode of sockethub-client.js on a scripted Socket.IO socket.

What a healthy gateway does not produce on demand (a schemas reply that never comes, a
reconnect at a chosen moment) is played here exactly: the fake socket records every
emit and the test fires ``connect``, ``disconnect`` and acks itself.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

FAKE_IO_JS = """
(() => {
  const AS = 'https://www.w3.org/ns/activitystreams';
  const SH = 'https://sockethub.org/ns/context/v1.jsonld';
  const IRC = 'https://sockethub.org/ns/context/platform/irc/v1.jsonld';
  window.CTX = [AS, SH, IRC];
  window.REGISTRY = {fingerprint: 'f1', version: '5.0.0-test', contexts: {as: AS, sockethub: SH},
    platforms: [{id: 'irc', version: '1', contextUrl: IRC,
      types: ['credentials', 'connect', 'join', 'send', 'leave', 'disconnect']},
      {id: 'broken'}]};
  class FakeIo {
    constructor() { this.connected = false; this.sent = []; this.handlers = {}; }
    on(e, f) { (this.handlers[e] = this.handlers[e] || []).push(f); return this; }
    off() { return this; }
    emit(...args) { this.sent.push(args); }
    fire(e, ...a) { (this.handlers[e] || []).forEach((f) => f(...a)); }
    up(id) { this.connected = true; this.id = id; this.fire('connect'); }
    down() { this.connected = false; this.fire('disconnect', 'transport close'); }
    // Answers the last schemas request with the registry (or what is given).
    schemas(payload) {
      const req = this.sent.filter((s) => s[0] === 'schemas').pop();
      req[2](payload || REGISTRY);
    }
    names() { return this.sent.map((s) => s[0] + ':' + (s[1] && s[1].type || s[1])); }
    connect() {} disconnect() {}
  }
  window.FakeIo = FakeIo;
  window.events = [];
  window.sdk = (options) => {
    const raw = new FakeIo();
    const sc = new SockethubClient(raw, options);
    ['ready', 'init_error', 'client_error', 'schemas', 'message'].forEach(
      (e) => sc.socket.on(e, (a) => events.push([e, a])));
    return [sc, raw];
  };
  window.irc = (type, extra) => Object.assign(
    {'@context': CTX, type: type, actor: {id: 'me@irc'}}, extra || {});
})();
"""


@pytest.fixture
def sdk(client_page: Any) -> Any:
    client_page.add_script_tag(content=FAKE_IO_JS)
    return client_page


def test_queued_until_ready_then_replayed_on_every_reconnect(sdk: Any) -> None:
    got = sdk.evaluate(
        """async () => {
      const [sc, raw] = sdk();
      const out = {};
      out.notLoaded = (() => { try { sc.contextFor('irc'); } catch (e) { return e.message; } })();
      sc.socket.emit('credentials', {'@context': CTX, actor: {id: 'me@irc'},
                                     object: {type: 'credentials', nick: 'me'}});
      sc.socket.emit('message', irc('connect'));
      sc.socket.emit('message', irc('join', {target: {id: '#a@irc', type: 'room'}}));
      sc.socket.emit('message', irc('join', {target: {id: '#b@irc', type: 'room'}}));
      raw.up('s1');
      out.beforeReady = raw.names();
      out.firstFingerprint = raw.sent[0][1];
      raw.schemas();
      out.state = sc.getInitState();
      out.platforms = sc.getRegisteredPlatforms();
      out.context = sc.contextFor('irc');
      out.unknown = (() => { try { sc.contextFor('xmpp'); } catch (e) { return e.message; } })();
      out.sent = raw.names();
      out.credentials = raw.sent[1][1];
      sc.socket.emit('message', irc('leave', {target: {id: '#a@irc', type: 'room'}}));
      raw.down();
      raw.sent = [];
      raw.up('s2');
      out.reconnectFingerprint = raw.sent[0][1];
      raw.schemas({fingerprint: 'f1', unchanged: true});
      out.replayed = raw.names();
      out.replayAcks = raw.sent.slice(1).map((s) => s.length);
      out.ready = events.filter((e) => e[0] === 'ready').map((e) => e[1].reason);
      out.info = events.find((e) => e[0] === 'ready')[1];
      return out;
    }"""
    )
    assert got["notLoaded"].startswith("Schema registry not loaded yet")
    assert got["beforeReady"] == ["schemas:undefined"] and got["firstFingerprint"] is None
    assert got["state"] == "ready" and got["platforms"] == ["irc"]  # the broken entry skipped
    assert got["context"][2].endswith("/platform/irc/v1.jsonld")
    assert got["unknown"] == "unknown platform 'xmpp'. Registered platforms: irc"
    assert got["sent"][1:] == ["credentials:credentials", "message:connect", "message:join"] + [
        "message:join"
    ]
    assert got["credentials"]["type"] == "credentials"  # defaulted, as the SDK does
    assert got["credentials"]["actor"] == {"id": "me@irc", "type": "person"}
    assert got["reconnectFingerprint"] == "f1"
    # credentials, then connects, then joins (#a left), without acks
    assert got["replayed"] == [
        "schemas:f1",
        "credentials:credentials",
        "message:connect",
        "message:join",
    ]
    assert got["replayAcks"] == [2, 2, 2]
    assert got["ready"] == ["initial-connect", "reconnect"]
    assert got["info"] == {
        "state": "ready",
        "reason": "initial-connect",
        "sockethubVersion": "5.0.0-test",
        "contexts": {
            "as": "https://www.w3.org/ns/activitystreams",
            "sockethub": "https://sockethub.org/ns/context/v1.jsonld",
        },
        "platforms": ["irc"],
    }


def test_init_timeout_overflow_expiry_and_local_validation(sdk: Any) -> None:
    got = sdk.evaluate(
        """async () => {
      const out = {};
      const [sc, raw] = sdk({initTimeoutMs: 50, maxQueuedOutbound: 1, maxQueuedAgeMs: 100});
      const overflow = [];
      sc.socket.emit('message', irc('connect'), (r) => overflow.push(['first', r]));
      sc.socket.emit('message', irc('connect'), (r) => overflow.push(['second', r]));
      out.overflow = overflow.slice();
      try { await sc.ready(20); } catch (e) { out.readyTimeout = e.message; }
      raw.up('s1');
      await new Promise((r) => setTimeout(r, 150));
      out.initError = events.find((e) => e[0] === 'init_error')[1];
      raw.schemas();  // late: still completes the cycle
      out.state = sc.getInitState();
      out.expired = overflow.slice(1);
      sc.socket.emit('message', irc('dance'));
      out.clientError = events.find((e) => e[0] === 'client_error')[1];
      raw.emit = () => { throw new Error('must not be sent'); };
      const bad = await new Promise((r) => sc.socket.emit('message', {type: 'send'}, r));
      out.bad = bad;
      return out;
    }"""
    )
    assert got["overflow"] == [["second", {"error": "SockethubClient queue overflow before ready"}]]
    assert got["readyTimeout"] == "SockethubClient ready() timed out after 20ms"
    assert got["initError"] == {
        "error": "Initialization timed out after 50ms waiting for schemas",
        "phase": "timeout",
        "retrying": False,
    }
    assert got["state"] == "ready"
    assert got["expired"] == [
        [
            "first",
            {"error": "SockethubClient queued message expired after 100ms before initialization"},
        ]
    ]
    assert got["clientError"] == {
        "event": "message",
        "error": "SockethubClient validation failed: platform type dance not supported by irc "
        "platform. (types: credentials, connect, join, send, leave, disconnect)",
    }
    assert got["bad"] == {
        "error": "SockethubClient validation failed: activity stream must contain an @context "
        "array."
    }


def test_an_invalid_registry_is_an_init_error(sdk: Any) -> None:
    got = sdk.evaluate(
        """() => {
      const [sc, raw] = sdk();
      raw.up('s1');
      raw.schemas({nope: true});
      return [sc.getInitState(), events.find((e) => e[0] === 'init_error')[1]];
    }"""
    )
    assert got == [
        "init_error",
        {
            "error": "Received invalid schemas payload from server",
            "phase": "schemas-apply",
            "retrying": False,
        },
    ]
