"""A fleet on one machine: every part in its own network namespace (bench/netns.py).

    with Fleet(gateways=2, nodes=2) as fleet, fleet.client():
        session = EchoSession(fleet.ws_url, sslopt=INSECURE)   # through HAProxy
        fleet.restart("gw1")                                   # SIGTERM, drain, start
        fleet.partition("node1", *fleet.redis_hosts)           # nftables, both ways

Hosts (one namespace each, all on one bridge in a "switch" namespace, addresses from a
random 10.x.y.0/24 used only inside them): ``redis1`` (the Redis primary and a Sentinel),
``redis2`` (the replica and a Sentinel), ``sentinel3``, ``irc`` (ngircd), ``gw1``..
(gateways, ``python -m gateway.cli web`` on port 8080), ``node1``.. (worker nodes: one
Celery worker for every platform, ``python -m gateway.cli worker``), ``lb`` (HAProxy from
deploy/haproxy/haproxy.cfg, checked with ``haproxy -c``, on 80 and 443) and ``client``,
where the test's own sockets live: ``client()`` moves the calling thread there (setns;
threads it starts meanwhile are there too), and the test process itself gains no
interface or address. Processes are named as their hosts but for ``sentinel1`` and
``sentinel2`` (in ``redis1`` and ``redis2``), ``ngircd`` (in ``irc``) and ``haproxy``
(in ``lb``).

Everything made is removed on exit, after an exception, on SIGTERM (turned into
SystemExit) and at interpreter exit; a run that was killed outright is cleaned up by the
next one (``cleanup_stale``). Each process's console is a file in ``logdir``; ``tails()``
is what a failing test prints. Latency needs netem, which some kernels lack: ``delay``
then raises ``NetemUnavailable`` (bench/netns.py).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis as redis_lib

from bench.fleetproc import (
    MASTER,
    Proc,
    haproxy_config,
    haproxy_status,
    ngircd_files,
    sentinel_config,
    wait_tcp,
)
from bench.netns import RUNS, Net, NetemUnavailable, cleanup_stale

__all__ = ["Fleet", "NetemUnavailable", "SECRET", "cleanup_stale"]

ROOT = str(Path(__file__).resolve().parent.parent)
SECRET = "fleet-secret-0123456789abcdef"
GATEWAY_PORT = 8080


def _redis_binary() -> str:
    # Debian's (7.0, the one ``redis-sentinel`` runs) where installed.
    return "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else "redis-server"


class Fleet:
    def __init__(
        self,
        *,
        gateways: int = 2,
        nodes: int = 2,
        platforms: tuple[str, ...] = ("dummy", "irc"),
        sentinel: bool = True,
        irc: bool = True,
        haproxy: bool = True,
        env: dict[str, str] | None = None,
        drain: float = 3.0,
        inter_ms: int = 1000,
        down_after_ms: int = 1000,
        concurrency: int = 4,
        lb_maxconn: int = 20000,
        prefix: str = "shfleet",
    ) -> None:
        self.n_gateways, self.n_nodes, self.platforms = gateways, nodes, platforms
        self.sentinel, self.irc, self.haproxy = sentinel, irc, haproxy
        self.overrides = dict(env or {})
        self.drain, self.inter_ms, self.down_after_ms = drain, inter_ms, down_after_ms
        self.concurrency, self.prefix, self.lb_maxconn = concurrency, prefix, lb_maxconn
        self.procs: dict[str, Proc] = {}
        self.net = Net(prefix=prefix)
        self.logdir = RUNS / f"{prefix}{self.net.id}"
        self._closed = False
        self._old_term: Any = None

    # -- where things are ----------------------------------------------------------------

    def addr(self, host: str) -> str:
        return self.net.addr(host)

    @property
    def gateways(self) -> list[str]:
        return [f"gw{i + 1}" for i in range(self.n_gateways)]

    @property
    def nodes(self) -> list[str]:
        return [f"node{i + 1}" for i in range(self.n_nodes)]

    @property
    def redis_hosts(self) -> list[str]:
        """Every host holding Redis or a Sentinel: cut a host from all of them to cut it
        from Redis."""
        return ["redis1", "redis2", "sentinel3"] if self.sentinel else ["redis1"]

    @property
    def redis_url(self) -> str:
        if not self.sentinel:
            return f"redis://{self.addr('redis1')}:6379/0"
        hosts = ",".join(f"{self.addr(h)}:26379" for h in self.redis_hosts)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    @property
    def ws_url(self) -> str:
        """Through HAProxy, over TLS (its certificate is self-signed: ``INSECURE``)."""
        return f"wss://{self.addr('lb')}/sockethub"

    def gateway_url(self, name: str) -> str:
        return f"ws://{self.addr(name)}:{GATEWAY_PORT}/sockethub"

    @property
    def irc_server(self) -> tuple[str, int]:
        return self.addr("irc"), 6667

    @contextlib.contextmanager
    def client(self) -> Iterator[None]:
        """The calling thread in the ``client`` host until the block ends."""
        with self.net.entered("client"):
            yield

    def redis(self) -> redis_lib.Redis:
        """The project's Redis client for this fleet (connections are made in the calling
        thread's namespace: use it inside ``client()``)."""
        from envelopes.redisclient import redis_client

        return redis_client(self.redis_url, timeout=5, max_connections=16)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REDIS_URL=self.redis_url,
            SOCKETHUB_SECRET=SECRET,
            SOCKETHUB_PLATFORMS=",".join(self.platforms),
            SOCKETHUB_ALLOW_PRIVATE_ADDRESSES="true",  # the IRC server is on 10.x
            SOCKETHUB_MAX_SOCKETS_PER_ADDRESS="0",  # every browser comes from ``client``
            SOCKETHUB_NEW_SESSIONS_PER_MINUTE="0",
            SOCKETHUB_DRAIN_SECONDS=f"{self.drain:g}",
            SOCKETHUB_TRUSTED_PROXIES=self.addr("lb") if self.haproxy else "127.0.0.1",
            SOCKETHUB_LOG_LEVEL="INFO",  # a worker is known ready by Celery's " ready."
            PYTHONUNBUFFERED="1",
        )
        env.update(self.overrides)
        env.update(extra)
        return env

    # -- life ----------------------------------------------------------------------------

    def __enter__(self) -> Fleet:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Fleet:
        cleanup_stale(self.prefix)
        atexit.register(self.close)
        if threading.current_thread() is threading.main_thread():
            self._old_term = signal.signal(signal.SIGTERM, _exit_on_term)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.logdir.chmod(0o755)
        self.net.create()
        hosts = ["redis1", *(["redis2", "sentinel3"] if self.sentinel else [])]
        hosts += ["irc"] if self.irc else []
        hosts += [*self.gateways, *self.nodes, *(["lb"] if self.haproxy else []), "client"]
        for host in hosts:
            self.net.add_host(host)
        self._start_redis()
        if self.irc:
            self._start_ngircd()
        for node in self.nodes:
            self._add(node, node, self._worker_argv(node), env=self.env(), ready=self._worker_ready)
        for gw in self.gateways:
            env = self.env(SOCKETHUB_HOST=self.addr(gw), SOCKETHUB_PORT=str(GATEWAY_PORT))
            self._add(
                gw,
                gw,
                [sys.executable, "-m", "gateway.cli", "web"],
                env=env,
                ready=self._gateway_ready,
            )
        if self.haproxy:
            self._start_haproxy()
        return self

    def _add(self, name: str, host: str, argv: list[str], **kw: Any) -> Proc:
        proc = Proc(
            name, host, self.net.exec_argv(host, argv), self.logdir / f"{name}.log", cwd=ROOT, **kw
        )
        self.procs[name] = proc
        with self.client():
            proc.start()
        return proc

    def _start_redis(self) -> None:
        primary = self.addr("redis1")
        for i, host in enumerate(["redis1", "redis2"] if self.sentinel else ["redis1"]):
            data = self.logdir / f"redis{i + 1}"
            data.mkdir(exist_ok=True)
            argv = [_redis_binary(), "--port", "6379", "--bind", self.addr(host)]
            argv += ["--protected-mode", "no", "--save", "", "--appendonly", "no"]
            argv += ["--dir", str(data)]
            if i:
                argv += ["--replicaof", primary, "6379"]
            self._add(f"redis{i + 1}", host, argv, ready=_listening(self.addr(host), 6379))
        if not self.sentinel:
            return
        for i, host in enumerate(self.redis_hosts):
            conf = sentinel_config(
                self.logdir / f"sentinel{i + 1}", self.addr(host), primary, self.down_after_ms
            )
            argv = [_redis_binary(), str(conf), "--sentinel"]
            self._add(f"sentinel{i + 1}", host, argv, ready=_listening(self.addr(host), 26379))
        with self.client():
            self.wait_sentinels()

    def sentinel_client(self, index: int = 0) -> redis_lib.Redis:
        host = self.redis_hosts[index]
        return redis_lib.Redis(
            host=self.addr(host), port=26379, socket_timeout=2, decode_responses=True
        )

    def wait_sentinels(self, timeout: float = 30) -> None:
        """Until every Sentinel knows the replica and the others, and the replica is in sync."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [self.sentinel_client(i).sentinel_master(MASTER) for i in range(3)]
                replica = redis_lib.Redis(host=self.addr("redis2"), socket_timeout=2)
                replica_state = replica.info("replication")
            except redis_lib.RedisError:
                states, replica_state = [], {}
            if (
                states
                and all(s["num-other-sentinels"] == 2 and s["num-slaves"] == 1 for s in states)
                and replica_state.get("master_link_status") == "up"
            ):
                return
            time.sleep(0.2)
        raise RuntimeError(f"Sentinels not ready in {timeout} s:\n{self.tails()}")

    def primary(self) -> str:
        """The host the Sentinels name as the primary now (inside ``client()``)."""
        ip, _port = self.sentinel_client().sentinel_get_master_addr_by_name(MASTER)
        return next(h for h in self.net.hosts.values() if h.addr == ip).name

    def _start_ngircd(self) -> None:
        conf = ngircd_files(self.logdir / "ngircd", self.addr("irc"))
        check = self.net.exec_argv("irc", ["ngircd", "--configtest", "-f", str(conf)])
        done = subprocess.run(check, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        bad = [ln for ln in done.stdout.splitlines() if ln.startswith(f" - {conf}, line")]
        assert done.returncode == 0 and not bad, done.stdout + done.stderr
        ready = _listening(self.addr("irc"), 6667)
        self._add("ngircd", "irc", ["ngircd", "-n", "-f", str(conf)], ready=ready)

    def _worker_argv(self, node: str) -> list[str]:
        return [sys.executable, "-m", "gateway.cli", "worker", *self.platforms,
                "-c", str(self.concurrency), "-n", f"{node}@{node}"]  # fmt: skip

    def _worker_ready(self, proc: Proc, timeout: float = 60) -> None:
        start = proc.log.read_bytes().rfind(b"==== start ")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.running:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            if b" ready." in proc.log.read_bytes()[start:]:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} not ready in {timeout} s:\n{proc.tail()}")

    def _gateway_ready(self, proc: Proc) -> None:
        wait_tcp(self.addr(proc.host), GATEWAY_PORT, timeout=60, proc=proc)
        if self.haproxy and "haproxy" in self.procs:
            self.wait_lb(proc.host, "UP")

    def _start_haproxy(self) -> None:
        folder = self.logdir / "haproxy"
        gws = [self.addr(g) for g in self.gateways]
        cfg = haproxy_config(folder, self.addr("lb"), gws, self.inter_ms, self.lb_maxconn)
        checked = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        ready = _listening(self.addr("lb"), 443)
        self._add("haproxy", "lb", ["haproxy", "-db", "-f", str(cfg)], ready=ready)
        for gw in self.gateways:
            self.wait_lb(gw, "UP")

    def lb_status(self) -> dict[str, str]:
        return haproxy_status(self.logdir / "haproxy" / "admin.sock")

    def wait_lb(self, server: str, wanted: str, timeout: float = 30) -> float:
        """Seconds until HAProxy's health checks say ``server`` (gw1, ...) is ``wanted``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.lb_status().get(server) == wanted:
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"{server} not {wanted} in {timeout} s: {self.lb_status()}")

    # -- faults and deploys ---------------------------------------------------------------

    def partition(self, a: str, *others: str) -> None:
        self.net.partition(a, *others)

    def heal(self, a: str | None = None, *others: str) -> None:
        self.net.heal(a, *others)

    def loss(self, host: str, percent: int) -> None:
        self.net.loss(host, percent)

    def delay(self, host: str, ms: float, jitter_ms: float = 0) -> None:
        self.net.delay(host, ms, jitter_ms)

    def kill(self, name: str) -> None:
        """SIGKILL: the process vanishes as when its machine dies."""
        self.procs[name].kill()

    def stop(self, name: str, timeout: float | None = None) -> float:
        """SIGTERM and wait for the exit (a gateway drains first); the seconds taken."""
        return self.procs[name].stop(timeout)

    def start_proc(self, name: str) -> None:
        """Start ``name`` again (after ``stop``/``kill``) and wait until it is ready."""
        with self.client():
            self.procs[name].start()

    def restart(self, name: str) -> float:
        """``stop`` then ``start_proc``: one step of a rolling deploy; the seconds taken."""
        started = time.monotonic()
        self.stop(name)
        self.start_proc(name)
        return time.monotonic() - started

    def tails(self, chars: int = 2500) -> str:
        return "\n".join(
            f"----- {name} ({proc.log}):\n{proc.tail(chars)}" for name, proc in self.procs.items()
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for proc in self.procs.values():
            proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            while proc.running and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.kill()
        self.net.destroy()  # and whatever is still inside (gunicorn's children, ...)
        shutil.rmtree(self.logdir / "ngircd", ignore_errors=True)
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
        atexit.unregister(self.close)


def _listening(addr: str, port: int) -> Callable[[Proc], None]:
    def ready(proc: Proc) -> None:
        wait_tcp(addr, port, proc=proc)

    return ready


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so ``finally`` and ``__exit__`` run
