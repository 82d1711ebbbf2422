"""REDIS_URL naming Sentinels: parsed once, spelled for kombu, malformed ones refused."""

from __future__ import annotations

import pytest

from envelopes.redisurl import SentinelTarget, celery_broker, sentinel_target


def test_a_plain_url_is_not_a_sentinel_one_and_celery_gets_it_unchanged():
    assert sentinel_target("redis://127.0.0.1:6379/0") is None
    assert celery_broker("redis://:pw@127.0.0.1:6379/2") == ("redis://:pw@127.0.0.1:6379/2", {})


def test_sentinels_group_database_and_password():
    url = "redis+sentinel://:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:5000,[fe80::2]/mymaster/3"
    assert sentinel_target(url) == SentinelTarget(
        sentinels=(("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 5000), ("fe80::2", 26379)),
        master="mymaster",
        db=3,
        username=None,
        password="p@ss",
    )
    assert sentinel_target("REDIS+SENTINEL://h/m").db == 0  # type: ignore[union-attr]


def test_kombu_gets_one_sentinel_url_each_and_the_group_as_an_option():
    broker, options = celery_broker("redis+sentinel://user:pw@h1:26379,h2:26380/mymaster/1")
    assert broker == "sentinel://user:pw@h1:26379/1;sentinel://user:pw@h2:26380/1"
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"]["socket_timeout"] > 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h1:26379/",  # no group
        "redis+sentinel://h1:26379",
        "redis+sentinel://h1:x/m",  # bad port
        "redis+sentinel://,h2/m",  # empty address
        "redis+sentinel://h1/m/x",  # bad database
        "redis+sentinel://h1/m/0/extra",
    ],
)
def test_a_malformed_sentinel_url_says_the_form(url: str):
    with pytest.raises(ValueError, match=r"redis\+sentinel://\[:password@\]host1:26379"):
        sentinel_target(url)
