"""The JS client in a real browser: against the whole stack, and against a scripted socket.

The first group talks to the real gateway, Celery worker and Redis (the ``stack`` fixture).
The second replaces the WebSocket with a scripted one (``fake_page``, see conftest.py) to pin
down what the client does in situations a healthy stack does not produce on demand.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

DUMMY_CONTEXT = [
    "https://www.w3.org/ns/activitystreams",
    "https://sockethub.org/ns/context/v1.jsonld",
    "https://sockethub.org/ns/context/platform/dummy/v1.jsonld",
]

# Page helpers for the live tests: a dummy echo with a message object.
LIVE_HELPERS = """
window.echo = (sc, content) => sc.send({platform: 'dummy', type: 'echo', actor: 'me',
                                        object: {type: 'message', content}});
window.client = (reconnectMs) => new SockethubClient(undefined,
    reconnectMs ? {reconnect: {minDelayMs: reconnectMs, maxDelayMs: reconnectMs}} : {});
"""


@pytest.fixture
def live_page(page: Any, stack: Any) -> Any:
    """The landing page of the real gateway, with the client loaded as a classic script."""
    page.goto(stack.url + "/")
    page.add_script_tag(url="/static/sockethub-client.js")
    page.wait_for_function("typeof window.SockethubClient === 'function'")
    page.add_script_tag(content=LIVE_HELPERS)
    return page


# ---- against the real stack ---------------------------------------------------------------


def test_client_loads_as_an_es_module(page: Any, stack: Any) -> None:
    page.goto(stack.url + "/")
    kind = page.evaluate(
        """async () => {
            await import('/static/sockethub-client.js');
            return typeof globalThis.SockethubClient;
        }"""
    )
    assert kind == "function"


def test_send_resolves_with_the_echo_result(live_page: Any) -> None:
    result = live_page.evaluate(
        """async () => {
            const sc = client();
            try { return await echo(sc, 'hi from js'); } finally { sc.close(); }
        }"""
    )
    assert result["type"] == "echo"
    assert result["@context"] == DUMMY_CONTEXT
    assert result["actor"] == {"id": "dummy", "type": "platform"}
    assert result["target"]["id"] == "me"
    assert result["target"]["type"] == "person"  # the client's default actor type
    assert result["object"] == {"type": "message", "content": "hi from js"}


def test_credentials_and_greet(live_page: Any) -> None:
    out = live_page.evaluate(
        """async () => {
            const sc = client();
            try {
                const creds = await sc.credentials('dummy', 'me', {password: 'secret-pw'});
                const greet = await sc.send({
                    '@context': sc.contextFor('dummy'), type: 'greet', actor: {id: 'me'},
                    object: {type: 'message', content: 'world'}});
                return {creds, greet};
            } finally { sc.close(); }
        }"""
    )
    assert out["creds"]["type"] == "credentials"
    assert "object" not in out["creds"]  # credentials are never echoed back
    assert "secret-pw" not in str(out["creds"])
    assert out["greet"]["object"]["content"] == "Hello world"


def test_bad_envelope_rejects_with_code_and_path(live_page: Any) -> None:
    err = live_page.evaluate(
        """async () => {
            const sc = client();
            try {
                await sc.send({platform: 'dummy', type: 'echo', actor: {type: 'person'},
                               object: {type: 'message', content: 'no actor id'}});
                return null;
            } catch (e) {
                return {isError: e instanceof Error, code: e.code, path: e.path,
                        message: e.message, type: e.activity && e.activity.type};
            } finally { sc.close(); }
        }"""
    )
    assert err is not None, "an envelope without actor.id was accepted"
    assert err["isError"]
    assert err["code"] == "invalid-envelope"
    assert err["path"] and "actor" in err["path"]
    assert err["message"]
    assert err["type"] == "echo"


def test_unknown_verb_rejects(live_page: Any) -> None:
    code = live_page.evaluate(
        """async () => {
            const sc = client();
            try {
                await sc.send({platform: 'dummy', type: 'dance', actor: 'me', object: 'x'});
                return null;
            } catch (e) { return e.code; } finally { sc.close(); }
        }"""
    )
    assert code == "unknown-verb"


def test_requests_made_while_offline_are_queued_and_answered_after_reconnect(
    live_page: Any,
) -> None:
    out = live_page.evaluate(
        """async () => {
            const sc = client(1200);
            const states = [];
            sc.on('connection', (i) => states.push(i.state));
            await sc.ready();
            const session = sc.session;
            const closed = new Promise((r) => sc.once('connection', r));
            sc._socket.close();
            const info = await closed;
            const pending = ['one', 'two', 'three'].map((c) => echo(sc, c));
            const queuedWhileDown = sc.queued;
            const socketWhileDown = sc._socket;
            const results = await Promise.all(pending);
            sc.close();
            return {closedState: info.state, willReconnect: info.willReconnect,
                    queuedWhileDown, socketWhileDown: socketWhileDown === null, states,
                    sameSession: sc.session === session,
                    contents: results.map((r) => r.object.content)};
        }"""
    )
    assert out["closedState"] == "closed" and out["willReconnect"]
    assert out["socketWhileDown"]
    assert out["queuedWhileDown"] == 3
    assert out["contents"] == ["one", "two", "three"]
    assert out["sameSession"]
    assert "resumed" in out["states"]


def test_socket_killed_mid_flight_resumes_and_loses_nothing(live_page: Any) -> None:
    out = live_page.evaluate(
        """async () => {
            const sc = client(300);
            const states = [];
            sc.on('connection', (i) => states.push(i.state));
            await sc.ready();
            const session = sc.session;
            const seqBefore = sc.lastSeq;
            const pending = [];
            for (let i = 0; i < 10; i++) pending.push(echo(sc, 'm' + i));
            // Kill the socket while the replies are on their way: they are produced while
            // the browser is away and must come back through the resume, each exactly once.
            sc._socket.close();
            const results = await Promise.allSettled(pending);
            const after = await echo(sc, 'after');
            const out = {
                states, sameSession: sc.session === session, seqs: sc.lastSeq - seqBefore,
                after: after.object.content,
                results: results.map((r) => r.status === 'fulfilled'
                    ? r.value.object.content : `ERR ${r.reason.code} ${r.reason.message}`),
            };
            sc.close();
            return out;
        }"""
    )
    assert out["results"] == [f"m{i}" for i in range(10)]
    assert out["after"] == "after"
    assert "resumed" in out["states"]
    assert "new-session" not in out["states"]
    assert out["sameSession"]
    # Ten replies and one more; duplicate-request refusals of copies may add some, but
    # each seq was processed once (the client drops seq <= lastSeq).
    assert out["seqs"] >= 11


def test_each_resume_keeps_the_new_token_for_the_next_one(live_page: Any) -> None:
    """The gateway replaces the token at every resume; a client that kept the first one
    would get its second resume refused and lose the session."""
    out = live_page.evaluate(
        """async () => {
            const sc = client(200);
            const states = [];
            sc.on('connection', (i) => states.push(i.state));
            await sc.ready();
            const session = sc.session, tokens = [sc._token];
            for (let round = 0; round < 2; round++) {
                const resumed = new Promise((r) => sc.on('connection',
                    (i) => i.state === 'resumed' && r()));
                sc._socket.close();
                await resumed;
                tokens.push(sc._token);
            }
            const after = await echo(sc, 'still the same session');
            sc.close();
            return {states, tokens, same: sc.session === session,
                    after: after.object.content};
        }"""
    )
    assert out["states"].count("resumed") == 2, out["states"]
    assert "new-session" not in out["states"] and out["same"]
    assert len(set(out["tokens"])) == 3  # a new token from each welcome, kept
    assert out["after"] == "still the same session"


def test_refused_resume_starts_a_new_session_and_replays_credentials(live_page: Any) -> None:
    out = live_page.evaluate(
        """async () => {
            const sc = client(200);
            const states = [];
            sc.on('connection', (i) => states.push(i));
            await sc.credentials('dummy', 'me', {password: 'pw'});
            const oldSession = sc.session;
            const sent = [];
            const realSend = WebSocket.prototype.send;
            WebSocket.prototype.send = function (data) {
                sent.push(JSON.parse(data));
                return realSend.call(this, data);
            };
            sc._token = 'not-the-token';  // the gateway will refuse this resume
            sc._socket.close();
            await new Promise((r) => sc.on('connection', (i) => i.state === 'new-session' && r()));
            const again = await echo(sc, 'again');
            WebSocket.prototype.send = realSend;
            sc.close();
            const fresh = states.find((i) => i.state === 'new-session');
            return {newSession: sc.session !== oldSession, resumeError: fresh.resumeError,
                    kinds: sent.map((f) => f.kind === 'request' ? f.activity.type : f.kind),
                    again: again.object.content};
        }"""
    )
    assert out["newSession"]
    assert out["resumeError"]
    assert out["kinds"] == ["hello", "credentials", "echo"]
    assert out["again"] == "again"


# ---- against a scripted socket ------------------------------------------------------------


def test_first_frame_is_hello_and_replies_correlate_by_id(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient();
            const a = echo(sc, 'a'), b = echo(sc, 'b');
            const ws = await nthSocket(1);
            const first = ws.sent[0];
            ws.welcome();
            await until(() => ws.requests().length === 2);
            const [ra, rb] = ws.requests();
            // Answer out of order: each promise must get its own reply.
            ws.push({kind: 'reply', seq: 1, id: rb.id, status: 'completed', result: {n: 'b'}});
            ws.push({kind: 'reply', seq: 2, id: ra.id, status: 'completed', result: {n: 'a'}});
            const out = {first, ids: [ra.id, rb.id], a: await a, b: await b,
                         actor: ra.activity.actor, object: ra.activity.object,
                         context: ra.activity['@context']};
            sc.close();
            return out;
        }"""
    )
    assert out["first"] == {"kind": "hello"}
    assert out["ids"][0] != out["ids"][1]
    assert out["a"] == {"n": "a"} and out["b"] == {"n": "b"}
    assert out["actor"] == {"id": "me", "type": "person"}
    assert out["object"] == {"content": "a"}
    assert out["context"] == DUMMY_CONTEXT


