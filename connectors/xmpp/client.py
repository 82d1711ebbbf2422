"""One XMPP account on the worker's loop: slixmpp carries the stream, the logic is ours.

``stream`` opens and logs in the slixmpp stream; this is what we do with it: every stanza
it receives goes to ``translate``, then to the requests waiting for an answer (a join
waits for the room's self-presence, a room message for its reflection), and what no
request claims goes to the browser as an event. Where we connect is decided before
slixmpp sees it: the browser-given host, or the domain's SRV records, each passed through
``resolve_checked`` and the operator's allowlist, trying every address of each in turn
(``connectors/net/dial.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from slixmpp.exceptions import IqError, IqTimeout

from envelopes.errors import (
    BlockedAddress,
    PermanentError,
    ProtocolError,
    Refused,
    SockethubError,
    UpstreamTimeout,
    UpstreamUnavailable,
    condition_detail,
    os_reason,
)
from envelopes.settings import Settings, host_allowed

from ..net.dial import dial_each
from ..net.guard import Address, Resolver, system_resolver
from ..persistent import ConnectionSpec, Emit
from ..session.activity import error_activity
from ..session.lifecycle import LiveUpstream
from . import carbons
from .context import XmppContext
from .errors import XmppError, error_of
from .ids import occupant, person, room, service, split_jid
from .mam import Archives, History
from .marks import Marks
from .outbound import instant_room_query
from .recall import Recall
from .resume import Resumption
from .states import connection_event
from .stream import Stream, log_in, make_stream, targets
from .translate import translate

__all__ = ["Memory", "XmppUpstream"]

log = logging.getLogger("sockethub.xmpp")


@dataclass
class Memory:
    """What outlives one upstream of a connection in this process (upstreams are made
    afresh for every attempt): when it was lost, our presence, a reason never to retry."""

    lost_at: dict[str, float] = field(default_factory=dict)
    marks: dict[str, Marks] = field(default_factory=dict)  # what was delivered (marks.py)
    fatal: dict[str, PermanentError] = field(default_factory=dict)
    presence: dict[str, tuple[str, str]] = field(default_factory=dict)  # show, status


class XmppUpstream(LiveUpstream):
    """One account's stream. A waiter's check (``expect``) sees each result of each
    stanza: None (not this one), an ``XmppError`` (failed) or else done, with that value."""

    # Where a name's addresses come from; tests put a ``StaticResolver`` here.
    resolver: Resolver = staticmethod(system_resolver)  # type: ignore[assignment]

    def __init__(self, spec: ConnectionSpec, emit: Emit, settings: Settings, memory: Memory):
        c = spec.credentials
        parts = split_jid(str(c["userAddress"]))
        super().__init__(spec, emit, parts.domain, XmppError)
        self.settings = settings
        self.memory = memory
        self.jid, self.domain = parts.bare, parts.domain
        self.resource = str(c["resource"])
        self.password = str(c["password"])
        self.server = str(c["server"]) if c.get("server") else None
        self.port = int(c["port"]) if c.get("port") else None
        self.verify = not c.get("allowInvalidCert", False)
        recall = Recall(settings.xmpp_max_remembered_messages, settings.xmpp_max_reactions)
        self.ctx = XmppContext(jid=self.jid, resource=self.resource, recall=recall)
        self.xmpp: Stream | None = None
        self._stream_error = ""
        self._leaving = False
        self._dialled: tuple[str, int, str] | None = None  # address, port, "host:port"
        self.resumption = Resumption(settings.xmpp_max_held_stanzas)  # XEP-0198
        self.archives = Archives(self)  # MAM (XEP-0313)

    # -- events ----------------------------------------------------------------------------
    @property
    def presence(self) -> tuple[str, str]:
        """Our show and status, sent again after a reconnect and with every room join."""
        return self.memory.presence.get(self.spec.key, ("online", ""))

    @presence.setter
    def presence(self, value: tuple[str, str]) -> None:
        self.memory.presence[self.spec.key] = value

    @property
    def marks(self) -> Marks:
        return self.memory.marks.setdefault(self.spec.key, Marks())

    async def server_history(
        self,
        conversation: str,
        *,
        before: str | None = None,
        after: str | None = None,
        around: str | None = None,
        limit: int,
    ) -> History | None:
        """A page of ``conversation`` from the server's archive (``mam.py``); None when
        the server keeps none for it."""
        return await self.archives.server_history(
            conversation, before=before, after=after, around=around, limit=limit
        )

    @property
    def full_jid(self) -> str:
        return self.ctx.full_jid

    def connection_event(self, state: str, **fields: Any) -> dict[str, Any]:
        return connection_event(state, self.jid, **fields)

    def _who(self, jid: str) -> dict[str, str]:
        parts = split_jid(jid)
        if self.ctx.room(parts.bare) is not None:
            return occupant(parts.bare, parts.resource) if parts.resource else room(parts.bare)
        return person(jid) if parts.local else service(parts.domain or self.domain)

    def error_event(self, err: XmppError) -> dict[str, Any]:
        event = error_activity(
            "xmpp",
            self._who(err.sender or self.domain),
            person(self.jid),
            err.exception(),  # the same code and condition a failed reply would carry
            err.condition,
            err.message,
            stanza=err.kind,
        )
        if err.stanza_id:
            event["object"]["id"] = err.stanza_id
        return event

    # -- receiving -------------------------------------------------------------------------
    def _on_stanza(self, stanza: Any) -> None:
        try:
            if self.archives.offer(stanza.xml):
                return  # an answer to our archive query, not a message to us
            results = translate(stanza.xml, self.ctx)
        except Exception:  # a translator bug must not take the connection down
            log.exception("could not translate %s", str(stanza)[:300])
            return
        for result in results:
            # An error that failed a request is that request's reply, not an event too.
            claimed = bool(self.waiters.offer(result))
            if isinstance(result, XmppError):
                if not claimed:
                    self.emit(self.error_event(result))
            elif result.get("type") != "send":
                self.emit(result)
            elif self.marks.delivered(result, self.jid):  # else delivered from the archive
                if "published" in result:  # XEP-0203: held for us (offline, room history)
                    result["late"] = True
                self.emit(result)

    def _on_closed(self, reason: Any) -> None:
        if self.closed.is_set() or self.resumption.active:
            return  # a failed resume attempt: ``_resume`` decides what comes next
        if self._can_resume():
            why = os_reason(reason) if isinstance(reason, OSError) else "connection lost"
            self.resumption.start(asyncio.get_running_loop().create_task(self._resume(why)))
            return
        broke = self.xmpp.protocol_error if self.xmpp is not None else None
        if broke is not None:  # a cap broken: not retried, the browser is told which
            self.fatal, self.close_reason = broke, f"protocol error: {broke.message}"
        elif self._leaving:
            pass  # we closed it: our reason stands
        elif self._stream_error:  # the server said why (RFC 6120 §4.9): that, not "EOF"
            self.close_reason = self._stream_error
        elif isinstance(reason, OSError):  # the OS's words, not the exception's text
            self.close_reason = os_reason(reason)
        elif reason and isinstance(reason, str):
            self.close_reason = reason
        self.memory.lost_at[self.spec.key] = time.time()
        if self.xmpp is not None:
            self.xmpp.retire()
        self.end()

    def _can_resume(self) -> bool:
        """A lost socket, on a stream the server let us resume; not a stream the server
        ended (a stream error: the session is gone) or a cap broken or our own close."""
        x = self.xmpp
        return (
            x is not None
            and x.resumable
            and x.protocol_error is None
            and not self._leaving
            and not self._stream_error
            and self._dialled is not None
            and not self.resumption.failed
        )

    async def _resume(self, why: str) -> None:
        """Resume the lost stream (XEP-0198 §5) on the address we had; if that fails (the
        server no longer has the session), end this upstream: the runtime then logs in
        anew and rejoins the rooms, as for any lost connection."""
        x, dialled = self.xmpp, self._dialled
        assert x is not None and dialled is not None
        event = self.connection_event("reconnecting", reason=why)
        event["object"]["resuming"] = True  # the same session, if the server still has it
        self.emit(event)
        resumed = await self.resumption.attempt(x, *dialled)
        held = self.resumption.finish(resumed)
        if not resumed:
            # The end first: the runtime's supervisor, woken by it, is no longer ready
            # before ``until_resumed`` returns, so a verb then waits for the new login.
            self._on_closed(why)
            self.resumption.settle()
            return
        for element in held:  # sent while the stream was down, in order, after the resends
            x.send_element(element)
        self.resumption.settle()
        event = self.connection_event("connected")
        event["object"]["resumed"] = True  # no new login: rooms and presence still hold
        self.emit(event)

    @property
    def resuming(self) -> bool:
        return self.resumption.active

    async def until_resumed(self) -> bool:
        """Wait for a resumption under way; False if it failed (this upstream ended)."""
        await self.resumption.settled()
        return not self.closed.is_set()

    def _on_stream_error(self, error: Any) -> None:
        condition, text = error["condition"], error["text"]
        self._stream_error = f"stream error: {condition}" + (f" ({text})" if text else "")
        if condition == "conflict":
            # RFC 6120 §4.9.3.3: another client took our resource. Reconnecting would
            # take it back, and so on for ever: the next attempt fails for good instead.
            self.memory.fatal[self.spec.key] = Refused(
                f"another client logged in as {self.full_jid}; not reconnecting",
                details=[condition_detail("xmpp", "conflict", kind="stream")],
            )

    # -- sending ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Up, or being resumed (what is sent meanwhile goes out once it is)."""
        if self.xmpp is None or self.closed.is_set():
            return False
        return self.resumption.active or self.xmpp.is_connected()

    def send(self, element: ET.Element) -> None:
        if not self.connected:
            raise UpstreamUnavailable(f"not connected to {self.domain}")
        assert self.xmpp is not None
        if self.resumption.active:
            self.resumption.hold(element, self.domain)
            return
        self.xmpp.send_element(element)

    async def iq(self, iq: Any, timeout: float, what: str) -> ET.Element:
        """Send an iq and return the result's XML; an error answer fails with its condition."""
        if self.resumption.active:  # after what was sent before it, once resumed
            try:
                await asyncio.wait_for(self.resumption.settled(), max(0.5, timeout))
            except TimeoutError:
                raise UpstreamTimeout(f"no answer to {what} within {timeout:.0f} s") from None
        if not self.connected:
            raise UpstreamUnavailable(f"not connected to {self.domain}")
        try:
            result = await iq.send(timeout=max(0.5, timeout))
        except IqError as exc:
            err = error_of(exc.iq.xml) or XmppError("undefined-condition", "iq")
            raise err.exception() from None
        except IqTimeout:
            raise UpstreamTimeout(f"no answer to {what} within {timeout:.0f} s") from None
        return result.xml  # type: ignore[no-any-return]

    async def open_instant_room(self, room_jid: str, timeout: float) -> None:
        """Unlock a room our join created (XEP-0045 §10.1.2); the room answers the iq once
        it is open to others."""
        assert self.xmpp is not None
        iq = self.xmpp.Iq(stype="set", sto=room_jid)
        iq.append(instant_room_query())
        await self.iq(iq, timeout, f"the configuration of {room_jid}")

    async def ping(self, timeout: float) -> None:
        """A XEP-0199 round trip to our server: what we sent before it has been handled."""
        assert self.xmpp is not None
        iq = self.xmpp.Iq(stype="get", sto=self.domain)
        iq.enable("ping")
        await self.iq(iq, timeout, "a ping")

    # -- lifecycle -------------------------------------------------------------------------
    async def connect(self) -> None:
        fatal = self.memory.fatal.pop(self.spec.key, None)
        if fatal is not None:
            raise fatal
        named = self.server or self.domain
        if not host_allowed(named, self.settings.allowed_hosts):
            raise BlockedAddress(f"{named} is not an allowed server (SOCKETHUB_ALLOWED_HOSTS)")
        last: SockethubError = UpstreamUnavailable(f"no address found for {self.domain}")
        for host, port, direct in await targets(self.domain, self.server, self.port):

            async def at(
                address: Address, host: str = host, port: int = port, direct: bool = direct
            ) -> Stream:
                x = self.xmpp = make_stream(
                    f"{self.jid}/{self.resource}",
                    self.password,
                    verify=self.verify,
                    direct=direct,
                    on_stanza=self._on_stanza,
                    max_stanza=self.settings.xmpp_max_stanza_bytes,
                )
                await log_in(x, str(address[1][0]), port, f"{host}:{port}")
                self._dialled = (str(address[1][0]), port, f"{host}:{port}")
                return x

            try:
                # Every address of this target, in order (connectors/net/dial.py).
                allow = self.settings.allow_private_addresses
                x = await dial_each(host, port, allow, at, resolver=self.resolver)
            except UpstreamUnavailable as exc:
                last = exc
                continue
            except ProtocolError as exc:
                self.fatal = exc  # the browser's disconnect event names it
                raise
            # From now on a close of this stream (and only this one) ends the upstream.
            x.add_event_handler("stream_error", self._on_stream_error)
            x.add_event_handler("disconnected", lambda r, x=x: self._closed_by(x, r))
            self.ctx.resource = x.boundjid.resource or self.resource
            try:
                if not x.is_connected():  # it dropped between login and here
                    raise UpstreamUnavailable(f"{host}:{port} closed right after login")
                await self._start_session(x)
            except BaseException:
                x.abort()
                x.retire()
                raise
            return
        raise last

    def _closed_by(self, x: Stream, reason: Any) -> None:
        if self.xmpp is x:
            self._on_closed(reason)

    async def _start_session(self, x: Stream) -> None:
        # RFC 6121 §2.2: ask for the roster before initial presence, which makes us an
        # "interested resource" that gets roster pushes and pending subscription requests.
        try:
            await x.get_roster(timeout=15)
        except (IqError, IqTimeout) as exc:
            log.info("roster of %s not available: %s", self.jid, exc)
        # XEP-0280 §4: copies of what our other resources send and receive. A server
        # without carbons answers with an error; the session goes on without them.
        iq = x.Iq(stype="set")
        iq.append(carbons.enable())
        try:
            await iq.send(timeout=10)
        except (IqError, IqTimeout) as exc:
            log.info("carbons for %s not available: %s", self.jid, exc)
        show, status = self.presence
        if show == "offline":
            return  # the browser chose to be offline: stay invisible after a reconnect
        x.send_presence(pshow=show if show != "online" else None, pstatus=status or None)

    async def close(self, reason: str) -> None:
        memory = self.memory
        for table in (memory.lost_at, memory.presence, memory.fatal, memory.marks):
            table.pop(self.spec.key, None)  # closed for good here: nothing to carry over
        x = self.xmpp
        if x is not None and self.resumption.active:  # nothing to say goodbye on
            self._leaving = True
            self.resumption.cancel()
            x.abort()
            x.retire()
            self.end(reason)
            return
        if x is None or not self.connected:
            return
        self.close_reason, self._leaving = reason, True
        # RFC 6121 §4.5.1: unavailable presence, then the stream close (RFC 6120 §4.4).
        x.send_presence(ptype="unavailable", pstatus=reason or None)
        x.disconnect(wait=2, reason=reason)
        if not await self.closed_within(3):
            x.abort()
