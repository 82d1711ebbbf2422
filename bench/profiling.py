"""Where a benchmark phase's CPU goes: py-spy on each Python server process, Redis's own
per-command counters, and a summary of both as Markdown tables (bench/profile.md).

    python bench/echo.py --profile /tmp/prof    # then read /tmp/prof/summary.md

py-spy (``pip install py-spy``) samples a running process from outside, so the servers run
unchanged; ``--gil`` keeps only the samples of a thread holding the GIL: moments the
process ran Python, not waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from typing import Any

import redis

__all__ = ["Profiler", "summarise_stacks", "summarise_redis"]

RATE = 250  # samples a second: enough for a 10 s phase, light on a 2-core machine


def _is_python(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"python" in f.read().split(b"\0")[0]
    except OSError:
        return False


class Profiler:
    """py-spy on every Python process of ``pids`` (kind -> pids) and Redis's commandstats,
    from ``start`` to ``stop``; ``stop`` writes ``summary.md`` into ``outdir``."""

    def __init__(self, outdir: str, pids: dict[str, list[int]], redis_url: str):
        self.outdir = outdir
        self.pids = pids
        self.redis = redis.Redis.from_url(redis_url)
        self.spies: list[tuple[str, int, subprocess.Popen[bytes]]] = []
        self.before: dict[str, dict[str, Any]] = {}
        os.makedirs(outdir, exist_ok=True)

    def start(self) -> None:
        for kind, pids in self.pids.items():
            for pid in filter(_is_python, pids):
                out = os.path.join(self.outdir, f"{kind}-{pid}.txt")
                cmd = ["py-spy", "record", "--pid", str(pid), "--rate", str(RATE)]
                cmd += [
                    "--format",
                    "raw",
                    "--nolineno",
                    "--threads",
                    "--gil",
                    "--nonblocking",
                    "-o",
                    out,
                ]
                spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.spies.append((kind, pid, spy))
        self.before = self.redis.info("commandstats")

    def stop(self) -> str:
        after = self.redis.info("commandstats")
        for _, _, spy in self.spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        parts = []
        for kind, pid, spy in self.spies:
            spy.wait(timeout=60)
            path = os.path.join(self.outdir, f"{kind}-{pid}.txt")
            if os.path.exists(path) and os.path.getsize(path):
                with open(path) as f:
                    parts.append(f"## {kind} (pid {pid})\n\n{summarise_stacks(f.read())}")
        parts.append(f"## redis\n\n{summarise_redis(self.before, after)}")
        summary = os.path.join(self.outdir, "summary.md")
        with open(summary, "w") as f:
            f.write("\n\n".join(parts) + "\n")
        return summary


OURS = ("envelopes", "gateway", "tasks", "connectors")


def _where(frame: str) -> tuple[str, str, str]:
    """(function, path, top-level module) of a py-spy frame "name (path)", its path already
    short (``redis/client.py``); our own modules are marked ``(ours)``."""
    name, _, path = frame.partition(" (")
    path = path.removesuffix(")")
    module = path.split("/", 1)[0].removesuffix(".py")
    return name, path, f"{module} (ours)" if module in OURS else module


def summarise_stacks(raw: str, top: int = 12) -> str:
    """Tables from py-spy's raw (collapsed) output, each as a % of all samples: samples on
    each package (self), on each function (self), and inside each of our own functions
    (inclusive: what it costs with everything it calls)."""
    packages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_where(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        total += n
        name, short, package = frames[-1]
        packages[package] += n
        own[f"{name} ({short})"] += n
        for name, short, _ in {f for f in frames if f[2].endswith("(ours)")}:
            ours[f"{name} ({short})"] += n
    if not total:
        return "(no samples)"

    def table(title: str, counts: Counter[str], code: bool = True) -> str:
        rows = [f"| {title} | % of samples |", "| --- | ---: |"]
        for f, n in counts.most_common(top):
            rows.append(f"| {f'`{f}`' if code else f} | {100 * n / total:.1f} |")
        return "\n".join(rows)

    return "\n\n".join(
        [
            f"{total} samples holding the GIL",
            table("package (self)", packages, code=False),
            table("function (self)", own),
            table("our function (inclusive)", ours),
        ]
    )


def summarise_redis(before: dict[str, Any], after: dict[str, Any], top: int = 12) -> str:
    """Redis's own time per command over the phase (``INFO commandstats``), busiest first."""
    rows = []
    for name, stat in after.items():
        prev = before.get(name, {"calls": 0, "usec": 0})
        calls, usec = stat["calls"] - prev["calls"], stat["usec"] - prev["usec"]
        if calls:
            rows.append((usec, calls, name.removeprefix("cmdstat_")))
    rows.sort(reverse=True)
    spent = sum(r[0] for r in rows) or 1
    lines = [
        "| command | calls | µs per call | % of command time |",
        "| --- | ---: | ---: | ---: |",
    ]
    for usec, calls, name in rows[:top]:
        lines.append(f"| `{name}` | {calls} | {usec / calls:.1f} | {100 * usec / spent:.1f} |")
    return "\n".join(lines)
