"""The proxy examples in deploy/ keep /metrics and /healthz private.

Where nginx or Caddy is installed, the example itself runs (ports, certificate and upstream
rewritten for the test) in front of a stub gateway that answers every path, so a path the
proxy passes on is seen there. Requests from 127.0.0.2 stand for the public: the whole of
127.0.0.0/8 is loopback on Linux, but only 127.0.0.1 and ::1 are allowed.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.common import missing
from tests.servers.stubgateway import stub_gateways
from tests.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx" / "sockethub.conf"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
HOST = "sockethub.example.org"


def _block(text: str, opening: str) -> str:
    """The body of the ``{...}`` block whose opening line matches ``opening``."""
    match = re.search(opening + r"\s*\{", text)
    assert match, f"no block {opening!r}"
    depth, start = 1, match.end()
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise AssertionError(f"block {opening!r} not closed")


def test_nginx_example_does_not_proxy_metrics_and_keeps_health_local():
    conf = NGINX_CONF.read_text()
    metrics = _block(conf, r"location \^~ /metrics")
    assert "return 404;" in metrics and "proxy_pass" not in metrics
    health = _block(conf, r"location = /healthz")
    assert re.findall(r"(allow|deny) ([^;]+);", health) == [
        ("allow", "127.0.0.1"),
        ("allow", "::1"),
        ("deny", "all"),
    ]


def test_caddy_example_does_not_proxy_metrics_and_keeps_health_local():
    conf = CADDYFILE.read_text()
    assert re.search(r"@metrics path /metrics /metrics/\*\n\s*respond @metrics 404", conf)
    assert re.search(r"not remote_ip 127\.0\.0\.1 ::1\s*\}\s*respond @health_public 404", conf)


# -- the real proxies, where installed ------------------------------------------------------


class _Seen(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).seen.append(self.path)
        body = f"gateway saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def stub_gateway() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []
    handler = type("Seen", (_Seen,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def _get(port: int, path: str, *, source: str = "127.0.0.1", tls: bool = False) -> int:
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=10, source_address=(source, 0), context=ctx
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Host": HOST})
        return conn.getresponse().status
    finally:
        conn.close()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"proxy exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"proxy not listening: {log.read_text()[-2000:]}")


def _check_paths(port: int, seen: list[str], *, tls: bool) -> None:
    assert _get(port, "/", tls=tls) == 200 and "/" in seen  # (Caddy's health checks too)
    for path in ("/metrics", "/metrics/", "/metrics?x=1", "//metrics"):
        assert _get(port, path, tls=tls) == 404, path
        assert _get(port, path, tls=tls, source="127.0.0.2") == 404, path
    assert all(not p.startswith(("/metrics", "//metrics")) for p in seen), seen
    assert _get(port, "/healthz", tls=tls) == 200
    assert _get(port, "/healthz", tls=tls, source="127.0.0.2") in (403, 404)
    assert "/healthz" in seen


@contextlib.contextmanager
def _running(
    argv: list[str], log: Path, port: int, env: dict[str, str] | None = None
) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_port(port, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def _nginx(tmp_path: Path, gateways: list[int]) -> Iterator[int]:
    """The example running (``nginx -t`` first) in front of ``gateways``; its HTTPS port."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        missing("nginx", "apt-get install nginx-light")
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    http_port, https_port = free_port(), free_port()
    conf = NGINX_CONF.read_text()
    # Each upstream block lists the test's gateways instead of 10551 and 10552.
    servers = "\n    ".join(f"server 127.0.0.1:{port};" for port in gateways)
    conf, n = re.subn(
        r"server 127\.0\.0\.1:10551 [^;]*;\n\s*server 127\.0\.0\.1:10552 [^;]*;", servers, conf
    )
    assert n == 2, "both upstream blocks list the gateways"
    conf = re.sub(r"listen \[::\]:\d+[^;]*;\n", "", conf)
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    conf = conf.replace(f"/etc/letsencrypt/live/{HOST}/fullchain.pem", str(crt))
    conf = conf.replace(f"/etc/letsencrypt/live/{HOST}/privkey.pem", str(key))
    (tmp_path / "sockethub.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + "worker_processes 1;\nevents {}\nhttp {\n"
        + f"  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        + f"  proxy_temp_path {tmp_path}/proxy;\n"
        + f"  include {tmp_path}/sockethub.conf;\n}}\n"
    )
    argv = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    test = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    with _running([*argv, "-g", "daemon off;"], tmp_path / "console.log", https_port):
        yield https_port


def test_nginx_example_in_front_of_a_gateway(tmp_path: Path, stub_gateway):
    gateway, seen = stub_gateway
    with _nginx(tmp_path, [gateway]) as port:
        _check_paths(port, seen, tls=True)


def _fetch(port: int, path: str, source: str, method: str = "GET") -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0), context=ctx
    )
    try:
        conn.request(method, path, body=b"40" if method == "POST" else None, headers={"Host": HOST})
        answer = conn.getresponse()
        assert answer.status == 200, (path, answer.status)
        return answer.read().decode()
    finally:
        conn.close()


