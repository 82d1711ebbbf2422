"""A real CalDAV/CardDAV server for tests: Radicale on 127.0.0.1, started by the test.

    with run_radicale(tmp_path) as dav:
        dav.url          # "http://127.0.0.1:PORT/"
        dav.calendar("alice", "work")   # the URL of alice's calendar "work"

Users come from an htpasswd file with bcrypt hashes (``USERS``); ``rights = owner_only``,
so a user reaches only their own collections (another user's calendar is 403). Each user
has a calendar ``work`` (events and tasks) and address book ``contacts``, made in the
storage folder before the start. Radicale speaks HTTP Basic only.

Radicale is the PyPI package of the ``test`` extra, run with this Python; when it is not
installed the test is skipped, or fails when ``CI`` is set (``common.missing``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import ServerProcess, free_port, missing

__all__ = ["USERS", "DavServer", "run_radicale"]

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
START_TIMEOUT = 20.0


def _htpasswd(path: Path) -> None:
    import bcrypt

    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, pw in USERS.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def _collection(root: Path, user: str, name: str, props: dict[str, str]) -> None:
    folder = root / "collection-root" / user / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".Radicale.props").write_text(json.dumps(props))


@dataclass
class DavServer(ServerProcess):
    label = "radicale"
    start_timeout = START_TIMEOUT

    host: str
    port: int
    config: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def calendar(self, user: str, name: str = "work") -> str:
        return f"{self.url}{user}/{name}/"

    def book(self, user: str, name: str = "contacts") -> str:
        return f"{self.url}{user}/{name}/"

    def start(self) -> None:
        argv = [sys.executable, "-m", "radicale", "--config", str(self.config)]
        self._launch(argv, self.log_path, [self.port])


@contextlib.contextmanager
def run_radicale(tmp_path: Path) -> Iterator[DavServer]:
    if importlib.util.find_spec("radicale") is None or importlib.util.find_spec("bcrypt") is None:
        missing("radicale", "pip install -e '.[test]' (radicale and bcrypt)")
    directory = tmp_path / "radicale"
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    _htpasswd(directory / "users")
    for user in USERS:
        _collection(
            storage,
            user,
            "work",
            {
                "tag": "VCALENDAR",
                "D:displayname": "Work",
                "ICAL:calendar-color": "#3a87ad",
                "C:supported-calendar-component-set": "VEVENT,VTODO",
            },
        )
        _collection(storage, user, "contacts", {"tag": "VADDRESSBOOK", "D:displayname": "Contacts"})
    port = free_port()
    config = directory / "config"
    config.write_text(
        f"""[server]
hosts = 127.0.0.1:{port}

[auth]
type = htpasswd
htpasswd_filename = {directory / "users"}
htpasswd_encryption = bcrypt
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {storage}

[logging]
level = warning
"""
    )
    server = DavServer("127.0.0.1", port, config, directory / "radicale.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
