"""Request markers against a real Redis: a crash between accepting and sending a request
leaves a state someone finishes, and a request never runs twice (``envelopes.markers``)."""

from __future__ import annotations

from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.markers import tag_of
from envelopes.outbox import Outbox, failure_frame, reply_frame

SERVER = sealing.server_key("m" * 32)
NOW = 1000.0


def _setup(r):
    wrapped = sealing.wrap_key(SERVER, sealing.new_session_key(), "s1")
    r.hset(keys.session("s1"), mapping={"gen": 1, "wkey": wrapped})
    r.expire(keys.session("s1"), 100)
    atrest = AtRest(r, SERVER)
    return atrest, Outbox(r, sealer=atrest)


def _accept(outbox, marker, now=NOW):
    return outbox.markers.accept("s1", "q", marker, 60, now + 30, now + 2, now)


def test_a_copy_in_flight_is_a_duplicate_one_never_sent_is_replaced(redis_client):
    atrest, outbox = _setup(redis_client)
    first = atrest.marker("s1", "q", {"type": "echo"})
    assert first[:1] == b"a"
    assert _accept(outbox, first) == 1
    second = atrest.marker("s1", "q", {"type": "echo"})
    assert _accept(outbox, second, NOW + 1) == 0  # within the grace: its gateway may be live
    assert _accept(outbox, second, NOW + 3) == 2  # past it: never sent, the resend replaces it
    # The first copy's publish did land after all (a slow gateway): it is dropped unrun.
    assert outbox.markers.claim("s1", "q", tag_of(first)) is False
    assert outbox.markers.claim("s1", "q", tag_of(second)) is True
    assert redis_client.get(keys.request("s1", "q"))[:1] == b"p"
    assert _accept(outbox, atrest.marker("s1", "q", {}), NOW + 10) == 0  # running: taken
    outbox.markers.sent("s1", "q", second)  # the gateway's flip changes nothing now
    assert outbox.reply("s1", "q", reply_frame("q", {})) > 0
    outbox.markers.sent("s1", "q", second)  # nor after the reply: done stays done
    assert redis_client.get(keys.request("s1", "q")) == b"done"


def test_not_sent_only_for_a_request_that_never_left(redis_client):
    atrest, outbox = _setup(redis_client)
    marker = atrest.marker("s1", "q", {"type": "echo"})
    _accept(outbox, marker)
    assert outbox.markers.claim("s1", "q", tag_of(marker)) is True  # a worker took it
    frame = failure_frame("q", {"code": "not-sent", "message": "m"})
    assert outbox.reply("s1", "q", frame, unsent=True) == 0
    # Its timeout is still owed: the deadline stays, the unsent entry is gone.
    assert redis_client.zscore(keys.deadlines(), keys.deadline_member("s1", "q")) is not None
    assert redis_client.zcard(keys.unsent()) == 0
    assert outbox.reply("s1", "q", reply_frame("q", {})) > 0  # the worker's reply wins


def test_after_not_sent_the_late_task_is_dropped_and_the_id_is_free(redis_client):
    atrest, outbox = _setup(redis_client)
    marker = atrest.marker("s1", "q", {"type": "echo"})
    _accept(outbox, marker)
    frame = failure_frame("q", {"code": "not-sent", "message": "m"})
    assert outbox.reply("s1", "q", frame, unsent=True) > 0
    assert redis_client.get(keys.request("s1", "q")) == b"n"
    assert redis_client.zcard(keys.deadlines()) == 0
    assert outbox.markers.claim("s1", "q", tag_of(marker)) is False  # it never runs now
    assert _accept(outbox, atrest.marker("s1", "q", {}), NOW + 1) == 2  # the id is reusable


def test_a_verb_started_upstream_goes_once_and_is_still_answered(redis_client):
    atrest, outbox = _setup(redis_client)
    marker = atrest.marker("s1", "q", {"type": "send"})
    _accept(outbox, marker)
    assert outbox.markers.claim("s1", "q", tag_of(marker)) is True  # a worker takes it
    assert outbox.markers.claim("s1", "q", tag_of(marker)) is True  # a copy may still run
    # Just before it goes to the network: ``p`` becomes ``r``, for one copy only.
    assert outbox.markers.start("s1", "q") is True
    raw = redis_client.get(keys.request("s1", "q"))
    assert raw[:1] == b"r" and redis_client.zcard(keys.unsent()) == 0
    assert atrest.open_marker("s1", "q", raw) == {"type": "send"}  # the sweeper's echo
    # Any other copy (its Celery task drained from a dead queue, a rebuilt one) is dropped,
    # at its claim or, if it got that far, at its start.
    assert outbox.markers.start("s1", "q") is False
    assert outbox.markers.claim("s1", "q", tag_of(marker)) is False
    # Not-sent never applies to it; its one reply (or timeout) does.
    assert outbox.reply("s1", "q", failure_frame("q", {"code": "not-sent"}), unsent=True) == 0
    assert outbox.reply("s1", "q", reply_frame("q", {})) > 0
    assert outbox.reply("s1", "q", reply_frame("q", {})) == 0
    assert outbox.markers.start("s1", "q") is False  # answered: nothing goes out


def test_a_verb_started_straight_from_accepted_leaves_the_unsent_list(redis_client):
    atrest, outbox = _setup(redis_client)
    _accept(outbox, atrest.marker("s1", "q", {"type": "send"}))
    assert outbox.markers.start("s1", "q") is True
    assert redis_client.zcard(keys.unsent()) == 0  # no ``not-sent`` for what went out


def test_numbering_a_verb_lists_it_as_pending_on_its_connection(redis_client):
    from envelopes.markers import NUMBER

    _setup(redis_client)
    pending = keys.connection_pending("irc", "ck", "s1")
    for rid in ("q1", "q2"):
        args = (keys.order_field("irc", "ck"), rid, 720)
        redis_client.eval(NUMBER, 2, keys.session("s1"), pending, *args)
    assert redis_client.zrange(pending, 0, -1, withscores=True) == [(b"q1", 1.0), (b"q2", 2.0)]
    assert 0 < redis_client.ttl(pending) <= 720
    # A session that has just expired is not brought back, and lists nothing.
    gone = keys.connection_pending("irc", "ck", "s2")
    assert redis_client.eval(NUMBER, 2, keys.session("s2"), gone, "f", "q", 720) == 0
    assert not redis_client.exists(gone, keys.session("s2"))
