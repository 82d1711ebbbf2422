"""One close lifecycle for every persistent platform: the closed flag, its reason, the
fatal error of a hostile server and the ``disconnect`` event naming it (no socket)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.persistent import ConnectionSpec, connection_event
from connectors.session.lifecycle import FATAL_GRACE, LiveUpstream
from envelopes.errors import ProtocolError, UpstreamUnavailable


def run(coro):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Failure(Exception):
    def exception(self) -> Exception:
        return self


class Twin(LiveUpstream):
    """The smallest upstream: nothing to dial, closed when told."""

    def __init__(self) -> None:
        spec = ConnectionSpec("k", {"type": "person", "id": "me"}, {})
        super().__init__(spec, lambda event: None, "chat.example", Failure)

    def connection_event(self, state: str, **fields: Any) -> dict[str, Any]:
        service = {"type": "service", "id": "chat.example", "name": "chat.example"}
        return connection_event("irc", state, service, **fields)

    async def connect(self) -> None:
        pass

    async def close(self, reason: str) -> None:
        self.end(reason)


def test_the_end_comes_once_with_its_reason_and_fails_what_waits():
    async def go():
        up = Twin()
        w = up.expect(lambda line: None)
        assert up.end("ERROR :Closing Link") is True
        assert up.end("a later reason") is False  # the first reason stands
        with pytest.raises(UpstreamUnavailable, match="chat.example lost: ERROR :Closing Link"):
            await w.future
        return await up.wait_closed()

    assert run(go()) == "ERROR :Closing Link"


def test_an_end_without_a_reason_keeps_the_one_set_before():
    async def go():
        up = Twin()
        up.close_reason = "no answer from chat.example for 600 s"
        up.end()
        return await up.wait_closed()

    assert run(go()) == "no answer from chat.example for 600 s"


def test_a_fatal_error_is_what_waiters_get_and_what_wait_closed_raises_after_a_grace():
    async def go():
        up = Twin()
        up.fatal = ProtocolError("chat.example sent a line over 8191 bytes")
        w = up.expect(lambda line: None)
        up.end("protocol error")
        with pytest.raises(ProtocolError):
            await w.future
        started = time.monotonic()
        with pytest.raises(ProtocolError):
            await up.wait_closed()
        return time.monotonic() - started

    assert run(go()) >= FATAL_GRACE * 0.9


def test_the_disconnected_event_carries_the_code_of_a_fatal_error_and_only_that_one():
    up = Twin()
    assert "code" not in up.state_event("disconnected", reason="bye")["object"]
    up.fatal = ProtocolError("too much")
    gone = up.state_event("disconnected", reason="too much")
    assert gone["type"] == "disconnect" and gone["object"]["code"] == "protocol-error"
    assert "code" not in up.state_event("reconnecting", attempt=1, delay=1.0)["object"]


def test_closed_within_says_whether_the_end_came_in_time():
    async def go():
        up = Twin()
        early = await up.closed_within(0.05)
        asyncio.get_running_loop().call_later(0.01, up.end, "QUIT")
        return early, await up.closed_within(2)

    assert run(go()) == (False, True)
