"""An independent XMPP client for tests: plain slixmpp on a loop of its own, in a thread.

Not our connector: it checks what our side did the way any other client would see it,
as ``ircclient.py`` does for IRC.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tests.servers.prosody import XmppServer

__all__ = ["PlainClient"]

_MUC_USER = "http://jabber.org/protocol/muc#user"


class PlainClient:
    """One account, logged in over STARTTLS trusting the server's certificate.

    Everything it receives is kept (``stanzas``) for ``wait_for``; subscription requests
    are left unanswered (``auto_authorize = None``) so tests answer them explicitly.
    """

    def __init__(self, server: XmppServer, user: str, resource: str = "peer"):
        import slixmpp

        self.server = server
        self.jid = server.jid(user)
        self.loop = asyncio.new_event_loop()
        self.stanzas: list[Any] = []
        self._seen: set[int] = set()
        self._cond = threading.Condition()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name=f"plain-xmpp-{user}"
        )
        self._thread.start()

        async def make() -> Any:
            c = slixmpp.ClientXMPP(f"{self.jid}/{resource}", server.password(user), loop=self.loop)
            c.ca_certs = server.ca_file
            c.enable_direct_tls = False
            c.auto_authorize = None
            c.auto_subscribe = False
            c.register_plugin("xep_0030")
            c.register_plugin("xep_0045")
            c.register_plugin("xep_0308")
            for kind in ("message", "presence"):
                c.register_handler(
                    slixmpp.xmlstream.handler.Callback(
                        f"keep-{kind}",
                        slixmpp.xmlstream.matcher.MatchXPath(f"{{jabber:client}}{kind}"),
                        self._keep,
                    )
                )
            started = self.loop.create_future()
            c.add_event_handler(
                "session_start", lambda _e: started.done() or started.set_result(True)
            )
            c.connect(server.host, server.port)
            await asyncio.wait_for(started, 15)
            await c.get_roster()
            c.send_presence()
            return c

        self.xmpp = self.call(make())

    def _keep(self, stanza: Any) -> None:
        with self._cond:
            self.stanzas.append(stanza)
            self._cond.notify_all()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def do(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the client's loop (slixmpp is not thread-safe)."""

        async def run() -> Any:
            return fn()

        return self.call(run())

    def send_message(self, to: str, body: str, mtype: str = "chat", **extra: Any) -> str:
        def build() -> str:
            msg = self.xmpp.make_message(mto=to, mbody=body, mtype=mtype)
            msg["id"] = extra.pop("id", None) or self.xmpp.new_id()
            for key, value in extra.items():  # e.g. replace={"id": ...} (XEP-0308)
                for sub, v in value.items():
                    msg[key][sub] = v
            msg.send()
            return str(msg["id"])

        return str(self.do(build))

    def enable_carbons(self) -> None:
        """XEP-0280 §4: from now on this resource gets a copy of what the account's other
        resources send and receive."""
        import xml.etree.ElementTree as ET

        async def enable() -> None:
            iq = self.xmpp.make_iq_set()
            iq.append(ET.Element("{urn:xmpp:carbons:2}enable"))
            await iq.send(timeout=10)

        self.call(enable())

    def publish_bookmark(self, room: str, nick: str = "", autojoin: bool = True) -> None:
        """XEP-0402 §3.1: add ``room`` to the account's bookmarks (a PEP item)."""
        import xml.etree.ElementTree as ET

        pubsub, data = "http://jabber.org/protocol/pubsub", "jabber:x:data"
        options = {
            "FORM_TYPE": f"{pubsub}#publish-options",
            "pubsub#persist_items": "true",
            "pubsub#max_items": "max",
            "pubsub#send_last_published_item": "never",
            "pubsub#access_model": "whitelist",
        }

        async def publish() -> None:
            iq = self.xmpp.make_iq_set()
            ps = ET.SubElement(iq.xml, f"{{{pubsub}}}pubsub")
            item = ET.SubElement(
                ET.SubElement(ps, f"{{{pubsub}}}publish", node="urn:xmpp:bookmarks:1"),
                f"{{{pubsub}}}item",
                id=room,
            )
            conf = ET.SubElement(
                item, "{urn:xmpp:bookmarks:1}conference", autojoin=str(autojoin).lower()
            )
            if nick:
                ET.SubElement(conf, "{urn:xmpp:bookmarks:1}nick").text = nick
            form = ET.SubElement(
                ET.SubElement(ps, f"{{{pubsub}}}publish-options"), f"{{{data}}}x", type="submit"
            )
            for var, value in options.items():
                ET.SubElement(
                    ET.SubElement(form, f"{{{data}}}field", var=var), f"{{{data}}}value"
                ).text = value
            await iq.send(timeout=10)

        self.call(publish())

    def publish(self, node: str, item_id: str, payload: Any) -> None:
        """Publish ``payload`` (an element) to our PEP ``node``, readable by anyone: what
        a public profile uses (XEP-0292 §3, XEP-0084 §4 leave access to the publisher)."""
        import xml.etree.ElementTree as ET

        pubsub, data = "http://jabber.org/protocol/pubsub", "jabber:x:data"

        async def go() -> None:
            iq = self.xmpp.make_iq_set()
            ps = ET.SubElement(iq.xml, f"{{{pubsub}}}pubsub")
            pub = ET.SubElement(ps, f"{{{pubsub}}}publish", node=node)
            ET.SubElement(pub, f"{{{pubsub}}}item", id=item_id).append(payload)
            form = ET.SubElement(
                ET.SubElement(ps, f"{{{pubsub}}}publish-options"), f"{{{data}}}x", type="submit"
            )
            for var, value in (
                ("FORM_TYPE", f"{pubsub}#publish-options"),
                ("pubsub#access_model", "open"),
            ):
                field = ET.SubElement(form, f"{{{data}}}field", var=var)
                ET.SubElement(field, f"{{{data}}}value").text = value
            await iq.send(timeout=10)

        self.call(go())

    def publish_avatar(self, image: bytes, kind: str = "image/png") -> str:
        """XEP-0084 §4: the data node, then the metadata node naming it (by its SHA-1)."""
        import base64
        import hashlib
        import xml.etree.ElementTree as ET

        digest = hashlib.sha1(image).hexdigest()
        data = ET.Element("{urn:xmpp:avatar:data}data")
        data.text = base64.b64encode(image).decode()
        self.publish("urn:xmpp:avatar:data", digest, data)
        meta = ET.Element("{urn:xmpp:avatar:metadata}metadata")
        info = {"id": digest, "type": kind, "bytes": str(len(image))}
        ET.SubElement(meta, "{urn:xmpp:avatar:metadata}info", info)
        self.publish("urn:xmpp:avatar:metadata", digest, meta)
        return digest

    def publish_vcard(self, **fields: str) -> None:
        """XEP-0292 §3: a vCard4 with the given ``fn``, ``nickname``, ``note``, ``url``,
        ``email``."""
        import xml.etree.ElementTree as ET

        ns = "urn:ietf:params:xml:ns:vcard-4.0"
        card = ET.Element(f"{{{ns}}}vcard")
        kinds = {"fn": "text", "nickname": "text", "note": "text", "url": "uri", "email": "text"}
        for name, kind in kinds.items():
            if fields.get(name):
                prop = ET.SubElement(card, f"{{{ns}}}{name}")
                ET.SubElement(prop, f"{{{ns}}}{kind}").text = fields[name]
        self.publish("urn:xmpp:vcard4", "current", card)

    def send_presence(self, **kw: Any) -> None:
        self.do(lambda: self.xmpp.send_presence(**kw))

    def join(self, room: str, nick: str, accept_instant: bool = True) -> Any:
        """Join ``room``; a room this join creates is opened as an instant room (XEP-0045
        §10.1.2), as any client must before anyone else can enter it (unless told not to:
        then it stays locked)."""
        muc = self.xmpp.plugin["xep_0045"]
        joined = self._refused_or(
            muc.join_muc_wait(room, nick, maxstanzas=0, timeout=15),
            lambda s: s.name == "presence" and s["type"] == "error" and s["from"].bare == room,
        )
        codes = {s.get("code") for s in joined[0].xml.iter(f"{{{_MUC_USER}}}status")}
        if accept_instant and "201" in codes:
            self.configure(room, {})
        return joined

    def _refused_or(self, coro: Coroutine[Any, Any, Any], refused: Callable[[Any], bool]) -> Any:
        """``coro``'s result, or ``PresenceError`` at the first stanza ``refused`` holds for:
        slixmpp's join misses an error presence without a MUC payload (Prosody's answer
        from a locked room) and would only time out."""
        from slixmpp.exceptions import PresenceError

        future = asyncio.run_coroutine_threadsafe(coro, self.loop)

        def wake(_f: Any) -> None:
            with self._cond:
                self._cond.notify_all()

        future.add_done_callback(wake)
        deadline = time.monotonic() + 20
        with self._cond:
            while not future.done():
                for stanza in self.stanzas:
                    if id(stanza) not in self._seen and refused(stanza):
                        self._seen.add(id(stanza))
                        future.cancel()
                        raise PresenceError(stanza)
                left = deadline - time.monotonic()
                if left <= 0:
                    future.cancel()
                    raise TimeoutError("no answer to the join")
                self._cond.wait(left)
        return future.result()

    def configure(self, room: str, values: dict[str, Any]) -> None:
        """As the room's owner, submit room configuration (XEP-0045 §10.2)."""
        from slixmpp.plugins.xep_0004 import Form

        form = Form()
        form["type"] = "submit"
        if values:  # none: the empty form that accepts the defaults (an instant room)
            form.add_field(
                var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/muc#roomconfig"
            )
        for var, value in values.items():
            form.add_field(var=var, value=value)
        self.call(self.xmpp.plugin["xep_0045"].set_room_config(room, form))

    def wait_for(self, pred: Callable[[Any], Any], timeout: float = 15) -> Any:
        """The first stanza not returned before for which ``pred`` holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for stanza in self.stanzas:
                    if id(stanza) in self._seen:
                        continue
                    try:
                        ok = pred(stanza)
                    except (KeyError, TypeError, ValueError):
                        ok = False
                    if ok:
                        self._seen.add(id(stanza))
                        return stanza
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.jid} saw no matching stanza; got "
                        f"{[str(s)[:300] for s in self.stanzas[-8:]]}"
                    )
                self._cond.wait(left)

    def forget(self) -> None:
        """From now on ``wait_for`` looks only at stanzas received after this call."""
        with self._cond:
            self._seen.update(id(s) for s in self.stanzas)

    def wait_body(self, body: str, timeout: float = 15) -> Any:
        """The next message whose body is ``body``."""
        return self.wait_for(lambda s: s.name == "message" and s["body"] == body, timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self._disconnect(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _disconnect(self) -> None:
        self.xmpp.disconnect(wait=1)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.xmpp.disconnected, 2)
        # slixmpp's __del__ cancels its send task; once the loop is closed that raises.
        self.xmpp._run_out_filters = None
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