def test_duplicate_sequence_numbers_are_ignored_and_events_dispatched(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient();
            const messages = [], sends = [];
            sc.on('message', (a, meta) => messages.push([a.object.content, meta.seq]));
            sc.on('send', (a) => sends.push(a.object.content));
            const ws = await nthSocket(1);
            ws.welcome();
            const ev = (seq, content) =>
                ws.push({kind: 'event', seq, activity: {type: 'send', object: {content}}});
            ev(1, 'first'); ev(2, 'second'); ev(2, 'second again');
            ev(1, 'first again'); ev(3, 'third');
            sc.close();
            return {messages, sends, lastSeq: sc.lastSeq};
        }"""
    )
    assert out["messages"] == [["first", 1], ["second", 2], ["third", 3]]
    assert out["sends"] == ["first", "second", "third"]
    assert out["lastSeq"] == 3


def test_resume_sends_last_seq_and_refusal_rejects_in_flight_then_replays(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 10}});
            const states = [];
            sc.on('connection', (i) => states.push(i.state));
            let ws = await nthSocket(1);
            ws.welcome();
            const answer = (f, seq) =>
                ws.push({kind: 'reply', seq, id: f.id, status: 'completed', result: {}});
            const room = (id) => ({id, type: 'room'});
            sc.credentials('dummy', 'me', {password: 'pw'});
            sc.connect('dummy', 'me');
            sc.send({platform: 'dummy', type: 'join', actor: 'me', target: room('room1')});
            sc.send({platform: 'dummy', type: 'join', actor: 'me', target: room('room2')});
            sc.send({platform: 'dummy', type: 'leave', actor: 'me', target: room('room2')});
            await until(() => ws.requests().length === 5);
            ws.requests().forEach((f, i) => answer(f, i + 1));
            const lost = echo(sc, 'in flight').then(() => 'resolved', (e) => e.code);
            await until(() => ws.requests().length === 6);

            ws.kill(1006);
            ws = await nthSocket(2);
            const queued = echo(sc, 'queued');
            const hello = ws.sent[0];
            ws.welcome({session: 's2', token: 't2', resumeError: 'session expired'});
            const lostCode = await lost;
            // Replay goes stage by stage: credentials, then connects, then joins, then the queue.
            const stages = [];
            for (let seq = 1; seq <= 4; seq++) {
                await until(() => ws.requests().length === seq);
                const a = ws.requests()[seq - 1].activity;
                const what = a.target ? a.target.id : a.type === 'echo' ? a.object.content : '';
                stages.push(what ? a.type + ':' + what : a.type);
                answer(ws.requests()[seq - 1], seq);
            }
            const queuedResult = await queued;
            sc.close();
            return {hello, lostCode, stages, states, queuedResult,
                    credsObject: ws.requests()[0].activity.object};
        }"""
    )
    assert out["hello"] == {
        "kind": "hello",
        "resume": {"session": "s1", "token": "t1", "lastSeq": 5},
    }
    assert out["lostCode"] == "session-lost"
    assert out["stages"] == ["credentials", "connect", "join:room1", "echo:queued"]
    assert out["credsObject"] == {"type": "credentials", "password": "pw"}
    assert out["states"][:2] == ["connecting", "open"]
    assert "new-session" in out["states"]
    assert out["queuedResult"] == {}


