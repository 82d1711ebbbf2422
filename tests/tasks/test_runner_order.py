"""The runner runs a persistent connection's verbs in their session's order (real Redis,
no Celery): tasks delivered out of order by several threads, and one that arrives past
its deadline, which frees its place at once instead of holding the lane."""

from __future__ import annotations

import threading
import time
from typing import Any

from connectors.base import Job
from connectors.persistent import ConnectionSpec, PersistentConnector, Upstream
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.registry import Platform, Registry, Verb
from envelopes.settings import Settings
from envelopes.vault import Vault
from gateway.sessions import SessionStore
from tasks.runner import Runner

SECRET = "o" * 32
RAN: list[int] = []
_SEALER: AtRest


class _Up(Upstream):
    async def connect(self) -> None:
        pass

    async def wait_closed(self) -> str:
        await __import__("asyncio").Event().wait()
        return ""

    async def close(self, reason: str) -> None:
        pass


class OrderConnector(PersistentConnector):
    def new_upstream(self, spec: ConnectionSpec, emit: Any) -> Upstream:
        return _Up(spec, emit)

    def send(self, job: Job) -> None:
        self.runtime.upstream(job)
        time.sleep(0.01)  # long enough for the other threads to get ahead
        RAN.append(int(job.activity["object"]["content"]))


PLATFORM = Platform(
    "ordered",
    f"{__name__}:OrderConnector",
    {"connect": Verb("connect", needs_credentials=True), "send": Verb("send")},
    persistent=True,
)


def _payload(sid: str, seq: int, verb: str = "send", deadline: float = 10) -> dict[str, Any]:
    return _SEALER.seal_task(  # as the gateway sends it: the activity sealed at rest
        {
            "session": sid,
            "request": f"r{seq}",
            "verb": verb,
            "activity": {
                "type": verb,
                "actor": {"id": "ann", "type": "person"},
                "object": {"type": "message", "content": str(seq)},
            },
            "deadline": time.time() + deadline,
            "connection": "ck",
            "seq": seq,
        }
    )


def test_verbs_run_in_seq_order_and_a_late_one_frees_its_place(redis_client):
    r = redis_client
    RAN.clear()
    global _SEALER
    server = sealing.server_key(SECRET)
    _SEALER = AtRest(r, server)
    sess = SessionStore(r, server, 60).create("gw")
    Vault(r, server).store(sess.sid, "ordered", "ann", {"user": "ann"})
    r.hset(keys.session_creds(sess.sid), keys.connection_key_field("ordered", "ann"), "ck")
    settings = Settings(secret=SECRET, order_gap_wait=30)
    runner = Runner(settings, Registry([PLATFORM]), r, node_queue="n.dq")
    try:
        for seq in range(1, 12):
            r.set(keys.request(sess.sid, f"r{seq}"), "p{}")
        runner.run("ordered", _payload(sess.sid, 1, "connect"))
        late = _payload(sess.sid, 6, deadline=-1)  # its deadline passed in the queue
        payloads = [_payload(sess.sid, seq) for seq in range(11, 1, -1) if seq != 6] + [late]
        threads = [threading.Thread(target=runner.run, args=("ordered", p)) for p in payloads]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        deadline = time.monotonic() + 10
        while len(RAN) < 9 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert RAN == [2, 3, 4, 5, 7, 8, 9, 10, 11]
        assert time.monotonic() - started < 15  # never waited the 30 s gap for 6
        # the lane's place is in Redis, for a node that takes the connection over
        assert r.hget(keys.connection_order("ordered", "ck"), sess.sid) == b"11"
    finally:
        runner.close()
