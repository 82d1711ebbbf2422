"""Connection records across a secret rotation (docs/deployment.md, "Rotating the secret")."""

from __future__ import annotations

from typing import Any

import pytest

from envelopes import keys
from envelopes.atrest import AtRest
from envelopes.errors import SockethubError
from envelopes.sealing import Keyring, server_key
from envelopes.vault import Vault
from tasks.records import Records

OLD, NEW = "old-secret-0123456789", "new-secret-0123456789"
ACTOR = {"id": "ann@irc.example.org", "type": "person"}


def _records(redis: Any, secret: str, previous: str = "") -> Records:
    ring = Keyring.from_secrets(secret, previous)
    return Records("irc", redis, Vault(redis, ring), AtRest(redis, ring))


def test_a_record_sealed_under_the_old_secret_is_resealed_while_both_are_known(
    redis_client: Any,
) -> None:
    """Before: a record written under the old secret stayed so; once the rotation ended
    (SOCKETHUB_SECRET_PREVIOUS unset) a takeover could not open it and dropped the
    connection."""
    _records(redis_client, OLD).create("k1", ACTOR, "node-a")
    during = _records(redis_client, NEW, OLD)
    assert during.reseal("k1") is True
    assert during.reseal("k1") is False  # already current: nothing to do
    after = _records(redis_client, NEW)
    sealed = redis_client.hget(keys.connection("irc", "k1"), "actor")
    assert after.sealer.open_record("irc", "k1", sealed) == ACTOR


def test_without_a_previous_secret_nothing_is_resealed(redis_client: Any) -> None:
    _records(redis_client, OLD).create("k1", ACTOR, "node-a")
    before = redis_client.hget(keys.connection("irc", "k1"), "actor")
    assert _records(redis_client, OLD).reseal("k1") is False
    assert redis_client.hget(keys.connection("irc", "k1"), "actor") == before


def test_reseal_never_recreates_a_dropped_record(redis_client: Any) -> None:
    old = _records(redis_client, OLD)
    old.create("k1", ACTOR, "node-a")
    old.drop("k1")
    assert _records(redis_client, NEW, OLD).reseal("k1") is False
    assert not redis_client.exists(keys.connection("irc", "k1"))


def test_a_record_no_secret_opens_is_reported(redis_client: Any) -> None:
    _records(redis_client, "third-secret-0123456789").create("k1", ACTOR, "node-a")
    with pytest.raises(SockethubError):
        _records(redis_client, NEW, OLD).reseal("k1")


def test_server_key_is_what_the_keyring_uses() -> None:
    assert Keyring.from_secrets(NEW, OLD).previous == (server_key(OLD),)
