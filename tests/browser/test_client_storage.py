"""The JS client's resume state across a page reload, with the scripted socket.

The page is served from a real origin (``http://app.test``, answered by Playwright's
router), so ``sessionStorage`` and ``localStorage`` are the browser's own and a
``page.reload()`` is a real reload: the client's memory is gone, its storage is not.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import CLIENT_JS, FAKE_SOCKET_JS

pytestmark = pytest.mark.browser

APP = "http://app.test"
GATEWAY = "ws://gateway.test/sockethub"
KEY = "sockethub-client:" + GATEWAY
PAGE = """<!doctype html><title>app</title>
<script src="/client.js"></script><script src="/fake.js"></script>"""


@pytest.fixture
def app_page(page: Any) -> Any:
    """A page of http://app.test with the client and the scripted socket loaded."""
    bodies = {
        "/": ("text/html", PAGE),
        "/client.js": ("text/javascript", CLIENT_JS.read_text(encoding="utf-8")),
        "/fake.js": ("text/javascript", FAKE_SOCKET_JS),
    }

    def serve(route: Any) -> None:
        path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
        kind, body = bodies.get(path, ("text/plain", ""))
        route.fulfill(status=200 if path in bodies else 404, content_type=kind, body=body)

    page.route(APP + "/**", serve)
    page.goto(APP + "/")
    page.wait_for_function("typeof window.fakeClient === 'function'")
    return page


def reload(page: Any) -> None:
    page.reload()
    page.wait_for_function("typeof window.fakeClient === 'function'")


def stored(page: Any, kind: str = "sessionStorage") -> Any:
    return page.evaluate(f"() => JSON.parse({kind}.getItem({KEY!r}))")


def first_hello(page: Any, options: str = "{}") -> Any:
    """A new client's first hello (its socket is left open, unanswered)."""
    return page.evaluate(
        f"""async () => {{
            window.sc = fakeClient({options});
            const ws = await nthSocket(1);
            return ws.sent[0];
        }}"""
    )


def test_the_session_is_kept_in_session_storage_and_resumed_after_a_reload(
    app_page: Any,
) -> None:
    app_page.evaluate(
        """async () => {
            window.sc = fakeClient();
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-one-0000000001', token: 'tok-1'});
            await sc.ready();
            ws.push({kind: 'event', seq: 1, activity: {type: 'send', object: {content: 'x'}}});
        }"""
    )
    assert stored(app_page) == {"session": "sess-one-0000000001", "token": "tok-1"}
    assert stored(app_page, "localStorage") is None  # the default never outlives the tab

    reload(app_page)
    hello = first_hello(app_page)
    # A reloaded page has no events in memory: it asks for the whole buffered stream.
    assert hello == {
        "kind": "hello",
        "resume": {"session": "sess-one-0000000001", "token": "tok-1", "lastSeq": 0},
    }


def test_a_token_rotated_on_resume_is_stored(app_page: Any) -> None:
    out = app_page.evaluate(
        """async () => {
            window.sc = fakeClient({reconnect: {minDelayMs: 10, maxDelayMs: 10}});
            let ws = await nthSocket(1);
            ws.welcome({session: 'sess-two-0000000002', token: 'tok-a'});
            await sc.ready();
            ws.kill(1006);
            ws = await nthSocket(2);
            const hello = ws.sent[0];
            ws.welcome({session: 'sess-two-0000000002', token: 'tok-b', resumed: true});
            await sc.ready();
            return hello;
        }"""
    )
    assert out["resume"]["token"] == "tok-a"
    assert stored(app_page) == {"session": "sess-two-0000000002", "token": "tok-b"}
    reload(app_page)
    assert first_hello(app_page)["resume"]["token"] == "tok-b"


def test_the_storage_option_local_or_none(app_page: Any) -> None:
    app_page.evaluate(
        """async () => {
            window.sc = fakeClient({storage: 'local'});
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-local-00000003', token: 'tok-l'});
            await sc.ready();
        }"""
    )
    assert stored(app_page, "localStorage") == {"session": "sess-local-00000003", "token": "tok-l"}
    assert stored(app_page) is None
    reload(app_page)
    assert first_hello(app_page, "{storage: 'local'}")["resume"]["session"] == (
        "sess-local-00000003"
    )

    app_page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    reload(app_page)
    app_page.evaluate(
        """async () => {
            window.sc = fakeClient({storage: 'none'});
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-none-000000004', token: 'tok-n'});
            await sc.ready();
        }"""
    )
    assert app_page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    reload(app_page)
    assert first_hello(app_page, "{storage: 'none'}") == {"kind": "hello"}


def test_two_gateways_and_two_clients_of_one_page_do_not_mix(app_page: Any) -> None:
    out = app_page.evaluate(
        """async () => {
            const a = new SockethubClient('ws://one.test/sockethub', {WebSocket: FakeSocket});
            let ws = await nthSocket(1);
            ws.welcome({session: 'sess-gw-one-0000005', token: 'tok-one'});
            const b = new SockethubClient('ws://two.test/sockethub', {WebSocket: FakeSocket});
            ws = await nthSocket(2);
            ws.welcome({session: 'sess-gw-two-0000006', token: 'tok-two'});
            // A second client of the same gateway in the same page would take the first
            // one's session over (and close its socket with 4001): it keeps nothing.
            const c = new SockethubClient('ws://one.test/sockethub', {WebSocket: FakeSocket});
            ws = await nthSocket(3);
            const hello = ws.sent[0];
            ws.welcome({session: 'sess-gw-one-other07', token: 'tok-other'});
            await c.ready();
            return {hello, one: JSON.parse(sessionStorage.getItem('sockethub-client:ws://one.test/sockethub')),
                    two: JSON.parse(sessionStorage.getItem('sockethub-client:ws://two.test/sockethub'))};
        }"""
    )
    assert out["hello"] == {"kind": "hello"}
    assert out["one"]["session"] == "sess-gw-one-0000005"
    assert out["two"]["session"] == "sess-gw-two-0000006"