def test_resume_waits_for_the_backlog_then_resends_what_may_have_been_lost(
    fake_page: Any,
) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 10}});
            const errors = [];
            sc.on('error', (e) => errors.push(e.code));
            let ws = await nthSocket(1);
            ws.welcome();
            const a = echo(sc, 'answered while away');
            const b = echo(sc, 'reached the gateway');
            const c = echo(sc, 'lost on the way');
            await until(() => ws.requests().length === 3);
            const [ra, rb, rc] = ws.requests();
            ws.kill(1006);
            ws = await nthSocket(2);
            const d = echo(sc, 'queued while away');
            const hello = ws.sent[0];
            // The gateway answered `a` while we were away (seq 1): the backlog will bring it.
            ws.welcome({resumed: true, lastSeq: 1});
            await new Promise((r) => setTimeout(r, 30));
            const beforeBacklog = ws.requests().length;
            ws.push({kind: 'reply', seq: 1, id: ra.id, status: 'completed', result: {n: 'a'}});
            await until(() => ws.requests().length === 3);
            const resent = ws.requests().map((f) => f.activity.object.content);
            const ids = ws.requests().map((f) => f.id);
            // `b` had reached the gateway: its copy is refused, its real reply follows.
            ws.push({kind: 'reply', seq: 2, id: rb.id, status: 'failed',
                     error: {code: 'duplicate-request', message: 'request id already used'}});
            ws.push({kind: 'reply', seq: 3, id: rb.id, status: 'completed', result: {n: 'b'}});
            ws.push({kind: 'reply', seq: 4, id: rc.id, status: 'completed', result: {n: 'c'}});
            ws.push({kind: 'reply', seq: 5, id: ids[2], status: 'completed', result: {n: 'd'}});
            const results = [await a, await b, await c, await d];
            sc.close();
            return {hello, beforeBacklog, resent, results, errors,
                    sameIds: ids[0] === rb.id && ids[1] === rc.id};
        }"""
    )
    assert out["hello"]["resume"]["lastSeq"] == 0
    assert out["beforeBacklog"] == 0  # nothing is sent before the backlog is in
    # Copies first, in their original order, then what was queued while away.
    assert out["resent"] == ["reached the gateway", "lost on the way", "queued while away"]
    assert out["sameIds"]
    assert out["results"] == [{"n": "a"}, {"n": "b"}, {"n": "c"}, {"n": "d"}]
    assert out["errors"] == []


def test_failed_reply_carries_code_path_details_and_activity(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient();
            const p = echo(sc, {content: 1});
            const ws = await nthSocket(1);
            ws.welcome();
            await until(() => ws.requests().length === 1);
            const f = ws.requests()[0];
            const message = 'object.content: not a string';
            ws.push({kind: 'reply', seq: 1, id: f.id, status: 'failed',
                     error: {code: 'invalid-envelope', message, path: 'object.content',
                             details: [{path: 'object.content', message: 'not a string'}]},
                     activity: Object.assign({}, f.activity, {error: message})});
            try { await p; return null; } catch (e) {
                sc.close();
                return {name: e.name, code: e.code, path: e.path, details: e.details,
                        message: e.message, activityError: e.activity.error};
            }
        }"""
    )
    assert out == {
        "name": "SockethubError",
        "code": "invalid-envelope",
        "path": "object.content",
        "details": [{"path": "object.content", "message": "not a string"}],
        "message": "object.content: not a string",
        "activityError": "object.content: not a string",
    }


