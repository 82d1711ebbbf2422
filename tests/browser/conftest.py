"""Headless Chromium (Debian's, driven by Playwright) for the browser tests.

Never run ``playwright install``: it downloads a browser of its own. These tests use the
system Chromium at /usr/bin/chromium (``apt-get install chromium``). Without it they skip,
except under CI (``CI`` set), where a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..servers.common import missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CLIENT_JS = Path(__file__).resolve().parents[2] / "gateway" / "static" / "sockethub-client.js"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing("chromium", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; an uncaught error in it fails the test."""
    with watched_page(browser) as page:
        yield page


@contextlib.contextmanager
def watched_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A fresh page in a context of its own (``timezone_id``, ``locale``, ...); an uncaught
    error in it fails the test."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    console: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}\nconsole: {console}"


@pytest.fixture
def client_page(page: Any) -> Any:
    """A blank page with the client loaded as a classic script, talking to no server."""
    page.goto("about:blank")
    page.add_script_tag(content=CLIENT_JS.read_text(encoding="utf-8"))
    return page


# A WebSocket the test scripts: it records what the client sends and lets the test push
# frames and closes, so situations a healthy gateway does not produce on demand can be
# played exactly (a refused resume, a gateway that never answers, a duplicated seq).
FAKE_SOCKET_JS = """
(() => {
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      FakeSocket.all.push(this);
      setTimeout(() => {
        if (this.readyState !== 0) return;
        this.readyState = 1;
        if (this.onopen) this.onopen({});
      }, 0);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('not open');
      this.sent.push(JSON.parse(data));
    }
    close(code, reason) { this.kill(code || 1000, reason || ''); }
    kill(code = 1006, reason = '') {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.onclose && this.onclose({code, reason}), 0);
    }
    push(frame) { if (this.onmessage) this.onmessage({data: JSON.stringify(frame)}); }
    welcome(extra = {}) {
      this.push(Object.assign({
        kind: 'welcome', session: 's1', token: 't1', resumed: false, lastSeq: 0,
        platforms: [{name: 'dummy', verbs: ['echo'], persistent: false,
                     contextUrl: 'https://sockethub.org/ns/context/platform/dummy/v1.jsonld'}],
        limits: {maxFrameBytes: 65536, requestTimeout: 30, rateLimit: 1000, rateBurst: 1000,
                 resumeGrace: 60},
        version: 'test',
      }, extra));
    }
    requests() { return this.sent.filter((f) => f.kind === 'request'); }
  }
  FakeSocket.all = [];
  FakeSocket.last = () => FakeSocket.all[FakeSocket.all.length - 1];
  window.FakeSocket = FakeSocket;
  // Resolves once cond() holds; polls, since the client works on timers and microtasks.
  window.until = async (cond, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out: ' + cond);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  // A client on a FakeSocket, and a helper that sends a dummy echo through it.
  window.fakeClient = (options = {}) => new SockethubClient('ws://gateway.test/sockethub',
    Object.assign({WebSocket: FakeSocket}, options));
  window.echo = (sc, content) =>
    sc.send({platform: 'dummy', type: 'echo', actor: 'me', object: content});
  // Waits until the client has opened its n-th socket and said hello on it.
  window.nthSocket = async (n) => {
    await until(() => FakeSocket.all.length === n && FakeSocket.all[n - 1].sent.length === 1);
    return FakeSocket.all[n - 1];
  };
})();
"""


@pytest.fixture
def fake_page(client_page: Any) -> Any:
    """A blank page with the client and a scripted WebSocket (``FakeSocket``)."""
    client_page.add_script_tag(content=FAKE_SOCKET_JS)
    return client_page
