"""``SOCKETHUB_LOG_FORMAT=json``: the gateway's and a worker's log lines are JSON objects,
and those logged while a request is handled carry its session and request ids."""

from __future__ import annotations

import json
import re
import time

import pytest

from ..stack import Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

TEXT_LINE = re.compile(r"^\[?\d{4}-\d\d-\d\d[ T]\d\d:")  # the text format's timestamp first


def _lines(stack: Stack, name: str) -> list[dict]:
    out = []
    for line in stack.log(name).splitlines():
        assert not TEXT_LINE.match(line), f"{name}: a text log line: {line}"
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _until(stack: Stack, name: str, pred, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        lines = _lines(stack, name)
        if any(pred(one) for one in lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"no such line in {name}: {lines[-20:]}")
        time.sleep(0.1)


def test_gateway_and_worker_log_json_lines_with_the_session_and_request_ids():
    s = Stack(
        platforms=("dummy",),
        env_overrides={"SOCKETHUB_LOG_FORMAT": "json", "SOCKETHUB_LOG_LEVEL": "DEBUG"},
    ).start()
    try:
        c = Client(s.ws_url)
        sid = c.welcome["session"]
        rid = c.send(activity("dummy", "throw"))  # the worker logs the connector's raise
        assert c.reply(rid, 20)["status"] == "failed"

        def mine(line: dict) -> bool:
            return line.get("session") == sid and line.get("request") == rid

        worker = _until(s, "worker-dummy", lambda ln: mine(ln) and ln["level"] == "ERROR")
        gateway = _until(s, "web0", lambda ln: mine(ln) and "queued" in ln["message"])
        for lines in (worker, gateway):
            assert all({"time", "level", "logger", "message"} <= set(ln) for ln in lines)
        assert any(" ready." in ln["message"] for ln in worker)  # Celery's own, JSON too
        assert any(ln["logger"].startswith("gunicorn") for ln in gateway)
        c.close()
    finally:
        s.stop()
