"""One IRC connection on the worker's loop: our socket protocol (``wire``), our logic.

``wire.IrcWire`` carries the socket: capped lines (``reader``), lenient decoding, an
inbound line budget, and every outgoing line through ``lines.encode_line``. Every
received line goes to ``translate`` and to the requests waiting for an answer;
registration is ``register``. Outgoing lines pass a token bucket (flood control);
PING/PONG and QUIT skip it.

A server is chosen by a browser and may be hostile: what it can make us hold is capped
(a line, NAMES lists without their end, the channels it joins us to, its CAP LS list,
output it never reads), and breaking a cap closes the connection with a
``ProtocolError`` (``protocol-error``), which is not retried.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from envelopes.errors import (
    BlockedAddress,
    ProtocolError,
    SockethubError,
    UpstreamUnavailable,
    os_reason,
)
from envelopes.registry import CLIENT_ADDRESS
from envelopes.settings import Settings, host_allowed

from ..net.dial import dial_each
from ..net.guard import Address, Resolver, system_resolver
from ..net.tls import handshake_error
from ..persistent import ConnectionSpec, Emit
from ..session.lifecycle import LiveUpstream
from .batch import Batches
from .caps import on_cap
from .chathistory import History, Marks, recover, server_history
from .context import IrcContext
from .limits import held_error, overflow_error
from .lines import MalformedLine, Message, TokenBucket, is_pong, parse_line
from .listing import Listing
from .numerics import IrcError, failure
from .reader import LineReader, LineTooLong
from .refusals import refusal_of
from .register import register
from .states import connection_event, error_event
from .sts import MemoryStsStore, StsStore, StsUpgrade, lookup
from .tags import TypingThrottle
from .translate import flush, translate
from .watch import rewatch, split_rooms
from .wire import IrcWire

__all__ = ["IrcUpstream"]

log = logging.getLogger("sockethub.irc")

_ECHOED = ("PRIVMSG", "NOTICE", "TAGMSG", "REDACT")  # what echo-message sends back to us
_OWN = ("send", "typing", "react", "delete")  # what those lines translate to

# A waiter's check sees each line and what it translated to; it returns True (done), an
# ``IrcError`` (failed) or None (not this line).
Check = Callable[[Message, list[Any]], Any]


class IrcUpstream(LiveUpstream):
    # Where a name's addresses come from; tests put a ``StaticResolver`` here.
    resolver: Resolver = staticmethod(system_resolver)  # type: ignore[assignment]

    def __init__(
        self,
        spec: ConnectionSpec,
        emit: Emit,
        settings: Settings,
        sts: StsStore | None = None,
        marks: Marks | None = None,
    ):
        c = spec.credentials
        super().__init__(spec, emit, str(c["server"]), IrcError)
        self.settings = settings
        self.host = str(c["server"])
        self.secure = bool(c.get("secure", True))
        self.port = int(c.get("port") or (6697 if self.secure else 6667))
        self.wanted_nick = str(c["nick"])
        self.password = c.get("password")
        self.username = str(c.get("username") or c["nick"])
        if c.get("realname"):
            self.realname, self.realname_field = str(c["realname"]), "credentials.realname"
        elif spec.actor.get("name"):
            self.realname, self.realname_field = str(spec.actor["name"]), "actor.name"
        else:
            self.realname, self.realname_field = str(c["nick"]), "credentials.nick"
        self.verify = not c.get("allowInvalidCert", False)
        # The browser's address as the gateway saw it, for WEBIRC (``webirc.py``).
        self.client_address = str(c.get(CLIENT_ADDRESS) or "")
        self.webirc = False  # a WEBIRC line went first: the server sees the browser's address
        self.sts: StsStore = sts or MemoryStsStore()  # IRCv3 sts policies (connectors/irc/sts.py)
        self.sts_port: int | None = None  # TLS required on this port by an STS policy
        self.ctx = IrcContext(
            server=self.host, nick=self.wanted_nick, people_limit=settings.irc_max_names
        )
        self.wire: IrcWire | None = None
        self.registered = False
        self._tokens = itertools.count(1)
        self._bucket = (
            TokenBucket(settings.irc_flood_rate, settings.irc_flood_burst)
            if settings.irc_flood_rate > 0
            else None
        )
        self._send_lock = asyncio.Lock()
        self._last_rx = time.monotonic()
        self._tasks: list[asyncio.Task[Any]] = []
        self.caps: set[str] = set()  # offered by the server at registration (CAP LS)
        self.enabled: set[str] = set()  # acknowledged (CAP ACK), less what CAP DEL removed
        self._flush_pending = False
        # IRCv3 batches the server has open: which lines answer our labelled commands.
        self.batches = Batches(min(settings.irc_max_batches, 1024), settings.irc_batch_silence)
        self.listing: Listing | None = None  # the LIST in progress (connectors/irc/listing.py)
        self.typing = TypingThrottle()  # outbound +typing=active, per conversation
        # What was delivered, across reconnects (the connector keeps it): gap recovery.
        self.marks = marks if marks is not None else Marks()
        self.recovery: asyncio.Task[None] | None = None  # chathistory.recover, after restore

    # -- events ----------------------------------------------------------------------------
    @property
    def nick(self) -> str:
        return self.ctx.nick

    def identity(self) -> tuple[str, str]:
        return f"{self.nick}@{self.host}", self.nick  # the current nick, after NICK too

    def connection_event(self, state: str, **fields: Any) -> dict[str, Any]:
        return connection_event(state, self.host, self.nick, **fields)

    # -- receiving -------------------------------------------------------------------------
    def _on_line(self, line: str) -> None:
        self._last_rx = time.monotonic()
        try:
            msg = parse_line(line)
        except MalformedLine:
            log.debug("unparseable line from %s: %r", self.host, line[:200])
            return
        if msg.command == "PING":
            try:
                self.raw(f"PONG :{msg.params[-1] if msg.params else ''}")
            except SockethubError as exc:  # a token we cannot echo (NUL, too long)
                log.debug("no PONG to %s: %s", self.host, exc.message)
            return
        if msg.command in ("ERROR", "465"):
            self._refused(msg)
        if msg.command == "ERROR":
            self.close_reason = msg.params[-1] if msg.params else "closed by server"
        elif msg.command == "CAP":
            on_cap(self, msg)
        elif msg.command == "JOIN" and self.ctx.is_me(msg.nick) and msg.params:
            if "away-notify" in self.enabled:
                # IRCv3 away-notify tells of changes only: WHO says who is away already.
                who = self._quietly(self.send_lines([f"WHO {msg.params[0]}"]))
                task = asyncio.get_running_loop().create_task(who)
                self._tasks.append(task)
                task.add_done_callback(self._tasks.remove)
        self.batches.feed(msg)
        try:
            # A history batch's lines are the answer to our CHATHISTORY, never live events.
            replayed = self.batches.of_type(msg, "chathistory")
            results = [] if replayed else translate(msg, self.ctx)
        except Exception:  # a translator bug must not take the connection down
            log.exception("could not translate %r", line[:200])
            results = []
        if (held := held_error(self.ctx, self.settings, self.host)) is not None:
            self.fail(held)
        # An error that failed a request is that request's reply, not an event too.
        claimed = {id(failure) for failure in self.waiters.offer(msg, results)}
        # An error in the answer to a labelled command is that command's (connectors/irc/ask.py).
        answer = self.batches.labelled(msg)
        # Our own message, echoed: the reply to its ``send`` carries it (connectors/irc/echo.py).
        echo = self.echoes and self.ctx.is_me(msg.nick) and msg.command in _ECHOED
        for result in results:
            if id(result) in claimed or self.closed.is_set():
                continue
            if echo and isinstance(result, dict) and result.get("type") in _OWN:
                continue
            if isinstance(result, IrcError):
                if self.registered and not answer:
                    self.emit(error_event(self.host, self.nick, result))
            elif self.registered:
                if result.get("type") == "send" and not self._first_time(result):
                    continue
                self.emit(result)
        if self.ctx.topics and not self._flush_pending:
            # a 332 waits for its 333; flush it once this batch of lines is done
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _refused(self, msg: Message) -> None:
        """Keep why the server sends us away (``refusals``); a ban is never downgraded by
        the ``ERROR`` that follows it."""
        said = msg.params[-1] if msg.params else ""
        refusal = refusal_of(msg.command, said, self.webirc)
        if refusal is not None and (self.refusal is None or self.refusal.condition != "banned"):
            self.refusal = refusal

    def _first_time(self, result: dict[str, Any]) -> bool:
        """Note a ``send`` delivered (gap recovery's marks); False when it was already."""
        target = result.get("target") or {}
        channel = self.ctx.fold(target["name"]) if target.get("type") == "room" else None
        return self.marks.note(result, channel)

    async def _quietly(self, coro: Any) -> None:
        try:
            await coro
        except SockethubError as exc:  # closed meanwhile, a name we cannot send
            log.debug("not sent to %s: %s", self.host, exc.message)

    def _flush(self) -> None:
        self._flush_pending = False
        for result in flush(self.ctx):
            if not isinstance(result, IrcError):
                self.emit(result)

    def _on_overflow(self, exc: LineTooLong) -> None:
        self.fail(overflow_error(exc, self.host))

    def fail(self, err: ProtocolError) -> None:
        """The server broke a cap: close now, fail every waiter with ``err``, no retry."""
        if self.closed.is_set():
            return
        log.warning("closing IRC connection to %s: %s", self.host, err.message)
        self.fatal = err
        self.close_reason = f"protocol error: {err.message}"
        if self.wire is not None:
            self.wire.close(abort=True, reason=self.close_reason)
        else:
            self._on_closed(self.close_reason)

    def _on_closed(self, message: str) -> None:
        if self.registered:
            self.marks.lost_at = time.time()
        if self.end(message):
            for task in self._tasks:
                task.cancel()

    # -- sending ---------------------------------------------------------------------------
    def raw(self, line: str, field: str | None = None) -> None:
        """Send now, bypassing flood control (PONG, PING, QUIT, registration). The wire
        refuses CR, LF, NUL and overlong lines, naming ``field`` when given."""
        if self.wire is None or self.closed.is_set():
            raise UpstreamUnavailable(f"not connected to {self.host}")
        try:
            self.wire.send(line, field)
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(f"{self.host}: {exc.message}") from None

    async def send_lines(self, lines: list[str]) -> None:
        """Send ``lines`` in order, paced by the token bucket."""
        async with self._send_lock:
            for line in lines:
                if self._bucket is not None:
                    delay = self._bucket.take()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self.raw(line)

    async def roundtrip(
        self, lines: list[str], fail_on: Callable[[IrcError], bool], timeout: float
    ) -> None:
        """Send ``lines`` then a PING; done at its PONG, failed by a matching error first."""
        token = f"sh{next(self._tokens)}"

        def check(msg: Message, results: list[Any]) -> Any:
            return failure(results, fail_on) or (True if is_pong(msg, token) else None)

        waiter = self.expect(check)
        await self.send_lines(lines)
        self.raw(f"PING :{token}")
        await self.wait(waiter, timeout, "in time")

    @property
    def labels(self) -> bool:
        """IRCv3 labeled-response (with batch) is on: answers carry our label."""
        return {"labeled-response", "batch"} <= self.enabled

    @property
    def echoes(self) -> bool:
        """IRCv3 echo-message is on: the server sends our messages back."""
        return "echo-message" in self.enabled

    @property
    def tags(self) -> bool:
        """IRCv3 message-tags is on: client tags (typing, replies, reactions) reach others."""
        return "message-tags" in self.enabled

    # -- lifecycle -------------------------------------------------------------------------
    async def _dial(self) -> None:
        if not host_allowed(self.host, self.settings.allowed_hosts):
            raise BlockedAddress(f"{self.host} is not an allowed server (SOCKETHUB_ALLOWED_HOSTS)")
        # Every address the name resolves to, in order (connectors/net/dial.py).
        self.wire = await dial_each(
            self.host,
            self.port,
            self.settings.allow_private_addresses,
            self._dial_one,
            resolver=self.resolver,
        )

    async def _dial_one(self, address: Address) -> IrcWire:
        family, sockaddr = address
        kwargs: dict[str, Any] = {}
        if self.secure:
            ctx = ssl.create_default_context()
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            kwargs = {"ssl": ctx, "server_hostname": self.host}
        settings = self.settings
        budget = (
            TokenBucket(settings.irc_line_rate, max(1, settings.irc_line_burst))
            if settings.irc_line_rate > 0
            else None
        )
        wire = IrcWire(
            LineReader(settings.irc_max_line_bytes, settings.irc_max_tag_bytes),
            budget,
            self._on_line,
            self._on_overflow,
            self._on_closed,
            settings.irc_max_unsent_bytes,
        )
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: wire, sockaddr[0], sockaddr[1], family=family, **kwargs
            )
        except OSError as exc:  # ssl.SSLError included
            tls = handshake_error(f"{self.host}:{self.port}", exc) if self.secure else None
            # Never a fallback to plaintext: the host's policy asks for TLS (IRCv3 sts).
            pinned = (
                f" ({self.host} requires TLS on port {self.port} by its IRCv3 STS policy; "
                "no plaintext fallback)"
                if self.sts_port is not None
                else ""
            )
            if tls is not None:
                raise type(tls)(tls.message + pinned) from None
            raise UpstreamUnavailable(
                f"could not connect to {self.host}:{self.port}: {os_reason(exc)}{pinned}"
            ) from None
        return wire

    async def connect(self) -> None:
        if not self.secure and (port := await lookup(self)) is not None:
            self._require_tls(port)  # a remembered STS policy: TLS from the start
        await self._dial()
        try:
            try:
                await register(self)
            except StsUpgrade as upgrade:
                # IRCv3 sts: leave the plaintext connection before registering and come
                # back with TLS; its end is not this upstream's end.
                assert self.wire is not None
                self.wire.on_lost = lambda _reason: None
                self.wire.close(abort=True)
                self._require_tls(upgrade.port)
                await self._dial()
                await register(self)
        except BaseException:
            self._abort()
            raise
        if self.fatal is not None:
            raise self.fatal  # the flood came with the welcome: fail the connect itself
        self.registered = True
        self._tasks.append(asyncio.get_running_loop().create_task(self._keepalive()))

    async def _keepalive(self) -> None:
        interval = max(1.0, self.settings.irc_ping_interval)
        while not self.closed.is_set():
            await asyncio.sleep(interval / 2)
            silent = time.monotonic() - self._last_rx
            if silent > interval * 2:
                self.close_reason = f"no answer from {self.host} for {silent:.0f} s"
                self._abort()
                return
            if silent > interval:
                try:
                    self.raw("PING :keepalive")
                except SockethubError:
                    return

    def track(self, task: asyncio.Task[Any]) -> None:
        """A task of this connection: cancelled when it closes."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)

    def _require_tls(self, port: int) -> None:
        self.secure, self.port, self.sts_port = True, port, port

    def _abort(self) -> None:
        if self.wire is not None:
            self.wire.close(reason=self.close_reason)

    async def restore(self, rooms: list[str]) -> None:
        channels, watched = split_rooms(rooms)
        for room in channels:
            try:
                await self.join(room, timeout=15)
            except SockethubError as exc:
                err = IrcError("rejoin-failed", "", f"could not rejoin {room}: {exc.message}", room)
                self.emit(error_event(self.host, self.nick, err))
        try:
            await rewatch(self, watched)
        except SockethubError as exc:
            log.info("could not watch again on %s: %s", self.host, exc.message)
        joined = [c for c in channels if self.ctx.joined(c)]
        # In the background: verbs held for the reconnect need not wait for the history.
        self.recovery = asyncio.get_running_loop().create_task(recover(self, joined))
        self.track(self.recovery)

    async def server_history(
        self,
        conversation: str,
        *,
        before: str | None = None,
        after: str | None = None,
        around: str | None = None,
        limit: int,
    ) -> History | None:
        """A page of ``conversation`` from the server's chathistory; None without it."""
        return await server_history(
            self, conversation, before=before, after=after, around=around, limit=limit
        )

    async def close(self, reason: str) -> None:
        if self.wire is None or self.closed.is_set():
            return  # already lost: a reconnect recovers from the marks
        self.marks.forget()  # closed while up (disconnect, handover): nothing to recover here
        try:
            self.raw(f"QUIT :{reason}")
        except SockethubError:
            pass
        await self.closed_within(2)
        self.close_reason = reason
        self._abort()

    # -- verbs -----------------------------------------------------------------------------
    def own_echo(self, command: str, channel: str) -> Check:
        """A waiter check: done when the server echoes our ``command`` (JOIN, PART) on
        ``channel``, failed by an error naming that channel first."""
        folded = self.ctx.fold(channel)
        fails = self.fails_for(channel)

        def check(msg: Message, results: list[Any]) -> Any:
            if (err := failure(results, fails)) is not None:
                return err
            if (
                msg.command == command
                and self.ctx.is_me(msg.nick)
                and msg.params
                and self.ctx.fold(msg.params[0]) == folded
            ):
                return True
            return None

        return check

    async def join(self, channel: str, timeout: float = 15) -> None:
        if self.ctx.joined(channel):
            return
        waiter = self.expect(self.own_echo("JOIN", channel))
        await self.send_lines([f"JOIN {channel}"])
        await self.wait(waiter, timeout, f"JOIN {channel}")

    def fails_for(self, name: str) -> Callable[[IrcError], bool]:
        folded = self.ctx.fold(name)
        return lambda err: err.target is not None and self.ctx.fold(err.target) == folded

    async def expect_after(
        self,
        lines: list[str],
        check: Check,
        timeout: float,
        what: str,
    ) -> Any:
        waiter = self.expect(check)
        await self.send_lines(lines)
        return await self.wait(waiter, timeout, what)
