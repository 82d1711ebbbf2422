"""A request's marker: what Redis knows of one request id of a session, from its
acceptance by a gateway to its one terminal reply.

The first byte is its state; the scripts here and the outbox's reply script move it on,
each atomically, so a gateway killed at any point leaves a state someone can finish:

    a + sealed activity   accepted by a gateway, not yet handed to Celery
    p + sealed activity   handed to Celery (the gateway flipped it after the publish,
                          or the worker did when it picked the task up)
    r + sealed activity   a worker has started running it on its connection (IRC, XMPP):
                          it may have reached the upstream server
    done                  answered (the worker's reply, ``timeout``, or a failure)
    n                     answered ``not-sent``: the id may be used again

A gateway writes ``a``, the deadline and an entry in ``keys.unsent()`` together
(``accept``), then publishes and flips ``a`` to ``p`` (``send``). If it dies between the two,
the marker stays ``a``: after ``SOCKETHUB_UNSENT_GRACE`` seconds the sweeper answers
``not-sent`` (``Outbox.reply(..., unsent=True)`` acts on ``a`` only), and a resend of the
same id takes its place instead of being refused as ``duplicate-request``. Where nothing
has to be looked up between the two (a stateless platform), ``accept_sent`` does both and
the queue's ``LPUSH`` in one script, for one request or a batch: ``p`` at once, no window
to crash in. A worker picking a task up ``claim``s it: ``a`` becomes ``p``, so the
sweeper can no longer say ``not-sent`` for a request that runs; a task whose request was
already answered (``not-sent``, ``timeout``), or whose marker a resend replaced, is
dropped unrun. The ``tag`` that tells
the copies apart is the sealed activity's nonce: random per acceptance, and not secret.

A verb of a persistent connection ``start``s just before it goes to the network (the
runtime's first call into the loop for it): ``a``/``p`` becomes ``r``. Nothing claims or
starts ``r`` again, so a verb runs upstream at most once, whichever copies of it exist (its
Celery task, a forwarded copy, the one a node taking the connection over rebuilds from
this marker). The gateway also
lists each such verb in ``keys.connection_pending`` under its ``seq`` (``NUMBER``, in the
pipeline that reads the lease); the owner's lane removes it once it has run past it. When
a worker dies, Celery's reserved tasks die with it (no ``acks_late``, no ack emulation),
but their markers and entries stay: the node taking the connection over runs those still
``a``/``p`` from the sealed copy here, in ``seq`` order, and answers those in ``r``
``reconnecting`` (they may or may not have been sent; never run twice).
"""

from __future__ import annotations

import base64
from typing import Any

from . import keys
from .scripts import run_many

__all__ = ["Markers", "ACCEPTED", "SENT", "RUNNING", "NUMBER", "tag_of", "state_of"]

ACCEPTED = b"a"
SENT = b"p"
RUNNING = b"r"
_TAG = slice(1, 25)  # the Aead nonce (24 bytes) after the state byte

# KEYS: request, deadlines, unsent. ARGV: marker, ttl, member, deadline, lost at, now.
# 0: the id is taken (in flight or answered); 1: accepted; 2: accepted in place of a copy
# that never left (answered ``not-sent``, or ``a`` past its grace).
_ACCEPT = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local state = string.sub(cur, 1, 1)
  if state == 'a' then
    local lost = redis.call('ZSCORE', KEYS[3], ARGV[3])
    if lost and tonumber(lost) > tonumber(ARGV[6]) then return 0 end
  elseif state ~= 'n' then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
