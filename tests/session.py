"""A browser-side session speaking one platform through the gateway, for integration tests.

Each platform's tests extend ``Browser`` with how that platform names its actors and
what its credentials hold (``tests/integration/test_irc.py``,
``tests/connectors/xmpp/session.py``); ``browsers`` is the body of their ``browser``
fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from tests.stack import Stack
from tests.wsclient import Client, activity

__all__ = ["Browser", "browsers", "msg"]


class Browser:
    """One gateway session acting as ``actor`` on ``platform``, its credentials stored."""

    platform: ClassVar[str]

    def __init__(self, stack: Stack, actor: dict[str, Any], credentials: dict[str, Any]):
        self.client = Client(stack.ws_url)
        self.actor = actor
        reply = self.request("credentials", object={"type": "credentials", **credentials})
        assert reply["status"] == "completed", reply

    def request(self, verb: str, timeout: float = 25, **parts: Any) -> dict[str, Any]:
        envelope = activity(self.platform, verb, actor=self.actor, **parts)
        return self.client.request(envelope, timeout)

    def ok(self, verb: str, **parts: Any) -> dict[str, Any]:
        reply = self.request(verb, **parts)
        assert reply["status"] == "completed", reply
        return reply

    def event(self, pred: Any, timeout: float = 10) -> dict[str, Any]:
        def match(frame: dict[str, Any]) -> bool:
            if frame.get("kind") != "event":
                return False
            try:
                return bool(pred(frame["activity"]))
            except (KeyError, TypeError):
                return False

        return self.client.wait(match, timeout)["activity"]

    def state(self, name: str, timeout: float = 10) -> dict[str, Any]:
        return self.event(
            lambda a: a["object"]["type"] == "connection" and a["object"]["state"] == name, timeout
        )

    def forget(self, settle: float = 0.3) -> None:
        """Read what is in flight, then let ``event`` see only what comes after this."""
        try:
            while True:
                self.client.recv(settle)
        except Exception:
            pass
        for frame in self.client.frames:
            frame["_seen"] = True

    def close(self) -> None:
        self.client.close()


B = TypeVar("B", bound=Browser)


def browsers(new: Callable[..., B]) -> Iterator[Callable[..., B]]:
    """The body of a ``browser`` fixture: yields ``make(who, connect=True, **kw)``, which
    opens a session (``new(who, **kw)``) and connects it unless told not to; afterwards
    every session it made is disconnected and closed."""
    made: list[B] = []

    def make(who: str, connect: bool = True, **kw: Any) -> B:
        b = new(who, **kw)
        if connect:
            b.ok("connect")
        made.append(b)
        return b

    yield make
    for b in made:
        try:
            b.request("disconnect", timeout=5)
        except Exception:
            pass
        b.close()


def msg(content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "content": content, **extra}