def test_failed_reply_says_retryable_condition_and_ref(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient();
            const taken = echo(sc, 'a');
            const broken = echo(sc, 'b');
            const ws = await nthSocket(1);
            ws.welcome();
            await until(() => ws.requests().length === 2);
            const [f1, f2] = ws.requests();
            ws.push({kind: 'reply', seq: 1, id: f1.id, status: 'failed',
                     error: {code: 'refused', message: 'nickname bob is already in use',
                             retryable: false,
                             details: [{condition: 'nick-in-use', platform: 'irc'}]}});
            ws.push({kind: 'reply', seq: 2, id: f2.id, status: 'failed',
                     error: {code: 'internal', retryable: false, ref: '0a1b2c3d',
                             message: 'internal error (ref 0a1b2c3d)'}});
            const got = [];
            for (const p of [taken, broken]) {
                try { await p; got.push(null); } catch (e) {
                    got.push({code: e.code, retryable: e.retryable, condition: e.condition || null,
                              ref: e.ref || null});
                }
            }
            sc.close();
            try { await echo(sc, 'c'); } catch (e) { got.push([e.code, e.retryable]); }
            const slow = fakeClient({requestTimeoutMs: 50});
            const never = echo(slow, 'd');
            (await nthSocket(2)).welcome();
            try { await never; } catch (e) { got.push([e.code, e.retryable]); }
            slow.close();
            return got;
        }"""
    )
    assert out[0] == {
        "code": "refused",
        "retryable": False,
        "condition": "nick-in-use",
        "ref": None,
    }
    assert out[1] == {"code": "internal", "retryable": False, "condition": None, "ref": "0a1b2c3d"}
    assert out[2:] == [["closed", False], ["timeout", True]]  # the client's own codes


def test_queue_overflow_and_client_side_timeout(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({maxQueued: 2, requestTimeoutMs: 150});
            const settle = (p) => p.then(() => 'resolved', (e) => e.code);
            const a = settle(echo(sc, 'a'));
            const b = settle(echo(sc, 'b'));
            const overflow = await settle(echo(sc, 'c'));
            (await nthSocket(1)).welcome();
            // The gateway never answers: the backstop timer rejects both.
            const out = {overflow, a: await a, b: await b};
            sc.close();
            return out;
        }"""
    )
    assert out == {"overflow": "queue-overflow", "a": "timeout", "b": "timeout"}


