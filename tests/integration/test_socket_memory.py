"""What one browser socket costs a gateway process (issue: the README's figures are true).

Browsers offer permessage-deflate on every WebSocket; with the library's defaults (context
takeover, 15-bit windows) each socket kept its own zlib compressor, about 256 KiB once the
first frame went out. These tests use a client that negotiates as a browser does.
"""

from __future__ import annotations

import json
import time

import psutil
import pytest

from ..browserws import BrowserWS
from ..wsclient import activity

pytestmark = pytest.mark.integration

SOCKETS = 100


def gateway_rss_kib(stack, name: str) -> int:
    """Resident memory of the gunicorn worker (the process holding the sockets)."""
    master = psutil.Process(stack.procs[name].pid)
    worker = master.children()[0]
    return int(worker.memory_info().rss // 1024)


def echo(ws: BrowserWS, rid: str, content: str = "ping") -> dict:
    act = activity("dummy", "echo", object={"type": "message", "content": content})
    ws.send(json.dumps({"kind": "request", "id": rid, "activity": act}))
    while True:
        frame = json.loads(ws.recv())
        if frame.get("id") == rid and frame.get("status") != "accepted":
            return frame


def opened(url: str, deflate: bool = True) -> BrowserWS:
    ws = BrowserWS(url, timeout=20, deflate=deflate)
    ws.send('{"kind":"hello"}')
    assert json.loads(ws.recv())["kind"] == "welcome"
    return ws


def test_deflate_is_negotiated_without_context_takeover(stack):
    ws = opened(stack.ws_url)
    try:
        (ext,) = ws.extensions
        assert "server_no_context_takeover" in ext and "client_no_context_takeover" in ext, ext
        big = "x" * 30_000  # compresses well: the reply still arrives whole and readable
        for i in range(3):
            assert echo(ws, f"d{i}", big)["result"]["object"]["content"] == big
    finally:
        ws.close()


def test_deflate_can_be_turned_off(stack):
    port = stack.start_gateway(SOCKETHUB_WS_DEFLATE="false")
    ws = opened(f"ws://127.0.0.1:{port}/sockethub")
    try:
        assert ws.extensions == []
        assert echo(ws, "p1")["status"] == "completed"
    finally:
        ws.close()


def test_busy_browser_sockets_hold_no_compressor_each(stack):
    port = stack.start_gateway()
    name = f"web{len(stack.gateways) - 1}"
    url = f"ws://127.0.0.1:{port}/sockethub"
    warm = opened(url)  # the worker imports the app at its first request: not a socket's cost
    assert echo(warm, "warm")["status"] == "completed"
    warm.close()
    time.sleep(1)
    before = gateway_rss_kib(stack, name)
    sockets = [opened(url) for _ in range(SOCKETS)]
    try:
        for r in range(3):
            for i, ws in enumerate(sockets):
                assert echo(ws, f"m{r}-{i}", "ping " * 40)["status"] == "completed"
        time.sleep(1)
        per_socket = (gateway_rss_kib(stack, name) - before) / SOCKETS
    finally:
        for ws in sockets:
            ws.close()
    # A compressor per socket alone is ~256 KiB; without one a busy socket costs well
    # under 120 KiB here (bench/sockets.py measures it at scale).
    assert per_socket < 120, f"{per_socket:.0f} KiB per busy socket"
