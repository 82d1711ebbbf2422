"""The fleet's processes: each one a real program run in its host (``ip netns exec``).

A ``Proc`` knows its command line, environment and log file, and how to tell it is ready
(``ready``: a callable run from the test's side, in the "client" host); ``start``,
``stop`` (SIGTERM and wait: a clean stop, as a deploy does), ``kill`` (SIGKILL: the
machine died) and ``restart``. The configuration files of the servers (Redis, Sentinel,
ngircd, HAProxy) are written here from the ones the project ships or tests with.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.haproxy import HAPROXY_CFG, HOST, self_signed_pem
from tests.servers.ircd import _config as ngircd_config

__all__ = [
    "Proc",
    "haproxy_command",
    "haproxy_config",
    "haproxy_status",
    "ngircd_files",
    "sentinel_config",
    "wait_tcp",
]

MASTER = "sockethub"


def wait_tcp(addr: str, port: int, timeout: float = 30, proc: Proc | None = None) -> None:
    """Until ``addr:port`` accepts a connection (from the calling thread's namespace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.running:
            raise RuntimeError(f"{proc.name} exited before {addr}:{port} opened:\n{proc.tail()}")
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{addr}:{port} did not open within {timeout} s")


@dataclass
class Proc:
    name: str
    host: str
    argv: list[str]  # already prefixed with ``ip netns exec <ns>``
    log: Path
    env: dict[str, str] | None = None
    cwd: str | None = None
    ready: Callable[[Proc], None] | None = None
    stop_timeout: float = 30.0
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self, wait: bool = True) -> Proc:
        assert not self.running, f"{self.name} is running"
        with self.log.open("ab") as out:
            out.write(f"\n==== start {self.starts + 1} at {time.time():.3f}\n".encode())
            out.flush()
            # ``ip netns exec`` execs the program: this pid is the program's own.
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        if wait and self.ready is not None:
            self.ready(self)
        return self

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.send_signal(sig)

    def stop(self, timeout: float | None = None) -> float:
        """SIGTERM, then wait for the exit (SIGKILL after ``timeout``); the seconds taken."""
        started = time.monotonic()
        if self.running:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout or self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(timeout=10)

    def restart(self) -> float:
        """A clean stop, then a start; the seconds until ready again."""
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-chars:].decode(errors="replace")
        except OSError:
            return "(no log)"


def sentinel_config(folder: Path, addr: str, primary: str, down_after_ms: int) -> Path:
    """One Sentinel's file (it rewrites it: one per Sentinel, in its own folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "sentinel.conf"
    conf.write_text(
        f"port 26379\nbind {addr}\nprotected-mode no\ndir {folder}\n"
        f"sentinel monitor {MASTER} {primary} 6379 2\n"
        f"sentinel down-after-milliseconds {MASTER} {down_after_ms}\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
        f"sentinel parallel-syncs {MASTER} 1\n"
    )
    return conf


def ngircd_files(folder: Path, addr: str) -> Path:
    """ngircd's configuration as tests/servers/ircd.py writes it, listening on ``addr``
    port 6667, in a folder the ``irc`` user it drops to can read."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.d").mkdir(exist_ok=True)
    (folder / "ngircd.motd").write_text("Sockethub fleet\n")
    (folder / "help.txt").write_text("")
    as_root = os.geteuid() == 0
    text = ngircd_config(
        folder,
        6667,
        as_root=as_root,
        ping_timeout=20,
        pong_timeout=10,
        max_nick_length=30,
    ).replace("Listen = 127.0.0.1", f"Listen = {addr}")
    conf = folder / "ngircd.conf"
    conf.write_text(text)
    if as_root:
        irc = pwd.getpwnam("irc")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
            os.chown(path, irc.pw_uid, irc.pw_gid)
        # Its parents must be traversable by ``irc`` too.
        for parent in folder.parents:
            if parent == Path("/tmp") or parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o055)
    return conf


def haproxy_config(
    folder: Path, addr: str, gateways: Sequence[str], inter_ms: int, maxconn: int
) -> Path:
    """deploy/haproxy/haproxy.cfg with only what this fleet must change: the listening
    address, the gateways, the certificate, the stats socket, the connection cap (two
    descriptors a connection, within this process's hard limit) and the health-check pace."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        maxconn = min(maxconn, hard // 2 - 100)
    folder.mkdir(parents=True, exist_ok=True)
    conf = HAPROXY_CFG.read_text()
    conf = conf.replace("log stdout format raw local0", "log stdout format raw local0 info")
    conf = conf.replace("    maxconn 20000\n", f"    maxconn {maxconn}\n")
    conf = conf.replace("bind :80\n", f"bind {addr}:80\n")
    pem = self_signed_pem(folder)
    conf = conf.replace(
        f"bind :443 ssl crt /etc/haproxy/certs/{HOST}.pem", f"bind {addr}:443 ssl crt {pem}"
    )
    conf = conf.replace("/run/haproxy/admin.sock", str(folder / "admin.sock"))
    conf = conf.replace("check inter 1s fall 2 rise 2", f"check inter {inter_ms} fall 2 rise 2")
    for backend in ("sockethub_gateways", "sockethub_engineio"):
        track = backend == "sockethub_engineio"
        lines = "".join(
            f"    server gw{i + 1} {gw}:8080"
            + (f" track sockethub_gateways/gw{i + 1}" if track else "")
            + "\n"
            for i, gw in enumerate(gateways)
        )
        pattern = rf"(backend {backend}\n(?:.*\n)*?)(?:    server gw\d .*\n)+"
        conf, n = re.subn(pattern, lambda m: m.group(1) + lines, conf)  # noqa: B023
        assert n == 1, f"no server lines in backend {backend}"
    path = folder / "haproxy.cfg"
    path.write_text(conf)
    return path


def haproxy_command(sock: Path, line: str) -> str:
    """One command on HAProxy's stats socket (a Unix socket: reachable from any namespace)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def haproxy_status(sock: Path) -> dict[str, str]:
    """Each gateway (gw1, ...) of the WebSocket backend: UP, DOWN, MAINT, ..."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        lines = haproxy_command(sock, "show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "sockethub_gateways" and row.get("svname", "").startswith("gw"):
                out[row["svname"]] = row["status"].split(" ")[0]
    return out
