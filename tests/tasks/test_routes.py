from __future__ import annotations

from envelopes.registry import Platform, Registry, Verb, default_registry
from envelopes.settings import Settings
from tasks.app import make_celery, queues_for, routes_for


def test_routes_and_queues_generated_from_registry():
    reg = Registry([*default_registry(), Platform("extra", "x:Y", {"go": Verb("go")})])
    routes = routes_for(reg)
    assert routes["sockethub.platform.dummy"] == {"queue": "dummy", "routing_key": "dummy"}
    assert routes["sockethub.platform.extra"]["queue"] == "extra"
    assert [q.name for q in queues_for(reg)] == [*default_registry().names(), "extra"]


def test_one_task_per_platform():
    reg = Registry([*default_registry(), Platform("extra", "x:Y", {"go": Verb("go")})])
    app = make_celery(Settings(redis_url="redis://127.0.0.1:1/0"), reg)
    ours = sorted(n for n in app.tasks if n.startswith("sockethub."))
    platforms = [f"sockethub.platform.{n}" for n in [*default_registry().names(), "extra"]]
    # ... and the one that sends a file the gateway received on (tasks/uploads.py).
    assert ours == sorted([*platforms, "sockethub.upload"])


def test_registry_only_names_unknown():
    import pytest

    with pytest.raises(ValueError, match="unknown platform.*nope"):
        default_registry().only(["dummy", "nope"])
