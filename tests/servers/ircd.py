"""A real IRC server for tests: ngircd on 127.0.0.1, started and stopped by the test.

    with run_ngircd(tmp_path) as server:
        client = RawIrcClient(server.host, server.port, "alice")

The config is written fresh for each server: a free port on 127.0.0.1 only, no PAM, DNS
or ident lookups (registration is instant), no per-IP connection limit
(``MaxConnectionsIP = 0``, ngircd's default is 5), flood penalties off
(``MaxPenaltyTime = 0``), nicks up to 30 characters, short ping timeouts, one operator.

Started as root, ngircd drops to the ``irc`` user (``ServerUID``) and then writes its PID
file, so its files then live in a directory of their own that ``irc`` owns: pytest's
``tmp_path`` sits under a 0700 directory that ``irc`` cannot enter.

When ``ngircd`` is not installed the test is skipped, or fails when ``CI`` is set so a CI
run cannot pass by testing nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import ServerProcess, find_binary, free_port, missing, workdir

__all__ = ["IrcServer", "free_port", "ngircd_binary", "run_ngircd"]

SERVER_NAME = "irc.sockethub.test"
OPER_NAME = "oper"
OPER_PASSWORD = "operpass"
START_TIMEOUT = 10.0


def ngircd_binary() -> str:
    """Path of ``ngircd``; skips the test (or fails it under ``CI``) when it is missing."""
    path = find_binary("ngircd")
    if not path:
        missing("ngircd", "apt-get install ngircd")
    return path


def _config(
    directory: Path,
    port: int,
    *,
    as_root: bool,
    ping_timeout: int,
    pong_timeout: int,
    max_nick_length: int,
    password: str | None = None,
    tls_port: int | None = None,
    webirc_password: str | None = None,
) -> str:
    drop = "  ServerUID = irc\n  ServerGID = irc\n" if as_root else ""
    if password:
        drop += f"  Password = {password}\n"
    webirc = f"  WebircPassword = {webirc_password}\n" if webirc_password else ""
    ssl = ""
    if tls_port:
        ssl = (
            f"[SSL]\n  CertFile = {directory / 'tls.crt'}\n  KeyFile = {directory / 'tls.key'}\n"
            f"  Ports = {tls_port}\n"
        )
    return (
        ssl
        + f"""\
[Global]
  Name = {SERVER_NAME}
  Info = Sockethub test server
  AdminInfo1 = Sockethub tests
  AdminInfo2 = 127.0.0.1
  AdminEMail = nobody@sockethub.test
  Listen = 127.0.0.1
  Ports = {port}
  MotdFile = {directory / "ngircd.motd"}
  PidFile = {directory / "ngircd.pid"}
  HelpFile = {directory / "help.txt"}
{drop}
[Limits]
  MaxConnections = 0
  MaxConnectionsIP = 0
  MaxJoins = 0
  MaxNickLength = {max_nick_length}
  MaxPenaltyTime = 0
  PingTimeout = {ping_timeout}
  PongTimeout = {pong_timeout}
  ConnectRetry = 60

[Options]
  PAM = no
  DNS = no
  Ident = no
  MorePrivacy = no
  RequireAuthPing = no
  ScrubCTCP = no
  OperCanUseMode = yes
  IncludeDir = {directory / "conf.d"}
{webirc}
[Operator]
  Name = {OPER_NAME}
  Password = {OPER_PASSWORD}
"""
    )


@dataclass
class IrcServer(ServerProcess):
    """One running ngircd. ``stop``/``restart``/``kill`` are for reconnection tests."""

    label = "ngircd"
    start_timeout = START_TIMEOUT

    host: str
    port: int
    config: Path
    log_path: Path
    binary: str
    name: str = SERVER_NAME
    oper: tuple[str, str] = (OPER_NAME, OPER_PASSWORD)
    tls_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._launch([self.binary, "-n", "-f", str(self.config)], self.log_path, [self.port])


@contextlib.contextmanager
def run_ngircd(
    tmp_path: Path,
    *,
    ping_timeout: int = 20,
    pong_timeout: int = 10,
    max_nick_length: int = 30,
    password: str | None = None,
    tls: tuple[Path, Path] | None = None,
    webirc_password: str | None = None,
) -> Iterator[IrcServer]:
    """Start ngircd for the duration of the ``with`` block and yield its ``IrcServer``."""
    binary = ngircd_binary()
    as_root = os.geteuid() == 0
    with workdir(tmp_path, "ngircd", "irc" if as_root else None) as directory:
        (directory / "conf.d").mkdir(exist_ok=True)
        (directory / "ngircd.motd").write_text("Sockethub test server\n")
        (directory / "help.txt").write_text("")
        config = directory / "ngircd.conf"
        port = free_port()
        tls_port = free_port() if tls else None
        if tls:  # a test key: readable by the irc user ngircd runs as
            shutil.copy(tls[0], directory / "tls.crt")
            shutil.copy(tls[1], directory / "tls.key")
        config.write_text(
            _config(
                directory,
                port,
                as_root=as_root,
                ping_timeout=ping_timeout,
                pong_timeout=pong_timeout,
                max_nick_length=max_nick_length,
                password=password,
                tls_port=tls_port,
                webirc_password=webirc_password,
            )
        )
        for path in directory.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the irc user
        check = subprocess.run(
            [binary, "--configtest", "-f", str(config)],
            stdin=subprocess.DEVNULL,  # it may wait for Enter before dumping the config
            capture_output=True,
            text=True,
            timeout=10,
        )
        # It exits 0 despite unknown or invalid settings, which it reports by file line.
        problems = [ln for ln in check.stdout.splitlines() if ln.startswith(f" - {config}, line")]
        if check.returncode != 0 or problems:
            shown = "\n".join(problems) or check.stdout + check.stderr
            raise RuntimeError(f"ngircd --configtest refused {config}:\n{shown}")
        server = IrcServer("127.0.0.1", port, config, directory / "ngircd.log", binary)
        server.tls_port = tls_port
        server.start()
        try:
            yield server
        finally:
            server.stop()
