"""deploy/grafana/sockethub.json and deploy/prometheus/alerts.yml parse, and every metric
they use is one ``/metrics`` serves (``gateway.metrics.metric_names``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from gateway.metrics import metric_names

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
METRIC = re.compile(r"\bsockethub_[a-z0-9_]+\b")


def _used(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC.findall(expr)}


def test_the_dashboard_parses_and_uses_only_served_metrics():
    dash = json.loads((DEPLOY / "grafana" / "sockethub.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs and all(p["title"] for p in dash["panels"])
    used = _used(exprs)
    assert used - metric_names() == set()
    # Every worker metric is on it, and the gateway's figures too.
    assert {n for n in metric_names() if n.startswith("sockethub_worker_")} <= used
    assert {"sockethub_up", "sockethub_http_actions_total", "sockethub_queue_depth"} <= used


def test_the_alert_rules_parse_and_use_only_served_metrics():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    listed = [r for g in rules["groups"] for r in g["rules"]]
    for rule in listed:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    assert _used([r["expr"] for r in listed]) - metric_names() == set()
    names = {r["alert"] for r in listed}
    assert {
        "SockethubNoWorkerConnections",
        "SockethubReconnectStorm",
        "SockethubQueueWaitHigh",
        "SockethubRedisLatencyHigh",
        "SockethubGateway5xx",
        "SockethubSocketsClosed",
    } <= names


def test_a_misspelt_metric_would_be_caught():
    assert _used(["rate(sockethub_worker_reconect_total[5m])"]) - metric_names()
