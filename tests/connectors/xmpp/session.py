"""A browser-side session speaking XMPP through the gateway, for integration tests."""

from __future__ import annotations

from tests.servers.prosody import XmppServer
from tests.session import Browser as BaseBrowser
from tests.stack import Stack

__all__ = ["Browser"]


class Browser(BaseBrowser):
    """A browser-side session speaking XMPP through the gateway."""

    platform = "xmpp"

    def __init__(
        self,
        stack: Stack,
        server: XmppServer,
        user: str,
        resource: str = "web",
        password: str | None = None,
        name: str | None = None,
    ):
        self.server = server
        self.jid = server.jid(user)
        actor = {"id": self.jid, "type": "person", "name": name or user}
        creds = {
            "userAddress": self.jid,
            "resource": resource,
            "password": password or server.password(user),
            "server": server.host,
            "port": server.port,
        }
        super().__init__(stack, actor, creds)

    def room(self, name: str) -> dict[str, str]:
        return {"id": self.server.room(name), "type": "room", "name": name}

    def person(self, user: str) -> dict[str, str]:
        return {"id": self.server.jid(user), "type": "person", "name": user}
