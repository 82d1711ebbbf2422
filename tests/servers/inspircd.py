"""A real IRCv3 server for tests: InspIRCd 3 on 127.0.0.1, started and stopped by the test.

    with run_inspircd(tmp_path) as server:              # CAP and the IRCv3 modules
        client = RawIrcClient(server.host, server.port, "alice")
    with run_inspircd(tmp_path, cap=False) as server:   # a server that ignores CAP

The config is written fresh for each server: a free port on 127.0.0.1 only, no DNS or
ident lookups (registration is instant), no per-IP connection limit and no fake lag
(InspIRCd's defaults are 3 connections per IP and a command a second), and the modules
of modern IRC: ``cap`` with ``ircv3`` (account-notify, away-notify, extended-join),
``ircv3_capnotify``, ``ircv3_servertime``, ``ircv3_msgid``, ``ircv3_echomessage``,
``ircv3_ctctags`` (message-tags), ``ircv3_accounttag``, ``ircv3_batch``,
``ircv3_labeledresponse``, ``ircv3_chghost``, ``ircv3_invitenotify``, and ``monitor``,
``namesx`` (multi-prefix), ``uhnames`` (userhost-in-names), ``setname``, ``chghost``.
Without ``cap`` the IRCv3 modules, which need it, are left out too: the server then
ignores ``CAP LS`` without a word, as InspIRCd does when its CAP module is not loaded.

It runs as whoever runs the tests, except root: then as its own user (``irc``, as Debian's
package runs it; InspIRCd refuses root anyway), in a fresh folder that user owns, with the
TLS files copied there (pytest's folders are root's alone). ``--nofork`` keeps it in the
foreground, its console (module loading, config errors) goes to ``inspircd.log``.

When ``inspircd`` is not installed the test is skipped, or fails when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.common import ServerProcess, find_binary, free_port, missing, workdir

__all__ = ["IRCV3_MODULES", "InspIrcd", "inspircd_binary", "run_inspircd"]

SERVER_NAME = "irc.inspircd.test"
START_TIMEOUT = 15.0
RUN_AS = (
    "irc"  # Debian's ircd user (ngircd runs as it too): the suite, as root, never runs it as root
)

# Module names as Debian's InspIRCd 3 ships them (/usr/lib/inspircd/modules/m_<name>.so).
IRCV3_MODULES = (
    "ircv3",
    "ircv3_accounttag",
    "ircv3_batch",
    "ircv3_capnotify",
    "ircv3_chghost",
    "ircv3_ctctags",
    "ircv3_echomessage",
    "ircv3_invitenotify",
    "ircv3_labeledresponse",
    "ircv3_msgid",
    "ircv3_servertime",
)
OTHER_MODULES = ("monitor", "namesx", "uhnames", "setname", "chghost")


def inspircd_binary() -> str:
    """Path of ``inspircd``; skips the test (or fails it under ``CI``) when it is missing."""
    path = find_binary("inspircd")
    if not path:
        missing("inspircd", "apt-get install inspircd")
    return path


def _config(directory: Path, port: int, modules: list[str]) -> str:
    loads = "\n".join(f'<module name="{name}">' for name in modules)
    return f"""\
<server name="{SERVER_NAME}" description="Sockethub test server" network="SockethubTest">
<admin name="Sockethub tests" nick="admin" email="nobody@sockethub.test">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="main" allow="*" maxchans="100" timeout="20" pingfreq="120"
         hardsendq="4M" softsendq="1M" recvq="64K" threshold="1000" commandrate="100000"
         fakelag="no" localmax="1000" globalmax="1000" resolvehostnames="no"
         useident="no" limit="10000">
