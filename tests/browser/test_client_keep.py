"""The JS client's ``keep`` option, ``setKeep`` and ``end`` in headless Chromium, against
the real stack (gateway, worker, Redis)."""

from __future__ import annotations

from typing import Any

import pytest

from envelopes import keys

pytestmark = pytest.mark.browser


@pytest.fixture
def live_page(page: Any, stack: Any) -> Any:
    page.goto(stack.url + "/")
    page.add_script_tag(url="/static/sockethub-client.js")
    page.wait_for_function("typeof window.SockethubClient === 'function'")
    return page


def test_keep_is_asked_changed_by_a_resume_and_end_ends_the_session(
    live_page: Any, stack: Any
) -> None:
    out = live_page.evaluate(
        """async () => {
            const sc = new SockethubClient(undefined, {keep: 300});
            const first = await sc.ready();
            const session = sc.session;
            const stopped = await sc.setKeep(false);
            const again = await sc.setKeep(true);
            const echo = await sc.send({platform: 'dummy', type: 'echo', actor: 'me',
                                        object: {type: 'message', content: 'still here'}});
            const stored = Object.keys(sessionStorage).length;
            const info = {session: sc.session, token: sc._token};
            const pending = sc.send({platform: 'dummy', type: 'echo', actor: 'me',
                                     object: {type: 'message', content: 'x'}})
                .then(() => 'answered', (e) => e.code);
            await sc.end();
            return {first: {keep: first.keep, keepUntil: first.keepUntil},
                    stopped: {resumed: stopped.resumed, keep: stopped.keep || null},
                    again: {resumed: again.resumed, keep: again.keep,
                            max: again.limits.keepMax},
                    same: sc.session === session, echo: echo.object.content, stored,
                    storedAfter: Object.keys(sessionStorage).length, state: sc.state,
                    pending: await pending, info};
        }"""
    )
    assert out["first"]["keep"] == 300 and out["first"]["keepUntil"].endswith("Z")
    assert out["stopped"] == {"resumed": True, "keep": None}
    assert out["again"] == {"resumed": True, "keep": 604800, "max": 604800}
    assert out["same"] and out["echo"] == "still here"
    assert out["stored"] == 1 and out["storedAfter"] == 0 and out["state"] == "closed"
    assert out["pending"] in ("answered", "ended")
    sid = out["info"]["session"]
    assert not stack.redis().exists(keys.session(sid), keys.session_creds(sid))
    assert stack.redis().zscore(keys.kept(), sid) is None
