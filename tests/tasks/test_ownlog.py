"""The own log against a real Redis: pages by cursor, bounds dropping the oldest, the
blind search index, nothing readable at rest, and nothing left once the record is dropped."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from envelopes import keys
from envelopes.atrest import AtRest
from envelopes.sealing import Keyring
from envelopes.vault import Vault
from tasks.logsearch import search as search_log
from tasks.ownlog import Bounds, OwnLog
from tasks.records import Records

SECRET = "ownlog-secret-0123456789"
ROOM = {"type": "room", "id": "#chan@irc.test", "name": "#chan"}
ME = {"type": "person", "id": "ann@irc.test", "name": "ann"}


def _log(redis: Any, **bounds: int) -> tuple[OwnLog, Records]:
    ring = Keyring.from_secrets(SECRET)
    sealer = AtRest(redis, ring)
    records = Records("irc", redis, Vault(redis, ring), sealer)
    records.create("ck", ME, "node.dq")
    b = {"max_messages": 100, "max_bytes": 1 << 20, "max_conversations": 10, **bounds}
    return OwnLog("irc", redis, sealer, Bounds(**b)), records


def _msg(n: int, text: str = "", who: str = "bob", target: dict[str, Any] = ROOM) -> dict:
    return {
        "@context": ["x"],
        "type": "send",
        "actor": {"type": "person", "id": f"{who}@irc.test", "name": who},
        "target": target,
        "object": {"type": "message", "content": text or f"message {n}", "id": f"m{n}"},
        "published": f"2026-12-02T05:{n // 60:02d}:{n % 60:02d}.000Z",
    }


def _stored(redis: Any, log: OwnLog, conv: str) -> int:
    """Bytes of a conversation's chunks and indexes in Redis, measured, not as counted."""
    key = log.log_key("ck")
    assert key is not None
    prefix = log.prefix("ck", log.conversation(key, conv))
    return sum(len(v) for part in (":c", ":x") for v in redis.hvals(prefix + part))


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["object"]["id"] for i in items]


def test_pages_by_cursor_oldest_first(redis_client: Any) -> None:
    log, _ = _log(redis_client)
    log.record([("ck", _msg(n), False) for n in range(50)])
    log.record([("ck", _msg(7), False)])  # the same message again: logged once
    latest = log.page("ck", ROOM["id"], "latest", None, 10)
    assert _ids(latest.items) == [f"m{n}" for n in range(40, 50)]
    assert (latest.before, latest.after) == (True, False)
    assert latest.items[0]["@context"] and latest.items[0]["object"]["content"] == "message 40"
    before = log.page("ck", ROOM["id"], "before", "m40", 10)
    assert _ids(before.items) == [f"m{n}" for n in range(30, 40)]
    after = log.page("ck", ROOM["id"], "after", "m44", 100)
    assert _ids(after.items) == [f"m{n}" for n in range(45, 50)]
    assert (after.before, after.after) == (True, False)
    around = log.page("ck", ROOM["id"], "around", "m20", 5)
    assert _ids(around.items) == ["m18", "m19", "m20", "m21", "m22"]
    whole = log.page("ck", "#CHAN@irc.test", "latest", None, 500)  # ids are case-folded
    assert _ids(whole.items) == [f"m{n}" for n in range(50)]
    assert (whole.before, whole.after) == (False, False)
    with pytest.raises(KeyError):
        log.page("ck", ROOM["id"], "before", "nope", 10)
    assert log.page("ck", "#other@irc.test", "latest", None, 10).found is False


def test_private_messages_are_the_other_persons_conversation(redis_client: Any) -> None:
    log, _ = _log(redis_client)
    log.record([("ck", _msg(1, target=ME), False)])  # bob to us
    mine = {**_msg(2, who="ann", target={"type": "person", "id": "bob@irc.test"})}
    log.record([("ck", mine, True)])  # our reply to bob
    assert _ids(log.page("ck", "bob@irc.test", "latest", None, 10).items) == ["m1", "m2"]