<files motd="{directory / "motd.txt"}">
<pid file="{directory / "inspircd.pid"}">
<dns server="127.0.0.1" timeout="1">
<options prefixquit="Quit: ">
<limits maxnick="30" maxchan="64">
<class name="Everything" commands="*" privs="*" usermodes="*" chanmodes="*" snomasks="*">
<type name="NetAdmin" classes="Everything">
<oper name="oper" password="operpass" host="*@*" type="NetAdmin">
{loads}
"""


@dataclass
class InspIrcd(ServerProcess):
    """One running InspIRCd. ``stop``/``restart``/``kill`` are for reconnection tests."""

    label = "inspircd"
    start_timeout = START_TIMEOUT

    host: str
    port: int
    config: Path
    log_path: Path
    binary: str
    cap: bool = True  # whether the CAP and IRCv3 modules are loaded
    tls_port: int = 0  # the TLS port, when started with ``tls``
    name: str = SERVER_NAME
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        argv = [self.binary, f"--config={self.config}", "--nofork"]
        # As root (CI), it runs as its own user, as a packaged InspIRCd does, never as root.
        user: dict[str, Any] = {"user": RUN_AS, "group": RUN_AS} if os.geteuid() == 0 else {}
        ports = [self.port, *([self.tls_port] if self.tls_port else [])]
        # Its own folder as working directory: a core dump (InspIRCd 3 with ssl_gnutls has
        # left one at exit) stays with its files, not in the checkout.
        self._launch(argv, self.log_path, ports, cwd=self.config.parent, **user)


def _tls_config(cert: Path, key: Path, port: int, sts_duration: int | None) -> str:
    """A TLS port (``ssl_gnutls``) and, with ``sts_duration``, an IRCv3 STS policy for it
    (``ircv3_sts``): plaintext clients are told ``sts=port=<port>``, TLS clients
    ``sts=duration=<sts_duration>``; the policy's host is ``*`` (any name given in SNI)."""
    out = f"""\
<module name="ssl_gnutls">
<sslprofile name="Clients" provider="gnutls" certfile="{cert}" keyfile="{key}"
            hash="sha256" requestclientcert="no">
<bind address="127.0.0.1" port="{port}" type="clients" sslprofile="Clients">
"""
    if sts_duration is not None:
        out += f"""<module name="ircv3_sts">
<sts host="*" port="{port}" duration="{sts_duration}" preload="no">
"""
    return out


@contextlib.contextmanager
def run_inspircd(
    tmp_path: Path,
    *,
    cap: bool = True,
    modules: tuple[str, ...] = (),
    extra: str = "",
    tls: tuple[Path, Path] | None = None,
    sts_duration: int | None = None,
) -> Iterator[InspIrcd]:
    """Start InspIRCd for the duration of the ``with`` block and yield its ``InspIrcd``;
    ``modules`` are loaded too and ``extra`` ends the config (e.g. ``permchannels``).
    ``tls`` (certificate, key) adds a TLS port (``tls_port``); ``sts_duration`` with it, an
    STS policy (``_tls_config``)."""
    binary = inspircd_binary()
    owner = RUN_AS if os.geteuid() == 0 else None
    with workdir(tmp_path, "inspircd" if cap else "inspircd-nocap", owner) as directory:
        if tls:  # where its user can read them (pytest's own folders are root's alone)
            for path in tls:
                shutil.copy(path, directory / path.name)
            tls = (directory / tls[0].name, directory / tls[1].name)
        with _running(binary, directory, cap, modules, extra, tls, sts_duration, owner) as server:
            yield server


@contextlib.contextmanager
def _running(
    binary: str,
    directory: Path,
    cap: bool,
    modules: tuple[str, ...],
    extra: str,
    tls: tuple[Path, Path] | None,
    sts_duration: int | None,
    owner: str | None,
) -> Iterator[InspIrcd]:
    (directory / "motd.txt").write_text("Sockethub test server\n")
    loaded = ["cap", *IRCV3_MODULES] if cap else []
    loaded += [*OTHER_MODULES, *modules]
    config = directory / "inspircd.conf"
    port = free_port()
    text = _config(directory, port, loaded)
    tls_port = free_port() if tls else 0
    if tls:
        text += _tls_config(tls[0], tls[1], tls_port, sts_duration)
    config.write_text(text + extra)
    if owner is not None:
        entry = pwd.getpwnam(owner)
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = InspIrcd("127.0.0.1", port, config, directory / "inspircd.log", binary, cap)
    server.tls_port = tls_port
    server.start()
    try:
        yield server
    finally:
        server.stop()