def test_close_rejects_open_requests_and_stops_reconnecting(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 10}});
            const p = echo(sc, 'a').then(() => 'resolved', (e) => e.code);
            await nthSocket(1);
            sc.close();
            const code = await p;
            await new Promise((r) => setTimeout(r, 100));
            return {code, sockets: FakeSocket.all.length, state: sc.state};
        }"""
    )
    assert out == {"code": "closed", "sockets": 1, "state": "closed"}


def test_session_resumed_elsewhere_is_final(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 10}});
            const errors = [];
            sc.on('error', (e) => errors.push(e.code));
            const ws = await nthSocket(1);
            ws.welcome();
            ws.kill(4001, 'session resumed elsewhere');
            await new Promise((r) => setTimeout(r, 100));
            return {errors, sockets: FakeSocket.all.length, state: sc.state};
        }"""
    )
    assert out == {"errors": ["session-resumed-elsewhere"], "sockets": 1, "state": "closed"}


def test_origin_refusal_is_final(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 10}});
            const errors = [];
            sc.on('error', (e) => errors.push(e.code));
            const ws = await nthSocket(1);
            ws.kill(1008, 'origin not allowed: https://evil.example');
            await new Promise((r) => setTimeout(r, 100));
            return {errors, sockets: FakeSocket.all.length, state: sc.state};
        }"""
    )
    assert out == {"errors": ["origin-not-allowed"], "sockets": 1, "state": "closed"}


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("rate limit exceeded for too long; reconnect later", "rate-limited"),
        ("too many sockets from your address", "too-many-sockets"),
        ("too many new sessions from your address; wait a minute", "too-many-sessions"),
    ],
)
def test_a_limit_close_is_not_final_and_waits_before_reconnecting(
    fake_page: Any, reason: str, code: str
) -> None:
    """1008 is also the close for the rate and per-address limits: those pass, so the
    client says which limit it was and comes back later, instead of stopping for good."""
    out = fake_page.evaluate(
        """async ([reason]) => {
            const sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 400, spreadMs: 0}});
            const errors = [], delays = [];
            sc.on('error', (e) => errors.push(e.code));
            sc.on('connection', (s) => { if (s.willReconnect) delays.push(s.delayMs); });
            const ws = await nthSocket(1);
            ws.welcome();
            const at = Date.now();
            ws.kill(1008, reason);
            await nthSocket(2);
            const waited = Date.now() - at;
            sc.close();
            return {errors, delays, waited};
        }""",
        [reason],
    )
    assert out["errors"] == [code], out
    # Not the minimum backoff: at least half the longest delay (jittered), as for 1001.
    assert out["delays"] and out["delays"][0] >= 200, out
    assert out["waited"] >= 180, out


def test_reconnects_after_a_gateway_restart_are_spread_over_seconds(fake_page: Any) -> None:
    """Default options: twenty tabs told 1001 at once do not all come back at once."""
    out = fake_page.evaluate(
        """async () => {
            const clients = [], delays = [];
            let closedAt = null;
            for (let i = 0; i < 20; i++) {
                const sc = fakeClient();
                sc.on('connection', (s) => {
                    if (s.state === 'connecting' && closedAt !== null) {
                        delays.push(Date.now() - closedAt);
                    }
                });
                clients.push(sc);
                const ws = await nthSocket(i + 1);
                ws.welcome();
            }
            closedAt = Date.now();
            FakeSocket.all.slice(0, 20).forEach((ws) => ws.kill(1001, 'gateway shutting down'));
            await until(() => delays.length === 20, 12000);
            clients.forEach((sc) => sc.close());
            delays.sort((a, b) => a - b);
            return delays;
        }"""
    )
    # Spread over a few seconds (uniform: about 250 ms to 5 s), not a herd within 250 ms.
    assert out[-1] - out[0] >= 1500, out
    assert out[10] >= 700, out  # the median
    assert out[-1] <= 8000, out


def test_backoff_resets_only_after_a_connection_stayed_up(fake_page: Any) -> None:
    """A gateway that welcomes and drops at once is not hammered at the minimum delay."""
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({reconnect: {minDelayMs: 20, maxDelayMs: 5000, stableMs: 400}});
            const delays = [];
            sc.on('connection', (s) => { if (s.state === 'closed') delays.push(s.delayMs); });
            for (let i = 1; i <= 5; i++) {
                const ws = await nthSocket(i);
                ws.welcome();
                ws.kill(1006);
            }
            const ws = await nthSocket(6);
            ws.welcome();
            await new Promise((r) => setTimeout(r, 700));  // up longer than stableMs
            ws.kill(1006);
            await until(() => delays.length === 6);
            sc.close();
            return delays;
        }"""
    )
    flapping, after_stable = out[:5], out[5]
    assert flapping == sorted(flapping) and flapping[4] >= 160, out  # 20, 40, 80, 160, 320
    assert after_stable <= 20, out


