"""A Redis Sentinel group on 127.0.0.1: a primary, a replica, three Sentinels.

Real ``redis-server`` processes on free ports (Sentinels are ``redis-server FILE
--sentinel``, which is what Debian's ``redis-sentinel`` runs), each with its own folder
and configuration file (a Sentinel rewrites its own). ``url`` is the ``REDIS_URL`` naming
them (envelopes/redisurl.py). The Sentinels take a primary for dead after
``down_after_ms`` without an answer, so a test's failover takes a few seconds, not the
30 s of Redis's default.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from gateway.cli import redis_server_binary
from tests.stack import free_port, wait_port

__all__ = ["SentinelGroup", "sentinel_group", "MASTER"]

MASTER = "sockethub"


def _binary() -> str:
    # Debian's 7.0 where installed, else whichever redis-server the stack uses.
    return (
        "/usr/bin/redis-server"
        if os.path.exists("/usr/bin/redis-server")
        else (shutil.which("redis-server") or redis_server_binary())
    )


@dataclass
class SentinelGroup:
    folder: Path
    down_after_ms: int = 1000
    primary_port: int = field(default_factory=free_port)
    replica_port: int = field(default_factory=free_port)
    sentinel_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    def _start(self, name: str, args: list[str], port: int) -> None:
        log = open(self.folder / f"{name}.log", "ab")
        proc = subprocess.Popen([_binary(), *args], stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        wait_port(port, proc)

    def _server(self, name: str, port: int, *extra: str) -> None:
        data = self.folder / name
        data.mkdir(exist_ok=True)
        args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._start(name, [*args, "--dir", str(data), *extra], port)

    def start(self) -> SentinelGroup:
        self._server("primary", self.primary_port)
        self._server(
            "replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port)
        )
        for i, port in enumerate(self.sentinel_ports):
            conf = self.folder / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            self._start(f"sentinel{i}", [str(conf), "--sentinel"], port)
        self.wait_ready()
        return self

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[index], socket_timeout=2, decode_responses=True)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until every Sentinel knows the replica and the two other Sentinels, and the
        replica is in sync: only then can they agree on a failover."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [self.sentinel(i).sentinel_master(MASTER) for i in range(3)]
                replica = redis.Redis(port=self.replica_port, socket_timeout=2).info("replication")
            except redis.RedisError:
                states, replica = [], {}
            if (
                states
                and all(s["num-other-sentinels"] == 2 and s["num-slaves"] == 1 for s in states)
                and replica.get("master_link_status") == "up"
            ):
                return
            time.sleep(0.2)
        raise AssertionError(f"Sentinel group not ready in {timeout} s: {self.folder}")

    def primary(self) -> tuple[str, int]:
        """Where the Sentinels say the primary is now."""
        host, port = self.sentinel().sentinel_get_master_addr_by_name(MASTER)
        return host, int(port)

    def kill_primary(self) -> None:
        proc = self.procs["primary"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def wait_promoted(self, timeout: float = 30) -> float:
        """Seconds until every Sentinel names the replica as the primary."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            with contextlib.suppress(redis.RedisError):
                if all(
                    int(self.sentinel(i).sentinel_get_master_addr_by_name(MASTER)[1])
                    == self.replica_port
                    for i in range(3)
                ):
                    return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"no failover in {timeout} s: {self.folder}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextlib.contextmanager
def sentinel_group(folder: Path, down_after_ms: int = 1000) -> Iterator[SentinelGroup]:
    group = SentinelGroup(folder, down_after_ms)
    try:
        yield group.start()
    finally:
        group.stop()
