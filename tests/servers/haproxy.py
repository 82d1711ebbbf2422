"""deploy/haproxy/haproxy.cfg run for real: rewritten for test ports, started, asked how it is.

The shipped file is used as it is but for what a test machine must change: the listening
addresses (127.0.0.1, free ports), the gateways (the test's, however many), the
certificate (a self-signed one made here), the stats socket (in the test's folder), the
connection cap (a test process may not raise its descriptor limit that far) and,
where a test asks, the health-check pace (a test cannot wait the shipped 1 s x 2).
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers.common import find_binary, missing
from tests.stack import free_port

__all__ = ["HAPROXY_CFG", "HAProxy", "configure", "haproxy_binary", "running", "self_signed_pem"]

ROOT = Path(__file__).resolve().parent.parent.parent
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
HOST = "sockethub.example.org"


def haproxy_binary() -> str:
    found = find_binary("haproxy")
    if found is None:
        missing("haproxy", "apt-get install haproxy")
    return found


def self_signed_pem(folder: Path) -> Path:
    """One PEM file, certificate then key, as HAProxy's ``crt`` takes it."""
    key, crt = folder / "key.pem", folder / "crt.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    pem = folder / "haproxy.pem"
    pem.write_text(crt.read_text() + key.read_text())
    return pem


def configure(
    folder: Path,
    gateways: Sequence[int],
    *,
    http_port: int,
    https_port: int,
    inter_ms: int | None = None,
) -> Path:
    """The shipped configuration with only the machine-specific parts changed."""
    conf = HAPROXY_CFG.read_text()
    conf = conf.replace("log stdout format raw local0", "log stdout format raw local0 info")
    # Two descriptors a connection: a test's process may not raise its limit to 40,000.
    conf = conf.replace("    maxconn 20000\n", "    maxconn 2000\n")
    conf = conf.replace("bind :80\n", f"bind 127.0.0.1:{http_port}\n")
    pem = self_signed_pem(folder)
    conf = conf.replace(
        f"bind :443 ssl crt /etc/haproxy/certs/{HOST}.pem",
        f"bind 127.0.0.1:{https_port} ssl crt {pem}",
    )
    conf = conf.replace("/run/haproxy/admin.sock", str(folder / "admin.sock"))
    if inter_ms is not None:
        conf = conf.replace("check inter 1s fall 2 rise 2", f"check inter {inter_ms} fall 2 rise 2")
    for backend in ("sockethub_gateways", "sockethub_engineio"):
        track = backend == "sockethub_engineio"
        lines = "".join(
            f"    server gw{i + 1} 127.0.0.1:{port}"
            + (f" track sockethub_gateways/gw{i + 1}" if track else "")
            + "\n"
            for i, port in enumerate(gateways)
        )
        pattern = rf"(backend {backend}\n(?:.*\n)*?)(?:    server gw\d .*\n)+"
        conf, n = re.subn(pattern, lambda m, lines=lines: m.group(1) + lines, conf)
        assert n == 1, f"no server lines in backend {backend}"
    path = folder / "haproxy.cfg"
    path.write_text(conf)
    return path


@dataclass
class HAProxy:
    folder: Path
    gateways: Sequence[int]
    inter_ms: int | None = None
    http_port: int = 0
    https_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def check(self) -> subprocess.CompletedProcess[str]:
        """``haproxy -c`` on the configuration this test runs."""
        return subprocess.run(
            [haproxy_binary(), "-c", "-f", str(self.cfg)], capture_output=True, text=True
        )

    def __post_init__(self) -> None:
        self.http_port = self.http_port or free_port()
        self.https_port = self.https_port or free_port()
        self.cfg = configure(
            self.folder,
            self.gateways,
            http_port=self.http_port,
            https_port=self.https_port,
            inter_ms=self.inter_ms,
        )
        self.log = self.folder / "haproxy.log"

    def start(self) -> HAProxy:
        checked = self.check()
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with open(self.log, "wb") as out:
            # -db: in the foreground, logging to stdout (the log file).
            self.proc = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(self.cfg)], stdout=out, stderr=out
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"haproxy exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.http_port), 0.5).close()
                return self
            time.sleep(0.1)
        raise AssertionError(f"haproxy not listening: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def command(self, line: str) -> str:
        """One command on the stats socket, its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.folder / "admin.sock"))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def status(self, backend: str = "sockethub_gateways") -> dict[str, str]:
        """Each server of ``backend``: UP, DOWN, ... as the health checks see it."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        out: dict[str, str] = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == backend and row.get("svname", "").startswith("gw"):
                out[row["svname"]] = row["status"].split(" ")[0]
        return out

    def wait_status(
        self, server: str, wanted: str, timeout: float = 20, backend: str = "sockethub_gateways"
    ) -> float:
        """Seconds until ``server`` is ``wanted`` (UP, DOWN)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.status(backend).get(server) == wanted:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"{server} not {wanted} in {timeout} s: {self.status(backend)}")


@contextlib.contextmanager
def running(
    folder: Path, gateways: Sequence[int], inter_ms: int | None = None
) -> Iterator[HAProxy]:
    proxy = HAProxy(folder, gateways, inter_ms=inter_ms).start()
    try:
        yield proxy
    finally:
        proxy.stop()
