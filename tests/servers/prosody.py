"""A real XMPP server for tests: Prosody on 127.0.0.1, started and stopped by the test.

    with run_prosody(tmp_path) as server:
        server.jid("alice")          # "alice@localhost", password server.password("alice")

What the config sets up, fresh for each server:

- one virtual host, ``localhost``, with accounts registered through ``prosodyctl``;
- a multi-user chat component, ``conference.localhost``, with Prosody's defaults: a new
  room is locked until its owner accepts a configuration (XEP-0045 §10.1.2), and every
  other joiner gets ``item-not-found`` until then (``muc_room_locking``, on by default, as
  on the servers people really run); and message archives, so groupchat messages carry a
  XEP-0359 ``<stanza-id>``;
- TLS required on client streams (``c2s_require_encryption``), STARTTLS on ``port`` and
  direct TLS (XEP-0368) on ``tls_port``, both on 127.0.0.1 only, with a self-signed
  certificate whose names cover ``localhost`` and ``conference.localhost``. Clients trust
  it through ``ca_file`` (slixmpp's ``ca_certs``, or ``SSL_CERT_FILE`` for a worker);
  ``tests/servers/xmpppeer.py`` has an independent client for it;
- message carbons (``mod_carbons``, XEP-0280) and stream management (``mod_smacks``,
  XEP-0198: a stream whose socket is cut can be resumed; on shutdown Prosody closes such
  streams without a stream error, so that clients may try);
- PEP with bookmarks (``mod_pep``, ``mod_bookmarks``, XEP-0402), vCard4 (``mod_vcard4``,
  XEP-0292) and vCard-temp kept in PEP (``mod_vcard_legacy``, XEP-0054/XEP-0153);
- HTTP file upload (``mod_http_file_share``, XEP-0363) as the component
  ``upload.localhost``, at most ``upload_limit`` bytes a file, served over plain HTTP on
  127.0.0.1 ``http_port`` (upload and download URLs name that address);
- a debug log (``debug_log()``): every stanza and SASL element received and sent;
- no server-to-server, no in-band registration.

Prosody refuses to run as root and then hangs instead of exiting (FIELD-NOTES), so as
root it runs as the ``prosody`` user, from a directory of its own that user owns (pytest's
``tmp_path`` sits under a 0700 directory). The process is started with Popen's ``user=``
rather than ``runuser``: the signals we send then reach Prosody itself (``runuser``
forwards SIGTERM but lingers two seconds before it exits). Never ``prosody --version``: it
starts a server.

When Prosody is not installed the test is skipped, or fails when ``CI`` is set so a CI
run cannot pass by testing nothing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.common import ServerProcess, find_binary, free_port, missing, workdir

__all__ = ["XmppServer", "certificate", "free_port", "prosody_binaries", "run_prosody"]

DOMAIN = "localhost"
MUC = f"conference.{DOMAIN}"
UPLOAD = f"upload.{DOMAIN}"
UPLOAD_LIMIT = 4 * 1024 * 1024  # bytes: the largest file the upload service accepts
USERS = ("alice", "bob", "carol")
START_TIMEOUT = 15.0


def prosody_binaries() -> tuple[str, str]:
    """Paths of ``prosody`` and ``prosodyctl``; skip (fail under ``CI``) when missing."""
    prosody, prosodyctl = find_binary("prosody"), find_binary("prosodyctl")
    if not (prosody and prosodyctl):
        missing("prosody", "apt-get install prosody")
    return prosody, prosodyctl


def _config(
    d: Path,
    port: int,
    tls_port: int,
    http_port: int,
    upload_limit: int,
    disabled: Sequence[str] = (),
) -> str:
    off = "".join(f' "{m}";' for m in ("s2s", *disabled))
    return f"""\
