"""The namespaced fleet (bench/fleetnet.py) for the slow tier: one per module, as root.

``fleet_of(**kw)`` starts a ``Fleet`` and moves the test's main thread into its ``client``
host for the module (threads the test starts are there too); without root, ``ip netns``
or ``nft`` the test is skipped, saying what it needs (failed under ``CI``). A failing
test prints the tail of every process's log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from bench.fleetnet import Fleet
from tests.servers.common import missing

WHAT = "the fleet tests need root, iproute2 (`ip netns`) and nftables (`nft`)"


def need_namespaces() -> None:
    if os.geteuid() != 0:
        missing(WHAT, "run them as root (CI does)")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("haproxy", "haproxy")):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            missing(WHAT, f"apt-get install {package}")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        missing(WHAT, f"`ip netns` failed here: {probe.stderr.strip()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        fleet = getattr(item.module, "_running_fleet", None)
        if fleet is not None:
            report.sections.append(("fleet logs", fleet.tails()))


def fleet_of(module: Any, **kw: Any) -> Iterator[Fleet]:
    """The body of a module's ``fleet`` fixture."""
    need_namespaces()
    with Fleet(**kw) as fleet, fleet.client():
        module._running_fleet = fleet
        try:
            yield fleet
        finally:
            module._running_fleet = None
