"""A browser-side session speaking XMPP through the gateway, for integration tests."""

from __future__ import annotations

from typing import Any

from tests.servers.prosody import XmppServer
from tests.stack import Stack
from tests.wsclient import Client, activity

__all__ = ["Browser", "msg"]


class Browser:
    """A browser-side session speaking XMPP through the gateway."""

    def __init__(
        self,
        stack: Stack,
        server: XmppServer,
        user: str,
        resource: str = "web",
        password: str | None = None,
        name: str | None = None,
    ):
        self.client = Client(stack.ws_url)
        self.server = server
        self.jid = server.jid(user)
        self.actor = {"id": self.jid, "type": "person", "name": name or user}
        password = password or server.password(user)
        creds = dict(userAddress=self.jid, resource=resource, password=password)
        creds.update(type="credentials", server=server.host, port=server.port)
        reply = self.request("credentials", object=creds)
        assert reply["status"] == "completed", reply

    def room(self, name: str) -> dict[str, str]:
        return {"id": self.server.room(name), "type": "room", "name": name}

    def person(self, user: str) -> dict[str, str]:
        return {"id": self.server.jid(user), "type": "person", "name": user}

    def request(self, verb: str, timeout: float = 25, **parts: Any) -> dict[str, Any]:
        return self.client.request(activity("xmpp", verb, actor=self.actor, **parts), timeout)

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


def msg(content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "content": content, **extra}
