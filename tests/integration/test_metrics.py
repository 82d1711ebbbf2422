"""/metrics counts what the gateway did, in Prometheus' text format."""

from __future__ import annotations

import urllib.request

import pytest

from ..wsclient import Client, activity

pytestmark = pytest.mark.integration


def scrape(stack) -> dict[str, float]:
    with urllib.request.urlopen(stack.url + "/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_count_requests_refusals_and_sessions(stack):
    before = scrape(stack)
    c = Client(stack.ws_url)
    c.request(activity("dummy", "echo", object={"type": "message", "content": "x"}))
    c.request(activity("dummy", "dance"))
    after = scrape(stack)
    key = 'sockethub_requests_total{platform="dummy",verb="echo"}'
    assert after[key] == before.get(key, 0) + 1
    refused = 'sockethub_refusals_total{code="unknown-verb"}'
    assert after[refused] == before.get(refused, 0) + 1
    started = "sockethub_sessions_started_total"
    assert after[started] >= before.get(started, 0) + 1
    assert after["sockethub_up"] == 1
    assert after['sockethub_queue_depth{platform="dummy"}'] >= 0
    assert after["sockethub_sessions"] >= 1
    c.close()
