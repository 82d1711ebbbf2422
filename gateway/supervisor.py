"""The all-in-one ``sockethub``'s children: started so they cannot outlive it, stopped in order.

Two things a terminal does that the children must not see or survive:

- Ctrl-C signals the whole foreground process group. Redis would stop at once, under
  workers and a gateway still closing their connections. So each child gets a process group
  of its own and only ``sockethub`` hears Ctrl-C; it stops the gateway and the workers, then
  Redis.
- ``sockethub`` itself may be killed (SIGKILL, an OOM kill, a closed terminal). Each child
  asks the kernel for SIGTERM when its parent dies (Linux ``PR_SET_PDEATHSIG``), so no
  Redis or Celery worker is left running orphaned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["Supervisor", "orphan_proof"]

log = logging.getLogger("sockethub")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
REDIS_RESTARTS = 3  # a private Redis that dies more often than this a minute stops it all


def _prctl() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):  # not Linux: children rely on the orderly stop alone
        return None


_PRCTL = _prctl()  # resolved here, not between fork and exec


def orphan_proof() -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when the process starting it dies."""
    parent = os.getpid()

    def setup() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
        # The parent may have died between fork and prctl: then nobody would signal us.
        if os.getppid() != parent:
            os._exit(1)

    return setup


@dataclass
class Supervisor:
    """Runs named children; the first to exit, or SIGINT/SIGTERM, stops them all."""

    redis: subprocess.Popen[bytes] | None = None
    parts: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    stopping: bool = False
    hurry: bool = False  # a second Ctrl-C: kill what is still stopping
    # Starts the private Redis again (same port and data dir: its append-only file brings
    # everything back); None: a Redis that exits stops everything.
    restart_redis: Callable[[], subprocess.Popen[bytes]] | None = None
    _redis_restarts: list[float] = field(default_factory=list)

    def install_signals(self) -> None:
        def stop(_signum: int, _frame: object) -> None:
            self.hurry = self.stopping
            self.stopping = True

        # SIGHUP: the terminal closed; its foreground group no longer includes our parts.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop)

    def spawn(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str],
        stdout: int | IO[Any] | None = None,
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env),
            stdout=stdout,
            process_group=0,  # not in the terminal's group: only we hear its Ctrl-C
            preexec_fn=orphan_proof(),
        )
        self.parts.append((name, proc))
        return proc

    def failed(self) -> str | None:
        """The name of a part that exited, if one did."""
        procs = list(self.parts) + ([("redis", self.redis)] if self.redis else [])
        for name, proc in procs:
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}"
        return None

    def run(self) -> int:
        while not self.stopping:
            self._keep_redis()
            failure = self.failed()
            if failure:
                log.error("%s; stopping everything", failure)
                return 1
            time.sleep(0.2)
        return 0

    def _keep_redis(self) -> None:
        """Restart a private Redis that died, up to ``REDIS_RESTARTS`` times a minute (more
        means it cannot run: then ``failed`` stops everything, saying so)."""
        if self.redis is None or self.restart_redis is None or self.redis.poll() is None:
            return
        now = time.monotonic()
        self._redis_restarts = [t for t in self._redis_restarts if now - t < 60]
        if len(self._redis_restarts) >= REDIS_RESTARTS:
            return
        self._redis_restarts.append(now)
        log.warning(
            "private Redis exited with %s; restarting it (its append-only file keeps the data)",
            self.redis.returncode,
        )
        try:
            self.redis = self.restart_redis()
        except Exception as exc:  # failed() reports the dead one and stops everything
            log.error("could not restart the private Redis: %s", exc)

    def stop(self) -> None:
        """The gateway and the workers together (they close upstream connections and
        browsers' sockets, using Redis as they do), then Redis."""
        self._stop([proc for _name, proc in self.parts])
        if self.redis is not None:
            self._stop([self.redis])

    def _stop(self, procs: list[subprocess.Popen[bytes]], timeout: float = 20) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs):
            if self.hurry or time.monotonic() > deadline:
                if not self.hurry:
                    log.warning("parts still running after %.0f s: killing them", timeout)
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                for proc in procs:
                    proc.wait()
                break
            time.sleep(0.05)