-- Written by tests/servers/prosody.py for one test server.
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
log = {{ debug = "{d}/debug.log"; info = "{d}/prosody.log" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ {tls_port} }}
s2s_ports = {{}}
component_ports = {{}}
http_ports = {{ {http_port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{}}
-- Upload URLs name this address: "upload.localhost" resolves nowhere but here.
http_external_url = "http://127.0.0.1:{http_port}/"
http_default_host = "{UPLOAD}"
modules_enabled = {{
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix"; "mam";
  "carbons";  -- XEP-0280
  "smacks";  -- XEP-0198
  "pep"; "bookmarks";  -- XEP-0402
  "vcard4"; "vcard_legacy";  -- XEP-0292 over PEP; vcard-temp (XEP-0054/0153) mapped to it
}}
modules_disabled = {{{off} }}
c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
archive_expires_after = "1d"
ssl = {{ key = "{d}/certs/{DOMAIN}.key"; certificate = "{d}/certs/{DOMAIN}.crt" }}

VirtualHost "{DOMAIN}"

Component "{MUC}" "muc"
  modules_enabled = {{ "muc_mam" }}
  restrict_room_creation = false

Component "{UPLOAD}" "http_file_share"  -- XEP-0363
  http_file_share_size_limit = {upload_limit}
  http_file_share_daily_quota = {upload_limit * 100}
"""


def certificate(certs: Path) -> Path:
    """A self-signed certificate for both names; returns the PEM the clients trust."""
    key, crt = certs / f"{DOMAIN}.key", certs / f"{DOMAIN}.crt"
    args = (
        f"req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        f"-subj /CN={DOMAIN} -addext subjectAltName=DNS:{DOMAIN},DNS:{MUC}"
    ).split()
    subprocess.run(
        ["openssl", *args, "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return crt


@dataclass
class XmppServer(ServerProcess):
    """One running Prosody. ``stop``/``kill``/``restart`` are for reconnection tests."""

    label = "prosody"
    start_timeout = START_TIMEOUT
    stop_timeout = 10.0  # SIGTERM: it ends every stream with ``<system-shutdown/>`` first

    host: str
    port: int  # STARTTLS
    tls_port: int  # direct TLS (XEP-0368)
    directory: Path
    ca_file: Path
    binaries: tuple[str, str]
    user: str | None  # the account Prosody runs as (None: ours)
    domain: str = DOMAIN
    muc: str = MUC
    upload: str = UPLOAD  # the HTTP upload service (XEP-0363), on ``http_port``
    http_port: int = 0
    upload_limit: int = UPLOAD_LIMIT
    accounts: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    def jid(self, user: str) -> str:
        return f"{user}@{self.domain}"

    def password(self, user: str) -> str:
        return self.accounts[user]

    def room(self, name: str) -> str:
        return f"{name}@{self.muc}"

    def _as_user(self) -> dict[str, Any]:
        return {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}

    def register(self, user: str, password: str | None = None) -> str:
        """Create an account (``prosodyctl register``); returns its password."""
        password = password or f"{user}-secret-pw"
        command = [self.binaries[1], "--config", str(self.config), "register", user]
        done = subprocess.run(
            [*command, self.domain, password],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            **self._as_user(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"prosodyctl register {user} failed: {done.stdout}{done.stderr}")
        self.accounts[user] = password
        return password

    def start(self) -> None:
        argv = [self.binaries[0], "-F", "--config", str(self.config)]
        log = self.directory / "console.log"
        self._launch(argv, log, [self.port, self.tls_port, self.http_port], **self._as_user())

    def debug_log(self) -> str:
        """Prosody's debug log: every stanza and SASL element it received and sent."""
        with contextlib.suppress(OSError):
            return (self.directory / "debug.log").read_text(errors="replace")
        return ""

    def output(self) -> str:
        """What Prosody has logged so far."""
        parts = []
        for name in ("console.log", "prosody.log"):
            with contextlib.suppress(OSError):
                parts.append((self.directory / name).read_text(errors="replace"))
        return "\n".join(parts) or "(no output)"


def _own(directory: Path, user: str | None) -> None:
    """Hand the tree to Prosody's user; the key stays private to it."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o755 if path.is_dir() else 0o644)
    (directory / "certs" / f"{DOMAIN}.key").chmod(0o600)


@contextlib.contextmanager
def run_prosody(
    tmp_path: Path,
    users: Sequence[str] = USERS,
    upload_limit: int = UPLOAD_LIMIT,
    disabled: Sequence[str] = (),
) -> Iterator[XmppServer]:
    """Start Prosody for the duration of the ``with`` block and yield its ``XmppServer``;
    ``disabled`` names modules it loads by default that a test wants off (``offline``)."""
    binaries = prosody_binaries()
    user = "prosody" if os.geteuid() == 0 else None
    server: XmppServer | None = None
    with workdir(tmp_path, "prosody", user) as directory:
        try:
            (directory / "certs").mkdir(exist_ok=True)
            (directory / "data").mkdir(exist_ok=True)
            crt = certificate(directory / "certs")
            ca_file = directory / "ca.pem"  # a copy the tests read, whoever owns the certs
            shutil.copyfile(crt, ca_file)
            port, tls_port, http_port = free_port(), free_port(), free_port()
            config = _config(directory, port, tls_port, http_port, upload_limit, disabled)
            (directory / "prosody.cfg.lua").write_text(config)
            _own(directory, user)
            server = XmppServer("127.0.0.1", port, tls_port, directory, ca_file, binaries, user)
            server.http_port, server.upload_limit = http_port, upload_limit
            for name in users:
                server.register(name)
            server.start()
            yield server
        finally:
            if server is not None:
                server.stop()