# ---- against a stack whose Redis restarts -----------------------------------------------------


@pytest.fixture
def forgetful_stack() -> Any:
    """A stack whose Redis keeps nothing across a restart (an external one without
    persistence): this file's own, since its tests restart it."""
    from ..stack import Stack

    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "20"}, redis_persist=False).start()
    yield s
    s.stop()


def test_redis_that_kept_nothing_restarts_the_client_starts_fresh_and_replays(
    page: Any, forgetful_stack: Any
) -> None:
    page.goto(forgetful_stack.url + "/")
    page.add_script_tag(url="/static/sockethub-client.js")
    page.wait_for_function("typeof window.SockethubClient === 'function'")
    page.add_script_tag(content=LIVE_HELPERS)
    before = page.evaluate(
        """async () => {
            const sc = window.sc = client(200);
            window.states = [];
            sc.on('connection', (i) => states.push(i));
            await sc.credentials('dummy', 'me', {password: 'pw'});
            const greet = await sc.send({platform: 'dummy', type: 'greet', actor: 'me',
                                         object: {type: 'message', content: 'before'}});
            return {session: sc.session, greet: greet.object.content};
        }"""
    )
    assert before["greet"] == "Hello before"
    forgetful_stack.restart_redis()
    out = page.evaluate(
        """async () => {
            const sc = window.sc;
            const fresh = (i) => i.state === 'new-session';
            for (const end = Date.now() + 30000; !states.some(fresh) && Date.now() < end;) {
                await new Promise((r) => setTimeout(r, 50));
            }
            // The page does nothing but send: the client replayed its credentials itself.
            const greet = await sc.send({platform: 'dummy', type: 'greet', actor: 'me',
                                         object: {type: 'message', content: 'after'}});
            const info = states.find(fresh);
            sc.close();
            return {greet: greet.object.content, session: sc.session,
                    resumeError: info.resumeError, closes: states.filter(
                        (i) => i.state === 'closed').map((i) => i.code)};
        }"""
    )
    assert out["resumeError"]["code"] == "session-expired", out
    assert out["session"] != before["session"]
    assert out["greet"] == "Hello after"
    assert 4002 in out["closes"], out  # the gateway said so at once, not after a timeout


