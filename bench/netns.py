"""Hosts on one machine: network namespaces, a switch, and the faults a network has.

``Net`` makes, for one run, a "switch" namespace holding a Linux bridge and one namespace
per host, each joined to the bridge by a veth pair (``eth0`` inside the host) with an
address from a random 10.x.y.0/24 chosen here. Nothing is added to the namespace this
process runs in: no interface, no address, no rule. Every name carries the run's prefix
and a short random id, so two runs never collide, and ``cleanup_stale`` removes what a
run that died left behind (its owner's pid is written next to the logs).

Faults, inside the hosts' namespaces (nothing to undo when they are deleted):

- ``partition(a, b, ...)``: nftables drops every packet between ``a`` and each other host,
  both ways (TCP retransmits into silence, as across a real cut; nothing is refused).
- ``loss(host, percent)``: ``numgen random mod 100 < N drop``, in and out of ``host``.
- ``delay(host, ms)``: ``tc netem``, only where the kernel has it (``CONFIG_NET_SCH_NETEM``).
  Some kernels (firecracker's) are built without it: then ``delay`` raises
  ``NetemUnavailable`` saying so. Latency is never faked with something else.

How the test process reaches the hosts: ``entered(host)`` moves the calling thread (and
the threads it starts while there) into a host's namespace with ``setns(2)``; sockets made
there stay there, whatever thread uses them later. ``exec_argv(host, argv)`` is the
command line that runs a program in a host (``ip netns exec``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import random
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Host", "Net", "NetemUnavailable", "cleanup_stale", "RUNS"]

CLONE_NEWNET = 0x40000000
# Where a run writes its owner's pid and keeps its logs: a run whose owner is gone is stale.
RUNS = Path(tempfile.gettempdir()) / "sockethub-fleet"
_libc = ctypes.CDLL(None, use_errno=True)


class NetemUnavailable(RuntimeError):
    """The kernel has no netem qdisc: latency cannot be added on this machine."""


def _run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def _setns(path: str) -> None:
    with open(path) as f:
        if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")


@dataclass
class Host:
    name: str
    ns: str  # the namespace's name (/run/netns/<ns>)
    addr: str


@dataclass
class Net:
    prefix: str = "shfleet"
    id: str = field(default_factory=lambda: secrets.token_hex(3))
    hosts: dict[str, Host] = field(default_factory=dict)
    subnet: ipaddress.IPv4Network = field(init=False)
    _cuts: set[frozenset[str]] = field(default_factory=set)
    _loss: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        used = _run(["ip", "-4", "-o", "addr"]) + _run(["ip", "-4", "route"])
        while True:  # an unused 10.x.y.0/24: clearer logs, though no route crosses over
            x, y = random.randint(64, 250), random.randint(1, 254)
            net = ipaddress.IPv4Network(f"10.{x}.{y}.0/24")
            if f"{net.network_address}"[:-1] not in used:
                break
        self.subnet = net
        self.switch = f"{self.prefix}{self.id}-switch"

    @property
    def pidfile(self) -> Path:
        return RUNS / f"{self.prefix}{self.id}.pid"

    def create(self) -> Net:
        RUNS.mkdir(exist_ok=True)
        self.pidfile.write_text(str(os.getpid()))
        _run(["ip", "netns", "add", self.switch])
        _run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        return self

    def add_host(self, name: str) -> Host:
        """A namespace joined to the switch, with the next address of the subnet."""
        assert len(name) <= 12 and name not in self.hosts, name  # veth names: 15 characters
        ns = f"{self.prefix}{self.id}-{name}"
        addr = str(self.subnet.network_address + 2 + len(self.hosts))
        _run(["ip", "netns", "add", ns])
        port = f"v-{name}"
        # Made inside the switch with its peer created in the host: never in our namespace.
        _run(
            ["ip", "-n", self.switch, "link", "add", port, "type", "veth"]
            + ["peer", "name", "eth0", "netns", ns]
        )
        _run(["ip", "-n", self.switch, "link", "set", port, "master", "br0", "up"])
        _run(["ip", "-n", ns, "addr", "add", f"{addr}/{self.subnet.prefixlen}", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        host = self.hosts[name] = Host(name, ns, addr)
        self._rules(name)
        return host

    def addr(self, name: str) -> str:
        return self.hosts[name].addr

    def exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[name].ns, *argv]

    @contextlib.contextmanager
    def entered(self, name: str) -> Iterator[None]:
        """The calling thread inside ``name``'s namespace, then back where it was."""
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(f"/run/netns/{self.hosts[name].ns}")
            yield
        finally:
            try:
                if _libc.setns(back, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the caller's namespace")
            finally:
                os.close(back)

    # -- faults --------------------------------------------------------------------------

    def partition(self, a: str, *others: str) -> None:
        """Nothing passes between ``a`` and each of ``others``, either way."""
        for b in others:
            self._cuts.add(frozenset((a, b)))
        for name in (a, *others):
            self._rules(name)

    def heal(self, a: str | None = None, *others: str) -> None:
        """Undo ``partition(a, *others)``; with no arguments, every partition."""
        touched = set(self.hosts) if a is None else {a, *others}
        if a is None:
            self._cuts.clear()
        else:
            self._cuts -= {frozenset((a, b)) for b in others}
        for name in touched:
            self._rules(name)

    def loss(self, name: str, percent: int) -> None:
        """Drop ``percent`` % of the packets into and out of ``name`` (0: none)."""
        assert 0 <= percent <= 100, percent
        self._loss[name] = percent
        self._rules(name)

    def delay(self, name: str, ms: float, jitter_ms: float = 0) -> None:
        """Latency on ``name``'s link, with netem; raises ``NetemUnavailable`` without it."""
        argv = ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", f"{ms}ms"]
        if jitter_ms:
            argv.append(f"{jitter_ms}ms")
        done = subprocess.run(
            self.exec_argv(name, argv), capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            if "unknown" in done.stderr.lower() or "not supported" in done.stderr.lower():
                raise NetemUnavailable(
                    "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is not set, and no "
                    f"module can be loaded): latency cannot be added ({done.stderr.strip()}); "
                    "partitions and loss (nftables) still work"
                )
            raise RuntimeError(f"tc netem on {name}: {done.stderr.strip()}")

    def _rules(self, name: str) -> None:
        """Write ``name``'s whole ruleset again from the partitions and loss asked for."""
        peers = sorted(
            self.hosts[other].addr
            for cut in self._cuts
            if name in cut
            for other in cut - {name}
            if other in self.hosts
        )
        rules = ["table inet fleet", "delete table inet fleet", "table inet fleet {"]
        for hook, direction in (("input", "saddr"), ("output", "daddr")):
            rules.append(f"  chain {hook} {{ type filter hook {hook} priority 0; policy accept;")
            if peers:
                rules.append(f"    ip {direction} {{ {', '.join(peers)} }} drop")
            if self._loss.get(name):
                dev = "iifname" if hook == "input" else "oifname"
                rules.append(f'    {dev} "eth0" numgen random mod 100 < {self._loss[name]} drop')
            rules.append("  }")
        rules.append("}")
        _run(self.exec_argv(name, ["nft", "-f", "-"]), stdin="\n".join(rules) + "\n")

    # -- the end -------------------------------------------------------------------------

    def destroy(self) -> None:
        """Every process still in our namespaces, then the namespaces (links go with them)."""
        names = [h.ns for h in self.hosts.values()] + [self.switch]
        _kill_inside(names)
        for ns in names:
            _run(["ip", "netns", "delete", ns], check=False)
        self.hosts.clear()
        with contextlib.suppress(OSError):
            self.pidfile.unlink()


def _kill_inside(namespaces: Sequence[str]) -> None:
    for ns in namespaces:
        for pid in _run(["ip", "netns", "pids", ns], check=False).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(prefix: str = "shfleet") -> list[str]:
    """Remove the namespaces (and their processes) of earlier runs whose owner is gone;
    return their names. A run still going (its owner's pid alive) is left alone."""
    stale = []
    for line in _run(["ip", "netns", "list"], check=False).splitlines():
        ns = line.split()[0] if line.split() else ""
        if not ns.startswith(prefix) or "-" not in ns:
            continue
        run = ns.split("-", 1)[0]
        pidfile = RUNS / f"{run}.pid"
        try:
            if _alive(int(pidfile.read_text())):
                continue
        except (OSError, ValueError):
            pass
        stale.append(ns)
    _kill_inside(stale)
    for ns in stale:
        _run(["ip", "netns", "delete", ns], check=False)
        with contextlib.suppress(OSError):
            (RUNS / f"{ns.split('-', 1)[0]}.pid").unlink()
    return stale