if cur then return 2 end
return 1
"""

# ``_ACCEPT`` of several requests and the publish of their one message, at once.
# KEYS: deadlines, unsent, queue, then each request's. ARGV: message, now, then for each
# request: marker, ttl, member, deadline. Each one's answer as ``_ACCEPT``'s; the message is
# queued if any was accepted (a worker drops the payload of one refused: ``_CLAIM``).
_ACCEPT_SENT = """
local out, any, now = {}, false, tonumber(ARGV[2])
for i = 4, #KEYS do
  local b = 3 + (i - 4) * 4
  local member = ARGV[b + 2]
  local cur = redis.call('GET', KEYS[i])
  local free = true
  if cur then
    local state = string.sub(cur, 1, 1)
    if state == 'a' then
      local lost = redis.call('ZSCORE', KEYS[2], member)
      if lost and tonumber(lost) > now then free = false end
    elseif state ~= 'n' then
      free = false
    end
  end
  if free then
    redis.call('SET', KEYS[i], ARGV[b], 'EX', ARGV[b + 1])
    redis.call('SETRANGE', KEYS[i], 0, 'p')
    redis.call('ZADD', KEYS[1], ARGV[b + 3], member)
    redis.call('ZREM', KEYS[2], member)
    any = true
    out[#out + 1] = cur and 2 or 1
  else
    out[#out + 1] = 0
  end
end
if any then redis.call('LPUSH', KEYS[3], ARGV[1]) end
return out
"""

# KEYS: request, unsent, queue. ARGV: marker as accepted, member, message. The publish of
# an acceptance and its ``a`` to ``p``, together; nothing if it was answered meanwhile.
_SEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('SETRANGE', KEYS[1], 0, 'p')
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: request, unsent. ARGV: marker as accepted, member. After the publish: ``a`` to ``p``
# if it is still this acceptance (never a marker already answered or replaced).
_SENT = """
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SETRANGE', KEYS[1], 0, 'p') end
"""

# KEYS: request, unsent. ARGV: tag ('' for a task without one), member.
# 1: run it; 0: drop it (answered already, running elsewhere, or replaced by a resend).
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 1 end
local state = string.sub(cur, 1, 1)
if state ~= 'a' and state ~= 'p' then return 0 end
if ARGV[1] ~= '' and string.sub(cur, 2, 25) ~= ARGV[1] then return 0 end
if state == 'a' then
  redis.call('SETRANGE', KEYS[1], 0, 'p')
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 1
"""

# KEYS: request, unsent. ARGV: member. Just before a verb goes upstream: ``a``/``p`` to
# ``r``. 1: send it; 0: another copy has started (or it was answered): send nothing.
_START = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 1 end
local state = string.sub(cur, 1, 1)
if state ~= 'a' and state ~= 'p' then return 0 end
redis.call('SETRANGE', KEYS[1], 0, 'r')
if state == 'a' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
"""

# The gateway's numbering of a verb on a persistent connection (run in its pipeline with
# ``eval``): the session's next ``seq`` on the connection, and the request listed under it
# in the connection's pending verbs. 0 if the session is gone.
# KEYS: session, pending. ARGV: order field, request id, pending's time to live.
NUMBER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seq = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('ZADD', KEYS[2], seq, ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return seq
"""


def state_of(marker: bytes | None) -> bytes:
    """``a``, ``p``, ``r``, ``d`` (done), ``n``, or ``b""`` for no marker."""
    return bytes(marker[:1]) if marker else b""


def tag_of(marker: bytes) -> str:
    """The acceptance's tag, as the task payload carries it (URL-safe base64)."""
    return base64.urlsafe_b64encode(marker[_TAG]).decode()


class Markers:
    def __init__(self, redis: Any):
        self._redis = redis
        self._accept = redis.register_script(_ACCEPT)
        self._sent = redis.register_script(_SENT)
        self._claim = redis.register_script(_CLAIM)
        self._accept_sent = redis.register_script(_ACCEPT_SENT)
        self._send = redis.register_script(_SEND)
        self._start = redis.register_script(_START)

    def accept(
        self,
        sid: str,
        rid: str,
        marker: bytes,
        ttl: int,
        deadline: float,
        lost_at: float,
        now: float,
    ) -> int:
        """Write the marker with its deadline and unsent entry, unless the id is taken."""
        member = keys.deadline_member(sid, rid)
        return int(
            self._accept(
                keys=[keys.request(sid, rid), keys.deadlines(), keys.unsent()],
                args=[marker, ttl, member, deadline, lost_at, now],
            )
        )

    def accept_sent(
        self,
        requests: list[tuple[str, str, bytes, int, float]],
        now: float,
        queue: str,
        message: bytes,
    ) -> list[int]:
        """``accept`` for each ``(sid, rid, marker, ttl, deadline)`` and, if any was free,
        ``message`` (their one task) onto ``queue``, in one script: ``p`` at once. Each
        request's answer, as ``accept``'s."""
        k = [keys.deadlines(), keys.unsent(), queue]
        a: list[Any] = [message, now]
        for sid, rid, marker, ttl, deadline in requests:
            k.append(keys.request(sid, rid))
            a += [marker, ttl, keys.deadline_member(sid, rid), deadline]
        return [int(x) for x in self._accept_sent(keys=k, args=a)]

    def send(self, sid: str, rid: str, marker: bytes, queue: str, message: bytes) -> bool:
        """Publish an accepted request and mark it sent; False (nothing published) if it
        was answered or replaced since."""
        return bool(
            self._send(
                keys=[keys.request(sid, rid), keys.unsent(), queue],
                args=[marker, keys.deadline_member(sid, rid), message],
            )
        )

    def sent(self, sid: str, rid: str, marker: bytes) -> None:
        self._sent(
            keys=[keys.request(sid, rid), keys.unsent()],
            args=[marker, keys.deadline_member(sid, rid)],
        )

    def claim_many(self, claims: list[tuple[str, str, str]]) -> list[bool]:
        """``claim`` for each ``(sid, rid, tag)``, in one round trip (a pipeline of the
        script, each claim atomic on its own)."""
        calls = [
            (
                [keys.request(sid, rid), keys.unsent()],
                [base64.urlsafe_b64decode(tag) if tag else b"", keys.deadline_member(sid, rid)],
            )
            for sid, rid, tag in claims
        ]
        return [bool(x) for x in run_many(self._redis, self._claim, calls)]

    def claim(self, sid: str, rid: str, tag: str = "") -> bool:
        """Whether a worker should run this task (and, if so, it counts as sent)."""
        raw = base64.urlsafe_b64decode(tag) if tag else b""
        return bool(
            self._claim(
                keys=[keys.request(sid, rid), keys.unsent()],
                args=[raw, keys.deadline_member(sid, rid)],
            )
        )

    def start(self, sid: str, rid: str) -> bool:
        """Just before a verb goes upstream: whether this copy is the one that sends it
        (its marker is ``r`` from now on)."""
        return bool(
            self._start(
                keys=[keys.request(sid, rid), keys.unsent()],
                args=[keys.deadline_member(sid, rid)],
            )
        )
