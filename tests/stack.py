"""The real system, started by the test suite: Redis, Celery workers, gateway processes.

Every part is a real process started the way users start it (``sockethub web``,
``sockethub worker``), bound to 127.0.0.1 on free ports.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from envelopes.redisclient import redis_client
from envelopes.redisurl import celery_broker
from gateway.cli import start_private_redis

__all__ = ["Stack", "free_port", "reap_stopped", "wait_port", "SECRET"]

SECRET = "test-secret-0123456789abcdef"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open within {timeout} s")


# Stacks told to stop whose processes are still ending: ``stop`` does not wait for them
# (a gunicorn gevent worker notices SIGTERM only on its next 1 s tick), the next test runs
# meanwhile; the session's end waits for all (``reap_stopped``, tests/conftest.py).
_REAPERS: list[threading.Thread] = []


def reap_stopped(timeout: float = 30) -> None:
    """Wait until every stopped stack's processes and Redis have ended."""
    deadline = time.monotonic() + timeout
    while _REAPERS:
        _REAPERS.pop().join(max(0.0, deadline - time.monotonic()))


@dataclass
class Stack:
    env_overrides: dict[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ("dummy",)
    redis_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateways: list[int] = field(default_factory=list)
    logdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="sockethub-test-"))
    redis_persist: bool = True  # the private Redis's append-only file (a restart keeps all)
    # Workers at the level asked, not INFO (benchmarks: Celery's per-task INFO lines would be
    # part of their figures); ``wait_worker`` then knows them ready by a ping.
    quiet_workers: bool = False
    # More worker nodes started with the others, as (platform, name): a second node for
    # the failover tests, no slower to start than one.
    more_workers: tuple[tuple[str, str], ...] = ()
    _redis_proc: Any = None
    _redis_dir: str = ""

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REDIS_URL=self.redis_url,
            SOCKETHUB_SECRET=SECRET,
            SOCKETHUB_PLATFORMS=",".join(self.platforms),
            SOCKETHUB_ALLOW_PRIVATE_ADDRESSES="true",
            # Every test client comes from 127.0.0.1: no per-address limits unless a test
            # sets them (tests/integration/test_rate_limits.py).
            SOCKETHUB_MAX_SOCKETS_PER_ADDRESS="0",
            SOCKETHUB_NEW_SESSIONS_PER_MINUTE="0",
            # Likewise no connect governor unless a test sets one (tests/integration/
            # test_governor.py): every test IRC connection shares one server and address.
            SOCKETHUB_UPSTREAM_MAX_PER_BROWSER="0",
            SOCKETHUB_UPSTREAM_CONNECT_RATE="0",
            # No balancer in front unless a test puts one (tests/integration/test_haproxy.py).
            SOCKETHUB_DRAIN_SECONDS="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env_overrides)
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateways[0]}"

    @property
    def ws_url(self) -> str:
        return self.ws_url_of(0)

    def ws_url_of(self, index: int) -> str:
        return f"ws://127.0.0.1:{self.gateways[index]}/sockethub"

    def redis(self) -> redis.Redis:
        # The project's factory: a Sentinel URL (tests/servers/sentinel.py) works too.
        return redis_client(self.redis_url, timeout=10, max_connections=16)

    def outbox(self, maxlen: int = 2000) -> Any:
        """An outbox writing into this stack's sessions as a worker would (sealed, with the
        stack's stream bounds)."""
        from envelopes.atrest import AtRest
        from envelopes.outbox import Outbox
        from envelopes.sealing import server_key
        from envelopes.settings import Settings

        r = self.redis()
        limits = Settings.from_env(self.env)
        return Outbox(
            r,
            maxlen,
            max_bytes=limits.stream_max_bytes,
            max_frame=limits.max_reply_bytes,
            sealer=AtRest(r, server_key(SECRET)),
        )

    def start(self) -> Stack:
        if not self.redis_url:  # else the test's own Redis (a Sentinel group, ...)
            self._redis_proc, self.redis_url, self._redis_dir = start_private_redis(
                persist=self.redis_persist
            )
        # Every process at once, then each waited for: they start in parallel (most of a
        # start is importing Celery or Flask), and a test finds them all ready either way.
        nodes = [self._spawn_worker(p) for p in self.platforms]
        nodes += [self._spawn_worker(p, name) for p, name in self.more_workers]
        port = self._spawn_gateway()
        for node in nodes:
            self.wait_worker(node)
        self._wait_gateway(port)
        return self

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None):
        log = open(os.path.join(self.logdir, f"{name}.log"), "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args],
            cwd=ROOT,  # never a folder whose files shadow libraries (bench/irc.py)
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def start_gateway(self, **env: str) -> int:
        port = self._spawn_gateway(**env)
        self._wait_gateway(port)
        return port

    def _spawn_gateway(self, **env: str) -> int:
        port = free_port()
        e = self.env
        e.update(SOCKETHUB_PORT=str(port), **env)
        self._spawn(f"web{len(self.gateways)}", ["web"], e)
        self.gateways.append(port)
        return port

    def _wait_gateway(self, port: int) -> None:
        wait_port(port, self.procs[f"web{self.gateways.index(port)}"])

    def start_worker(self, platform: str, name: str | None = None, **env: str) -> str:
        node = self._spawn_worker(platform, name, **env)
        self.wait_worker(node)
        return node.split("@")[0]

    def _spawn_worker(self, platform: str, name: str | None = None, **env: str) -> str:
        name = name or f"worker-{platform}"
        node = f"{name}@127.0.0.1"
        e = self.env
        e.update(env)
        # Workers log at INFO into their file whatever the test asked: ``wait_worker`` reads
        # Celery's "ready." line, which a quieter worker does not print.
        level = e.get("SOCKETHUB_LOG_LEVEL", "INFO").upper()
        if not self.quiet_workers and level not in ("DEBUG", "INFO"):
            e["SOCKETHUB_LOG_LEVEL"] = "INFO"
        self._spawn(name, ["worker", platform, "-c", "4", "-n", node], e)
        return node

    def wait_worker(self, node: str, timeout: float = 30) -> None:
        """Until the worker's log says it is ready, or it answers a remote-control ping
        (Celery says " ready." only at INFO; it answers pings once its ready handlers ran)."""
        import kombu.exceptions
        import redis as redis_lib
        from celery import Celery

        control = None
        name = node.split("@")[0]
        path = os.path.join(self.logdir, f"{name}.log")
        deadline = time.time() + timeout
        while time.time() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
            with open(path, "rb") as f:
                if b" ready." in f.read():
                    return
            if control is None:
                broker, options = celery_broker(self.redis_url)
                celery = Celery(broker=broker)
                celery.conf.broker_transport_options = options
                control = celery.control
            try:
                if control.ping(destination=[node], timeout=0.3):
                    return
            except (OSError, redis_lib.RedisError, kombu.exceptions.KombuError):
                # The broker dropped the reply connection (seen once in CI): ask again on
                # a new one; the deadline still applies.
                control = None
                time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout} s: {self.log(name)[-2000:]}")

    def log(self, name: str) -> str:
        with open(os.path.join(self.logdir, f"{name}.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=20)

    def restart_redis(self, down: float = 1.0, while_down: Any = None) -> None:
        """Stop the stack's Redis (SIGTERM: it shuts down as a restart does), leave it down
        ``down`` seconds (calling ``while_down()`` first), start it again on the same port
        and data directory."""
        self._redis_proc.terminate()
        self._redis_proc.wait(timeout=10)
        if while_down is not None:
            while_down()
        time.sleep(down)
        port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self._redis_proc, _, _ = start_private_redis(
            port, workdir=self._redis_dir, persist=self.redis_persist
        )

    def stop(self, wait: bool = False) -> None:
        """SIGTERM to every process; they end (and then the private Redis) in the
        background unless ``wait``: nothing a test asserts comes after its stack's stop."""
        procs, self.procs = list(self.procs.values()), {}
        redis_proc, self._redis_proc = self._redis_proc, None
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

        def reap() -> None:
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(timeout=10)

        if wait:
            reap()
            return
        reaper = threading.Thread(target=reap, name="stack-reaper", daemon=True)
        reaper.start()
        _REAPERS.append(reaper)
