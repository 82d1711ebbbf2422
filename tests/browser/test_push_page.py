"""The chat pages' "notify me" in headless Chromium: the button shows when the gateway has
Web Push on, and the service worker turns a push payload into a notification.

Chromium's own push service (FCM) is not reachable here, so the push is delivered to the
service worker through the DevTools protocol (``ServiceWorker.deliverPushMessage``), with
the payload the worker sends (tests/integration/test_push.py checks that payload end to
end through a push-service stand-in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from connectors.net.webpush import new_vapid_pair

from ..stack import Stack
from .conftest import watched_page

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def push_stack() -> Iterator[Stack]:
    private, _public = new_vapid_pair()
    s = Stack(platforms=("dummy",), env_overrides={"SOCKETHUB_VAPID_PRIVATE_KEY": private})
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("name", ["irc", "xmpp"])
def test_notify_me_shows_and_the_service_worker_shows_the_push(
    browser: Any, push_stack: Stack, name: str
) -> None:
    with watched_page(browser, permissions=["notifications"]) as page:
        page.goto(f"{push_stack.url}/static/{name}.html")
        expect(page.locator("#notify")).to_be_visible()
        expect(page.locator("#notify")).to_have_text("notify me")
        scope = page.evaluate(
            """async (name) => {
                const reg = await navigator.serviceWorker.register(
                    `/static/push-sw.js?page=/static/${name}.html`, {scope: '/static/'});
                await navigator.serviceWorker.ready;
                return reg.scope;
            }""",
            name,
        )
        cdp = page.context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda e: registrations.extend(e["registrations"]),
        )
        cdp.send("ServiceWorker.enable")
        page.wait_for_function("() => navigator.serviceWorker.controller !== undefined")
        regs = [r for r in registrations if r["scopeURL"] == scope]
        assert regs, registrations
        payload = {
            "sender": {"id": "ann@irc.example", "name": "ann"},
            "conversation": {"id": "#lobby@irc.example", "type": "room", "name": "#lobby"},
            "preview": "webby: lunch?",
        }
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": push_stack.url,
                "registrationId": regs[0]["registrationId"],
                "data": json.dumps(payload),
            },
        )
        shown = page.wait_for_function(
            """async () => {
                const reg = await navigator.serviceWorker.getRegistration('/static/');
                const list = await reg.getNotifications();
                return list.length ? {title: list[0].title, body: list[0].body,
                                      tag: list[0].tag} : null;
            }"""
        ).json_value()
        assert shown == {
            "title": "ann in #lobby",
            "body": "webby: lunch?",
            "tag": "#lobby@irc.example",
        }
