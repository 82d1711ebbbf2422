"""The channel list: collected within its caps, searched and paged by cursor, and kept in
Redis sealed, with one lease per server."""

from __future__ import annotations

import pytest

from connectors.irc.lines import parse_line
from connectors.irc.roomcache import MemoryRoomCache, RedisRoomCache, server_name
from connectors.irc.rooms import Collector, Snapshot, page
from envelopes.errors import InvalidEnvelope


def collect(lines: list[str], max_channels: int = 100, max_bytes: int = 100_000) -> Collector:
    c = Collector(max_channels, max_bytes)
    for line in lines:
        c.take(parse_line(line))
    return c


def snapshot(n: int = 10) -> Snapshot:
    lines = [
        f":srv 322 me #c{i:02d} {i % 4} :[+nt] Topic {'Apple' if i % 3 == 0 else 'pear'}"
        for i in range(n)
    ]
    return Snapshot.of(collect([":srv 321 me Channel :Users Name", *lines, ":srv 323 me :End"]), 7)


def test_rooms_are_ordered_by_members_and_their_modes_left_out_of_the_topic():
    snap = snapshot(6)
    assert snap.rooms[:3] == [("#c03", 3, "Topic Apple"), ("#c02", 2, "Topic pear"),
                              ("#c01", 1, "Topic pear")]  # fmt: skip
    assert len(snap.rooms) == 6 and not snap.truncated


def test_the_caps_leave_the_rest_out_and_say_so():
    many = [f":srv 322 me #c{i} 1 :t" for i in range(50)]
    assert len(collect(many, max_channels=10).rooms) == 10
    by_bytes = collect(many, max_bytes=100)
    assert 0 < len(by_bytes.rooms) < 10 and by_bytes.truncated and by_bytes.seen == 50


def test_search_by_name_or_topic_and_page_by_cursor():
    snap = snapshot(30)
    first = page(snap, "irc.test", search="apple", limit=4)
    assert first["totalItems"] == 10 and len(first["items"]) == 4
    assert first["items"][0] == {
        "type": "room",
        "id": "#c03@irc.test",
        "name": "#c03",
        "summary": "Topic Apple",
        "members": 3,
    }
    seen = [i["name"] for i in first["items"]]
    cursor = first["next"]
    while cursor:
        more = page(snap, "irc.test", search="apple", limit=4, cursor=cursor)
        seen += [i["name"] for i in more["items"]]
        cursor = more["next"]
    assert sorted(seen) == sorted(f"#c{i:02d}" for i in range(0, 30, 3))
    assert page(snap, "irc.test", search="#C1")["totalItems"] == 10
    assert page(snap, "irc.test", limit=10_000)["next"] is None  # at most 500 a page


def test_a_cursor_that_is_not_ours_is_refused_naming_the_field():
    with pytest.raises(InvalidEnvelope) as exc:
        page(snapshot(), "irc.test", cursor="garbage")
    assert exc.value.path == "object.cursor"


def test_redis_keeps_the_list_sealed_with_one_lease_per_server(redis_client):
    cache = RedisRoomCache(redis_client, "a secret of sixteen+ chars")
    server = server_name("IRC.Example.org.", 6697)
    assert server == "irc.example.org:6697" and cache.get(server) is None
    token = cache.lease(server)
    assert token is not None and cache.lease(server) is None  # one LIST at a time
    snap = snapshot(20)
    cache.put(server, snap, ttl=60)
    cache.release(server, token)
    assert cache.lease(server) is not None  # released
    stored = b"".join(v for k in redis_client.scan_iter("sh:irclist:*:s") for v in
                      redis_client.hvals(k))  # fmt: skip
    assert stored and b"Topic" not in stored and b"#c1" not in stored
    fresh = RedisRoomCache(redis_client, "a secret of sixteen+ chars")  # another process
    assert fresh.get(server) == snap
    other = RedisRoomCache(redis_client, "another secret, 16+ chars")
    assert other.get(server) is None  # not opened under another secret: fetched again
    assert 0 < redis_client.pttl(next(redis_client.scan_iter("sh:irclist:*:s"))) <= 60_000


def test_the_memory_twin_expires_and_leases_the_same_way():
    now = [0.0]
    cache = MemoryRoomCache(clock=lambda: now[0])
    token = cache.lease("s")
    assert token and cache.lease("s") is None
    cache.put("s", snapshot(), ttl=10)
    cache.release("s", token)
    assert cache.get("s") is not None and cache.lease("s") is not None
    now[0] = 11
    assert cache.get("s") is None


def test_the_holder_renews_its_lease_with_the_count_so_far(redis_client):
    cache = RedisRoomCache(redis_client, "a secret of sixteen+ chars")
    assert cache.progress("s:1") is None  # no LIST runs
    token = cache.lease("s:1")
    assert token is not None and cache.progress("s:1") == 0
    lease = next(k for k in redis_client.scan_iter("sh:irclist:*:l"))
    redis_client.pexpire(lease, 500)
    cache.renew("s:1", token, 1234)
    assert cache.progress("s:1") == 1234 and redis_client.pttl(lease) > 50_000
    cache.renew("s:1", "not the holder", 99)
    assert cache.progress("s:1") == 1234
    cache.release("s:1", token)
    assert cache.progress("s:1") is None and cache.lease("s:1") is not None


def test_the_memory_twin_renews_and_reports_progress_too():
    now = [0.0]
    cache = MemoryRoomCache(clock=lambda: now[0])
    token = cache.lease("s")
    assert token is not None and cache.progress("s") == 0
    now[0] = 50
    cache.renew("s", token, 7)
    now[0] = 100  # past the first lease, within the renewed one
    assert cache.progress("s") == 7 and cache.lease("s") is None
    now[0] = 200  # its holder died: the lease lapsed
    assert cache.progress("s") is None and cache.lease("s") is not None
