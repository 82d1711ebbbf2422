"""The dummy example page, clicked through in headless Chromium against the whole stack."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def reply(page: Any, verb: str) -> Any:
    return page.locator(f'#log li[data-kind="reply"][data-verb="{verb}"]')


@pytest.fixture
def dummy(page: Any, stack: Any) -> Any:
    page.goto(stack.url + "/dummy.html")
    expect(page.locator("#state")).to_have_attribute("data-state", "open")
    return page


def test_echo_comes_back_completed_and_fail_comes_back_failed(dummy: Any) -> None:
    dummy.fill("#actor", "alice")
    dummy.fill("#content", "ping from playwright")
    dummy.click("#echo")
    echoed = reply(dummy, "echo")
    expect(echoed).to_have_count(1)
    expect(echoed).to_have_attribute("data-status", "completed")
    expect(echoed).to_have_class(re.compile(r"\bcompleted\b"))
    expect(echoed.locator(".text")).to_have_text("ping from playwright")

    dummy.fill("#content", "this fails on purpose")
    dummy.click("#fail")
    failed = reply(dummy, "fail")
    expect(failed).to_have_count(1)
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed).to_have_attribute("data-code", "refused")
    expect(failed).to_have_attribute("data-condition", "failed")
    expect(failed).to_have_attribute("data-retryable", "false")
    expect(failed).to_have_class(re.compile(r"\bfailed\b"))
    expect(failed.locator(".text")).to_contain_text("this fails on purpose")
    expect(failed.locator(".tag")).to_contain_text("[refused / failed]")


def test_greet_and_throw(dummy: Any) -> None:
    dummy.fill("#content", "world")
    dummy.click("#greet")
    expect(reply(dummy, "greet").locator(".text")).to_have_text("Hello world")
    expect(reply(dummy, "greet")).to_have_attribute("data-status", "completed")

    dummy.fill("#content", "boom")
    dummy.click("#throw")
    thrown = reply(dummy, "throw")
    expect(thrown).to_have_attribute("data-status", "failed")
    # The connector raised something unexpected: the worker answers, it does not crash.
    expect(thrown).to_have_attribute("data-code", "internal")
    # ...and tells the page only a reference to its log, never the exception's text.
    expect(thrown.locator(".text")).to_contain_text("internal error (ref ")
    expect(thrown.locator(".text")).not_to_contain_text("boom")
    expect(thrown.locator(".text")).not_to_contain_text("RuntimeError")


def test_content_from_the_network_is_shown_as_text(dummy: Any) -> None:
    markup = '<img src="x" onerror="window.__injected = 1">'
    dummy.fill("#content", markup)
    dummy.click("#echo")
    expect(reply(dummy, "echo").locator(".text")).to_have_text(markup)
    assert dummy.evaluate("window.__injected") is None
    assert dummy.locator("#log img").count() == 0


def test_the_landing_page_links_the_dummy_page(page: Any, stack: Any) -> None:
    page.goto(stack.url + "/")
    page.click('a[href="/dummy.html"]')
    expect(page.locator("#state")).to_have_attribute("data-state", "open")


def test_a_reload_keeps_the_log(dummy: Any) -> None:
    dummy.fill("#content", "before the reload")
    dummy.click("#echo")
    expect(reply(dummy, "echo")).to_have_count(1)
    dummy.click("#fail")
    expect(reply(dummy, "fail")).to_have_count(1)
    dummy.reload()
    # The session resumed, and its replayed replies rebuilt the log.
    expect(dummy.locator("#state")).to_have_attribute("data-state", "resumed")
    expect(reply(dummy, "echo").locator(".text")).to_have_text("before the reload")
    expect(reply(dummy, "fail")).to_have_attribute("data-code", "refused")
    expect(reply(dummy, "fail")).to_have_attribute("data-condition", "failed")
    dummy.fill("#content", "after the reload")
    dummy.click("#echo")
    expect(reply(dummy, "echo")).to_have_count(2)