def test_after_a_reload_replayed_replies_are_events_and_the_page_can_rebuild(
    app_page: Any,
) -> None:
    app_page.evaluate(
        """async () => {
            window.sc = fakeClient();
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-replay-0000008', token: 'tok-r'});
            await sc.ready();
            echo(sc, 'in flight at the reload');
            await until(() => ws.requests().length === 1);
        }"""
    )
    old_id = app_page.evaluate("() => FakeSocket.last().requests()[0].id")
    reload(app_page)
    out = app_page.evaluate(
        """async (oldId) => {
            window.sc = fakeClient();
            const seen = {states: [], replies: [], messages: [], errors: []};
            sc.on('connection', (i) => seen.states.push(i));
            sc.on('reply', (f, meta) => seen.replies.push([f.id, f.status, meta]));
            sc.on('message', (a, meta) => seen.messages.push([a.object.content, meta]));
            sc.on('error', (e) => seen.errors.push(e.code));
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-replay-0000008', token: 'tok-r2', resumed: true,
                        lastSeq: 3});
            ws.push({kind: 'event', seq: 1, activity: {type: 'send', object: {content: 'before'}}});
            ws.push({kind: 'reply', seq: 2, id: 'older.1', status: 'failed',
                     error: {code: 'refused', message: 'an old failure'}});
            ws.push({kind: 'reply', seq: 3, id: oldId, status: 'completed',
                     result: {type: 'echo', object: {content: 'in flight at the reload'}}});
            await sc.ready();
            ws.push({kind: 'event', seq: 4, activity: {type: 'send', object: {content: 'live'}}});
            const n = echo(sc, 'new');
            await until(() => ws.requests().length === 1);
            ws.push({kind: 'reply', seq: 5, id: ws.requests()[0].id, status: 'completed',
                     result: {n: 1}});
            seen.result = await n;
            return seen;
        }""",
        old_id,
    )
    resumed = [s for s in out["states"] if s["state"] == "resumed"]
    assert resumed and resumed[0]["restored"] is True
    assert out["messages"] == [
        ["before", {"seq": 1, "replayed": True}],
        ["live", {"seq": 4, "replayed": False}],
    ]
    # Replies of the page before the reload: no promise waits for them; they are events,
    # and a failed one of them is not an error of this page.
    assert out["replies"] == [
        ["older.1", "failed", {"seq": 2, "replayed": True}],
        [old_id, "completed", {"seq": 3, "replayed": True}],
    ]
    assert out["errors"] == []
    assert out["result"] == {"n": 1}  # its own reply settles its promise, not a 'reply' event


def test_a_stored_session_that_expired_starts_a_new_one_and_stores_it(app_page: Any) -> None:
    app_page.evaluate(
        "() => sessionStorage.setItem("
        f"{KEY!r}, JSON.stringify({{session: 'sess-gone-000000009', token: 'tok-g'}}))"
    )
    out = app_page.evaluate(
        """async () => {
            window.sc = fakeClient();
            const states = [];
            sc.on('connection', (i) => states.push(i));
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-fresh-00000010', token: 'tok-f', resumed: false,
                        resumeError: {code: 'session-expired', message: 'gone'}});
            await sc.ready();
            return states.filter((s) => s.state !== 'connecting');
        }"""
    )
    assert out[0]["state"] == "new-session"
    assert out[0]["restored"] is True
    assert out[0]["previousSession"] == "sess-gone-000000009"
    assert stored(app_page) == {"session": "sess-fresh-00000010", "token": "tok-f"}


def test_close_forgets_the_stored_session(app_page: Any) -> None:
    app_page.evaluate(
        """async () => {
            window.sc = fakeClient();
            const ws = await nthSocket(1);
            ws.welcome({session: 'sess-closed-0000011', token: 'tok-c'});
            await sc.ready();
            sc.close();
        }"""
    )
    assert stored(app_page) is None


def test_a_late_reply_to_this_page_is_a_reply_event_and_a_late_failure_an_error(
    fake_page: Any,
) -> None:
    out = fake_page.evaluate(
        """async () => {
            const sc = fakeClient({requestTimeoutMs: 50});
            const seen = {replies: [], errors: []};
            sc.on('reply', (f, meta) => seen.replies.push([f.status, meta.replayed]));
            sc.on('error', (e) => seen.errors.push(e.code));
            const ws = await nthSocket(1);
            ws.welcome();
            const late = echo(sc, 'slow').catch((e) => e.code);
            await until(() => ws.requests().length === 1);
            seen.first = await late;
            ws.push({kind: 'reply', seq: 1, id: ws.requests()[0].id, status: 'failed',
                     error: {code: 'refused', message: 'too late'}});
            sc.close();
            return seen;
        }"""
    )
    assert out["first"] == "timeout"
    assert out["replies"] == [["failed", False]]
    assert out["errors"] == ["refused"]  # a failure of this page's own request: as before