def _engineio_sticks(fetch) -> None:  # type: ignore[no-untyped-def]
    """Ten browsers, each from its own address: every request of an Engine.IO session
    reaches the stub that answered its handshake; sessions of different addresses are
    spread; our own WebSocket is not pinned to an address (``fetch(path, source, method)``
    is one request through the proxy, its body)."""
    owners = set()
    for i in range(1, 11):
        source = f"127.0.0.{i}"
        opened = fetch("/sockethub/?EIO=4&transport=polling", source)
        sid = json.loads(opened[1:])["sid"]
        owner = sid.split("-")[0]
        owners.add(owner)
        for method in ("GET", "POST", "GET"):
            path = f"/sockethub/?EIO=4&transport=polling&sid={sid}"
            assert fetch(path, source, method).startswith(f"gateway {owner} "), sid
    assert owners == {"gw1", "gw2"}, "sessions of different addresses are spread"
    # (Caddy's least_conn picks at random among idle gateways: 20 tries.)
    plain = {fetch("/sockethub", "127.0.0.1").split()[1] for _ in range(20)}
    assert plain == {"gw1", "gw2"}, "our own WebSocket is not pinned to an address"


def test_nginx_example_keeps_an_engineio_session_on_one_gateway(tmp_path: Path):
    # Socket.IO long-polling: the handshake and every later request of its session must
    # reach the same gateway process; our own WebSocket may go anywhere (least_conn).
    with stub_gateways(2) as stubs, _nginx(tmp_path, [port for port, _ in stubs]) as port:
        _engineio_sticks(lambda path, source, method="GET": _fetch(port, path, source, method))


@contextlib.contextmanager
def _caddy(tmp_path: Path, gateways: list[int]) -> Iterator[int]:
    """The example running in front of ``gateways`` (plain HTTP on a test port); the port."""
    caddy = shutil.which("caddy")
    if caddy is None:
        missing("caddy", "apt-get install caddy")
    port = free_port()
    conf = CADDYFILE.read_text()
    # Plain HTTP on a test port instead of a certificate from ACME; the rest as shipped.
    conf = conf.replace(
        f"{HOST} {{", f"{{\n\tadmin off\n\tauto_https off\n}}\n\nhttp://{HOST}:{port} {{"
    )
    upstreams = " ".join(f"127.0.0.1:{gateway}" for gateway in gateways)
    assert conf.count("127.0.0.1:10551 127.0.0.1:10552") == 2
    conf = conf.replace("127.0.0.1:10551 127.0.0.1:10552", upstreams)
    conf = conf.replace(f"http://{HOST}:{port} {{", f"http://{HOST}:{port} {{\n\tbind 127.0.0.1")
    (tmp_path / "Caddyfile").write_text(conf)
    # Caddy keeps its state under HOME: a test's own, not root's.
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    argv = [caddy, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"]
    with _running(argv, tmp_path / "console.log", port, env):
        yield port


def test_caddy_example_in_front_of_a_gateway(tmp_path: Path, stub_gateway):
    gateway, seen = stub_gateway
    with _caddy(tmp_path, [gateway]) as port:
        _check_paths(port, seen, tls=False)


def test_caddy_example_keeps_an_engineio_session_on_one_gateway(tmp_path: Path):
    with stub_gateways(2) as stubs, _caddy(tmp_path, [port for port, _ in stubs]) as port:
        _engineio_sticks(lambda path, source, method="GET": _plain(port, path, source, method))


def _plain(port: int, path: str, source: str, method: str = "GET") -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body=b"40" if method == "POST" else None, headers={"Host": HOST})
        answer = conn.getresponse()
        assert answer.status == 200, (path, answer.status)
        return answer.read().decode()
    finally:
        conn.close()
