"""Services accounts on actors (IRCv3 account-notify, account-tag, extended-join) against a
scripted server on 127.0.0.1: the test servers have no services, so nobody logs in there."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .test_client import PRIVATE_OK, ScriptedServer, run, upstream

OFFER = ["CAP * LS :account-notify account-tag extended-join server-time"]
# What a network with services sends once we are in #c: bob joins logged in as bobby,
# speaks, logs out, speaks again; carol joins logged out.
SCRIPT = (
    b":ann!a@h JOIN #c * :ann\r\n"
    b":bob!b@bob.host JOIN #c bobby :Bob Builder\r\n"
    b"@account=bobby :bob!b@bob.host PRIVMSG #c :logged in\r\n"
    b":bob!b@bob.host ACCOUNT *\r\n"
    b":bob!b@bob.host PRIVMSG #c :logged out\r\n"
    b":carol!c@c.host JOIN #c * :Carol\r\n"
    b"@account=carol :carol!c@c.host ACCOUNT carol\r\n"
)


async def wait_for(events: list[dict[str, Any]], n: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while len(events) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def test_accounts_and_real_names_reach_the_actors():
    events: list[dict[str, Any]] = []

    async def go() -> list[str]:
        async with ScriptedServer(sasl=False, cap_ls=OFFER, welcome=SCRIPT) as srv:
            up = upstream(srv.port, PRIVATE_OK, emit=events.append)
            await up.connect()
            try:
                await wait_for(events, 7)
                return [ln for ln in srv.lines if ln.startswith("CAP REQ")]
            finally:
                await up.close("bye")

    reqs: list[str] = []
    run(_keep(go(), reqs))
    assert reqs == ["CAP REQ :server-time account-notify account-tag extended-join"]
    people = [e for e in events if e["type"] != "connect"]
    me_join, bob_join, said, logout, plain, carol_join, login = people
    assert me_join["actor"] == {**_p("ann"), "host": "a@h", "realName": "ann"}
    assert bob_join["actor"] == {
        **_p("bob"),
        "host": "b@bob.host",
        "account": "bobby",
        "realName": "Bob Builder",
    }
    assert said["actor"] == {**_p("bob"), "account": "bobby"}
    assert said["object"]["content"] == "logged in"
    assert logout["type"] == "update" and logout["object"] == {"type": "profile", "account": None}
    assert "account" not in logout["actor"]
    assert plain["actor"] == _p("bob")  # no tag: nothing claimed
    assert carol_join["actor"] == {**_p("carol"), "host": "c@c.host", "realName": "Carol"}
    assert login["actor"]["account"] == "carol"
    assert login["object"] == {"type": "profile", "account": "carol"}


def test_without_the_capabilities_nothing_is_asked_and_actors_stay_plain():
    events: list[dict[str, Any]] = []
    script = b":bob!b@h JOIN #c\r\n:bob!b@h PRIVMSG #c :hi\r\n"

    async def go() -> list[str]:
        async with ScriptedServer(sasl=False, cap_ls=["CAP * LS :"], welcome=script) as srv:
            up = upstream(srv.port, PRIVATE_OK, emit=events.append)
            await up.connect()
            try:
                await wait_for(events, 2)
                return [ln for ln in srv.lines if ln.startswith("CAP REQ")]
            finally:
                await up.close("bye")

    reqs: list[str] = []
    run(_keep(go(), reqs))
    assert reqs == []
    joined, said = [e for e in events if e["type"] != "connect"]
    assert joined["actor"] == _p("bob") and said["actor"] == _p("bob")


def _p(nick: str) -> dict[str, str]:
    return {"type": "person", "id": f"{nick}@127.0.0.1", "name": nick}


async def _keep(coro: Any, into: list[str]) -> None:
    into.extend(await coro)