def test_not_sent_is_sent_again_once_with_the_same_id(fake_page: Any) -> None:
    """``not-sent``: the gateway that accepted the request stopped before it left; the id
    may be used again, so the client sends it once more by itself."""
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient();
            const ws = await nthSocket(1);
            ws.welcome();
            const notSent = {code: 'not-sent', message: 'the gateway stopped', retryable: true};
            const a = echo(sc, 'once more');
            await until(() => ws.requests().length === 1);
            const first = ws.requests()[0];
            ws.push({kind: 'reply', seq: 1, id: first.id, status: 'failed', error: notSent});
            await until(() => ws.requests().length === 2);
            const again = ws.requests()[1];
            ws.push({kind: 'reply', seq: 2, id: again.id, status: 'completed', result: {n: 1}});
            const result = await a;
            // A second not-sent for the same request is the caller's to handle.
            const b = echo(sc, 'twice');
            await until(() => ws.requests().length === 3);
            const third = ws.requests()[2];
            ws.push({kind: 'reply', seq: 3, id: third.id, status: 'failed', error: notSent});
            await until(() => ws.requests().length === 4);
            ws.push({kind: 'reply', seq: 4, id: third.id, status: 'failed', error: notSent});
            const code = await b.then(() => null, (e) => e.code);
            await new Promise((r) => setTimeout(r, 30));
            const total = ws.requests().length;
            sc.close();
            return {sameId: again.id === first.id, result, code, total};
        }"""
    )
    assert out["sameId"] and out["result"] == {"n": 1}
    assert out["code"] == "not-sent"
    assert out["total"] == 4  # sent again once, not for ever


def test_subscribe_push_sends_a_push_frame_and_resolves_with_its_reply(fake_page: Any) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient();
            const ws = await nthSocket(1);
            ws.welcome({push: {vapidPublicKey: 'K'}});
            await sc.ready();
            const key = sc.vapidPublicKey;
            // what PushSubscription offers: toJSON()
            const sub = {toJSON: () => ({endpoint: 'https://push.example/x',
                                         keys: {p256dh: 'P', auth: 'A'}})};
            const done = sc.subscribePush(sub);
            await until(() => ws.sent.some((f) => f.kind === 'push'));
            const frame = ws.sent.find((f) => f.kind === 'push');
            ws.push({kind: 'reply', seq: 1, id: frame.id, status: 'completed',
                     result: {type: 'push', subscriptions: 1}});
            const result = await done;
            const gone = sc.unsubscribePush('https://push.example/x');
            await until(() => ws.sent.filter((f) => f.kind === 'push').length === 2);
            const second = ws.sent.filter((f) => f.kind === 'push')[1];
            ws.push({kind: 'reply', seq: 2, id: second.id, status: 'failed',
                     error: {code: 'refused', message: 'push is off', retryable: false}});
            let code = null;
            try { await gone; } catch (e) { code = e.code; }
            sc.close();
            return {key, frame, result, second, code};
        }"""
    )
    assert out["key"] == "K"
    assert out["frame"]["subscription"] == {
        "endpoint": "https://push.example/x",
        "keys": {"p256dh": "P", "auth": "A"},
    }
    assert out["result"] == {"type": "push", "subscriptions": 1}
    assert out["second"]["remove"] == "https://push.example/x"
    assert out["code"] == "refused"
