"""What the real servers the tests start (ngircd, Prosody) have in common.

- ``find_binary`` / ``missing``: a server that is not installed skips the test, and fails it
  when ``CI`` is set, so a CI run cannot pass by testing nothing;
- ``workdir``: a directory for the server's files; as root, one of its own that the
  account the server drops to owns (pytest's ``tmp_path`` sits under a 0700 directory
  that account cannot enter), removed afterwards;
- ``ServerProcess``: the process's life: started with its console in a log, waited for
  until it listens, then ``stop``/``kill``/``restart`` for reconnection tests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import pytest

from tests.stack import free_port

__all__ = ["ServerProcess", "find_binary", "free_port", "missing", "workdir"]

SBIN = "/usr/sbin:/usr/local/sbin"


def missing(what: str, install: str) -> NoReturn:
    """Skip locally, saying what to install; fail under ``CI``, where nothing may skip."""
    message = f"{what} is not installed; {install}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (required when CI is set)")
    pytest.skip(message)


def find_binary(name: str) -> str | None:
    """``name`` on ``PATH``, or in the sbin directories a non-root ``PATH`` lacks."""
    return shutil.which(name) or shutil.which(name, path=SBIN)


@contextlib.contextmanager
def workdir(tmp_path: Path, name: str, owner: str | None) -> Iterator[Path]:
    """A directory for one server's files: under ``tmp_path`` when the server runs as us;
    when it runs as ``owner``, a fresh one that ``owner`` owns, removed afterwards."""
    if owner is None:
        directory = tmp_path / name
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    try:
        entry = pwd.getpwnam(owner)
        directory.chmod(0o755)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class ServerProcess:
    """The process side of a server dataclass that has ``host`` and ``process`` fields.

    A subclass names itself (``label``), says how long to wait for it (``start_timeout``)
    and for it to end on SIGTERM (``stop_timeout``), and defines ``start`` (through
    ``_launch``); ``output`` (what it has logged, for error messages) reads its
    ``log_path`` unless the subclass knows better.
    """

    label: ClassVar[str]
    start_timeout: ClassVar[float]
    stop_timeout: ClassVar[float] = 5.0
    host: str
    process: subprocess.Popen[bytes] | None

    def start(self) -> None:
        raise NotImplementedError

    def output(self) -> str:
        """What the server has printed so far: its console log (``log_path``)."""
        try:
            return Path(getattr(self, "log_path", "")).read_text(errors="replace")
        except OSError:
            return "(no output)"

    def _launch(self, argv: Sequence[str], log_path: Path, ports: Sequence[int], **popen: Any):
        """Start ``argv`` with its console in ``log_path``; return once it listens on
        every one of ``ports``."""
        log = log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **popen,
            )
        finally:
            log.close()
        self._wait_listening(ports)

    def _wait_listening(self, ports: Sequence[int]) -> None:
        deadline = time.monotonic() + self.start_timeout
        pending = set(ports)
        while time.monotonic() < deadline and pending:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.process.returncode} before listening on "
                    f"{self.host}:{sorted(pending)}:\n{self.output()}"
                )
            for port in sorted(pending):
                try:
                    with socket.create_connection((self.host, port), timeout=0.5):
                        pending.discard(port)
                except OSError:
                    time.sleep(0.05)
        if pending:
            self.kill()
            raise RuntimeError(
                f"{self.label} did not listen on {self.host}:{sorted(pending)} within "
                f"{self.start_timeout:.0f} s:\n{self.output()}"
            )

    def stop(self) -> None:
        """SIGTERM: the server closes its clients' connections and exits."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a word, as when a machine dies."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        """Stop, then start again on the same port(s)."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
