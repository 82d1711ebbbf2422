"""deploy/haproxy/haproxy.cfg: checked with ``haproxy -c`` and run in front of stub gateways.

Stub gateways (tests/servers/stubgateway.py) show what HAProxy passes on, and to whom:
/metrics never, /healthz only from loopback (127.0.0.2 stands for the public), and every
request of one Engine.IO session to the gateway that answered its handshake.
The real gateways behind the same file: tests/integration/test_haproxy.py.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.haproxy import HAPROXY_CFG, haproxy_binary, running, self_signed_pem
from tests.servers.stubgateway import stub_gateways

HOST = "sockethub.example.org"


@pytest.fixture
def stubs() -> Iterator[list[tuple[int, list[str]]]]:
    with stub_gateways(2) as made:
        yield made


def _request(
    port: int, path: str, *, method: str = "GET", source: str = "127.0.0.1", body: bytes = b""
) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0), context=ctx
    )
    try:
        conn.request(method, path, body=body or None, headers={"Host": HOST})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_shipped_config_passes_haproxy_check(tmp_path: Path):
    # Only the certificate and the stats socket's folder must exist for the check.
    binary = haproxy_binary()
    pem = self_signed_pem(tmp_path)
    conf = HAPROXY_CFG.read_text()
    conf = conf.replace(f"/etc/haproxy/certs/{HOST}.pem", str(pem))
    conf = conf.replace("/run/haproxy/admin.sock", str(tmp_path / "admin.sock"))
    (tmp_path / "haproxy.cfg").write_text(conf)
    checked = subprocess.run(
        [binary, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout + checked.stderr
    assert "WARNING" not in checked.stdout + checked.stderr, checked.stderr


def test_haproxy_never_passes_metrics_and_keeps_health_local(tmp_path: Path, stubs):
    with running(tmp_path, [port for port, _seen in stubs]) as proxy:
        assert _request(proxy.https_port, "/")[0] == 200
        spellings = ["/metrics", "/metrics/", "/metrics?x=1", "//metrics", "/%6detrics"]
        for path in [*spellings, "/./metrics", "/METRICS", "/static/../metrics"]:
            for source in ("127.0.0.1", "127.0.0.2"):
                assert _request(proxy.https_port, path, source=source)[0] == 404, path
        assert _request(proxy.https_port, "/healthz")[0] == 200
        assert _request(proxy.https_port, "/healthz", source="127.0.0.2")[0] == 404
        assert _request(proxy.https_port, "//healthz", source="127.0.0.2")[0] == 404
        passed = [p for _port, seen in stubs for p in seen]
        assert not [p for p in passed if "metrics" in p.lower()], passed
        # Plain HTTP is sent to HTTPS, nothing else.
        conn = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
        conn.request("GET", "/sockethub", headers={"Host": HOST})
        answer = conn.getresponse()
        assert answer.status == 301
        assert answer.getheader("Location") == f"https://{HOST}/sockethub"
        conn.close()


def test_engineio_sessions_stick_to_the_gateway_that_made_them(tmp_path: Path, stubs):
    with running(tmp_path, [port for port, _seen in stubs]) as proxy:
        sids = []
        for _ in range(8):
            status, body = _request(proxy.https_port, "/sockethub/?EIO=4&transport=polling")
            assert status == 200 and body.startswith("0{"), body
            sids.append(json.loads(body[1:])["sid"])
        # New sessions are spread (leastconn over idle gateways takes turns).
        assert {sid.split("-")[0] for sid in sids} == {"gw1", "gw2"}, sids
        for sid in sids:
            owner = sid.split("-")[0]
            for method, body in (("GET", b""), ("POST", b"40"), ("GET", b"")):
                path = f"/sockethub/?EIO=4&transport=polling&sid={sid}&t=abc"
                status, text = _request(proxy.https_port, path, method=method, body=body)
                assert status == 200 and text.startswith(f"gateway {owner} saw"), (sid, text)
        # Not Engine.IO: any gateway (our own WebSocket resumes anywhere).
        served = {
            re.match(r"gateway (\w+)", _request(proxy.https_port, "/x")[1]).group(1)  # type: ignore[union-attr]
            for _ in range(6)
        }
        assert served == {"gw1", "gw2"}
