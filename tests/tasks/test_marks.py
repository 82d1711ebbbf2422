"""Read markers and unread counts (tasks/marks.py) against a real Redis."""

from __future__ import annotations

from envelopes import keys
from tasks.attention import conversation_of, mentions
from tasks.marks import Incoming, Marks

ROOM = "#lobby@irc.example"


def incoming(marks: Marks, *ids: str, conv: str = ROOM, key: str = "ck") -> list[int]:
    return marks.incoming([Incoming(key, conv, i) for i in ids])


def test_a_marker_counts_what_came_after_it_and_only_moves_forward(redis_client):
    marks = Marks("irc", redis_client, 100)
    seqs = incoming(marks, "m1", "m2", "m3", "m4")
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert marks.summary("ck") == {ROOM: {"unread": 4}}
    mark = marks.read("ck", ROOM, "m2")
    assert (mark.moved, mark.unread, mark.id, mark.seq) == (True, 2, "m2", seqs[1])
    older = marks.read("ck", ROOM, "m1")  # another tab, behind: the marker stays
    assert (older.moved, older.unread, older.id) == (False, 2, "m2")
    assert marks.read_seq("ck", [ROOM, "#other@irc.example"]) == [seqs[1], 0]
    incoming(marks, "m5")
    assert marks.summary("ck") == {ROOM: {"unread": 3, "read": "m2"}}
    # an id the worker never saw (ours, or a server without ids): read up to now
    assert marks.read("ck", ROOM, "unknown").unread == 0
    assert marks.summary("ck")[ROOM] == {"unread": 0, "read": "unknown"}


def test_conversations_are_bounded_and_kept_apart_per_connection(redis_client):
    marks = Marks("irc", redis_client, 3)
    for n in range(5):
        incoming(marks, f"m{n}", conv=f"#c{n}@irc.example")
    incoming(marks, "x", conv=ROOM, key="other")
    assert sorted(marks.summary("ck")) == ["#c2@irc.example", "#c3@irc.example", "#c4@irc.example"]
    assert marks.summary("other") == {ROOM: {"unread": 1}}
    assert redis_client.zcard(keys.connection_convs("irc", "ck")) == 3


def test_the_message_ids_kept_to_place_a_marker_are_bounded(redis_client):
    marks = Marks("irc", redis_client, 100, max_ids=3)
    incoming(marks, "m1", "m2", "m3", "m4", "m5")
    kept = redis_client.zrange(keys.connection_msgids("irc", "ck"), 0, -1)
    assert [k.split(b"\x1f")[1] for k in kept] == [b"m3", b"m4", b"m5"]
    assert marks.read("ck", ROOM, "m4").unread == 1
    assert marks.read("ck", ROOM, "m1").unread == 0  # out of the window: read up to now


def test_mentions_are_words_and_direct_messages_are_the_sender():
    assert mentions("hey ann, look", "ann") and mentions("ANN: hi", "ann")
    assert not mentions("annie is here", "ann") and not mentions("joann", "ann")
    assert mentions("ping [away]!", "[away]") and not mentions("x[away]y", "[away]")
    dm = {
        "actor": {"id": "bob@irc.example", "type": "person", "name": "bob"},
        "target": {"id": "ann@irc.example", "type": "person", "name": "ann"},
    }
    assert conversation_of(dm) == {"id": "bob@irc.example", "type": "person", "name": "bob"}
    room = {**dm, "target": {"id": ROOM, "type": "room", "name": "#lobby"}}
    assert conversation_of(room) == {"id": ROOM, "type": "room", "name": "#lobby"}