def test_bounds_drop_the_oldest(redis_client: Any) -> None:
    log, _ = _log(redis_client, max_messages=5, max_conversations=2)
    log.record([("ck", _msg(n), False) for n in range(12)])
    assert _ids(log.page("ck", ROOM["id"], "latest", None, 100).items) == [
        f"m{n}" for n in range(7, 12)
    ]
    with pytest.raises(KeyError):  # dropped: its id is gone from the index too
        log.page("ck", ROOM["id"], "after", "m3", 10)
    # bytes: chunks and their indexes of a conversation stay under max_bytes, whole
    # chunks dropped oldest first, and a newest chunk alone over it loses its oldest
    for name, text in (("#b@irc.test", ""), ("#r@irc.test", "x")):
        small, _ = _log(redis_client, max_bytes=1000)
        room = {**ROOM, "id": name}
        for n in range(60):  # one at a time: each append re-seals the newest chunk
            noise = secrets.token_hex(60) if text else ""  # incompressible
            small.record([("ck", _msg(n, noise, target=room), False)])
            assert _stored(redis_client, small, name) <= 1000
        kept = _ids(small.page("ck", name, "latest", None, 100).items)
        assert 1 <= len(kept) < 60 and kept == [f"m{n}" for n in range(60 - len(kept), 60)]
    # conversations: a third one drops the one quiet for longest
    log.record([("ck", _msg(100, target={**ROOM, "id": "#c2@irc.test"}), False)])
    log.record([("ck", _msg(101, target={**ROOM, "id": "#c3@irc.test"}), False)])
    assert redis_client.zcard(keys.log_conversations("irc", "ck")) == 2
    assert not log.has("ck", ROOM["id"]) and log.has("ck", "#c3@irc.test")


def test_search_needs_every_word_newest_first_by_cursor(redis_client: Any) -> None:
    log, _ = _log(redis_client)
    texts = {n: ("Lunch at noon?" if n % 3 == 0 else "no lunch today") for n in range(30)}
    log.record([("ck", _msg(n, texts[n]), False) for n in range(30)])
    other = {**ROOM, "id": "#other@irc.test"}
    log.record([("ck", _msg(99, "noon lunch elsewhere", target=other), False)])
    items, more = search_log(log, "ck", ROOM["id"], "LUNCH noon", None, 4)
    assert _ids(items) == ["m27", "m24", "m21", "m18"] and more is not None
    rest, end = search_log(log, "ck", ROOM["id"], "lunch noon", more, 100)
    assert _ids(rest) == ["m15", "m12", "m9", "m6", "m3", "m0"] and end is None
    everywhere, _ = search_log(log, "ck", None, "noon", None, 3)
    assert _ids(everywhere)[0] == "m99"  # the newest, of any conversation
    assert search_log(log, "ck", None, "dinner", None, 10) == ([], None)


def test_nothing_readable_at_rest_and_nothing_left_once_dropped(redis_client: Any) -> None:
    log, records = _log(redis_client)
    secret_text = "the-launch-code-is-0000"
    log.record([("ck", _msg(1, secret_text, who="carol"), False)])
    dump = b""
    for key in redis_client.scan_iter():
        dump += key
        kind = redis_client.type(key)
        if kind == b"hash":
            for f, v in redis_client.hgetall(key).items():
                dump += f + v
        elif kind == b"zset":
            dump += b"".join(redis_client.zrange(key, 0, -1))
    for needle in (secret_text, "launch", "carol", "#chan"):
        assert needle.encode() not in dump.replace(b"irc.test", b""), needle
    assert redis_client.keys("sh:log:*")
    records.drop("ck")
    assert redis_client.keys("sh:log:*") == []
    assert log.page("ck", ROOM["id"], "latest", None, 10).items == []
    log.record([("ck", _msg(2), False)])  # after the drop: nothing is written
    assert redis_client.keys("sh:log:*") == []


def test_a_log_of_the_first_format_is_replaced_not_read(redis_client: Any) -> None:
    """Pre-release logs stored a sealed message per hash field (``:m``, ``:i``, ``:t``):
    the new code neither crashes on them nor reads them; the next message starts over."""
    log, records = _log(redis_client)
    key = log.log_key("ck", create=True)
    assert key is not None
    prefix = log.prefix("ck", log.conversation(key, ROOM["id"]))
    redis_client.hset(prefix + ":h", mapping={"first": 1, "last": 2, "bytes": 600})
    redis_client.hset(prefix + ":m", mapping={1: b"\0" * 300, 2: b"\1" * 300})
    redis_client.hset(prefix + ":t", mapping={1: b"\0" * 16})
    redis_client.zadd(keys.log_conversations("irc", "ck"), {prefix.rsplit(":", 1)[1]: 1})
    assert log.page("ck", ROOM["id"], "latest", None, 10).items == []
    assert search_log(log, "ck", None, "message", None, 10) == ([], None)
    log.record([("ck", _msg(5), False)])
    assert _ids(log.page("ck", ROOM["id"], "latest", None, 10).items) == ["m5"]
    assert not redis_client.exists(prefix + ":m", prefix + ":t")
    redis_client.hset(prefix + ":m", 9, b"left")  # as if written by an old worker since
    records.drop("ck")
    assert redis_client.keys("sh:log:*") == []
