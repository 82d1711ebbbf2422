"""IRCv3 sts: the capability's value, what a connection does with it, and the policy
stores (Redis and its in-memory twin). The upgrade itself: tests/integration/test_irc_sts.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import redis

from connectors.irc.sts import MemoryStsStore, RedisStsStore, StsUpgrade, on_caps, parse
from envelopes import keys

from .test_client import run  # asyncio.run off the main thread (Playwright runs a loop there)


def test_the_value_is_read_and_other_caps_ignored():
    assert parse(["server-time", "sts=port=6697,duration=300,preload"]) == {
        "port": "6697",
        "duration": "300",
        "preload": "",
    }
    assert parse(["server-time"]) is None


def up(secure: bool, verify: bool = True, store=None) -> SimpleNamespace:
    return SimpleNamespace(
        host="irc.example.org", port=6697, secure=secure, verify=verify, sts=store
    )


def test_plaintext_with_a_port_upgrades_and_without_one_does_not():
    with pytest.raises(StsUpgrade) as upgrade:
        run(on_caps(up(False), ["sts=port=7000"]))
    assert upgrade.value.port == 7000
    run(on_caps(up(False), ["sts=duration=300"]))  # no port: ignored (sts §2.1)
    run(on_caps(up(False), ["sts=port=99999"]))  # not a port: ignored


def test_tls_remembers_refreshes_and_a_zero_duration_removes():
    now = [0.0]
    store = MemoryStsStore(clock=lambda: now[0])
    run(on_caps(up(True, store=store), ["sts=duration=300"]))
    assert store.get("IRC.example.org") == 6697
    now[0] = 299.0
    run(on_caps(up(True, store=store), ["sts=duration=300"]))  # refreshed
    now[0] = 500.0
    assert store.get("irc.example.org") == 6697
    run(on_caps(up(True, store=store), ["sts=duration=0"]))
    assert store.get("irc.example.org") is None


def test_an_unverified_tls_connection_stores_no_policy():
    store = MemoryStsStore()
    run(on_caps(up(True, verify=False, store=store), ["sts=duration=300"]))
    assert store.get("irc.example.org") is None


def test_the_redis_store_expires_with_the_policy(redis_url):
    client = redis.Redis.from_url(redis_url)
    store = RedisStsStore(client)
    store.put("Irc.Example.ORG", 6697, 120)
    assert store.get("irc.example.org") == 6697
    assert 0 < client.ttl(keys.irc_sts("irc.example.org")) <= 120
    store.put("irc.example.org", 6697, 0)
    assert store.get("irc.example.org") is None
    assert client.exists(keys.irc_sts("irc.example.org")) == 0
