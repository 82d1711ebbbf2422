"""The one command: ``sockethub`` starts everything, serves an echo, stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from ..stack import ROOT, free_port, wait_port
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration


def test_sockethub_runs_everything_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SOCKETHUB_SECRET")}
    env.update(SOCKETHUB_PORT=str(port), SOCKETHUB_PLATFORMS="dummy", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "sockethub.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, proc, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            health = json.loads(resp.read())
        assert health["redis"]["ok"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert b"Sockethub" in resp.read()
        c = Client(f"ws://127.0.0.1:{port}/sockethub")
        reply = c.request(
            activity("dummy", "echo", object={"type": "message", "content": "1"}), timeout=30
        )
        assert reply["status"] == "completed"
        c.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "sockethub.log").read_text()
    assert "started private Redis" in output and "stopped" in output
    # nothing it started is left behind
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True)
    assert leftovers.stdout == b"", leftovers.stdout
    import re
    import socket

    redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)", output).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
