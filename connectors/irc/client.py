"""One IRC connection on the worker's loop: jaraco ``irc``'s asyncio transport, our logic.

jaraco's ``AioConnection`` carries the socket (TLS, lenient line decoding, line framing);
every received line goes to ``translate`` and to the requests waiting for an answer.
Registration is ours: ``CAP LS`` first, then SASL PLAIN when the server offers it and a
password was given, else the server password (``PASS``), then ``NICK``/``USER``.
Outgoing lines pass a token bucket (flood control); PING/PONG and QUIT skip it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import irc.client_aio
import irc.connection
from jaraco.stream.buffer import LenientDecodingLineBuffer

from envelopes.errors import (
    AuthenticationFailed,
    BlockedAddress,
    SockethubError,
    TlsError,
    UpstreamTimeout,
    UpstreamUnavailable,
    os_reason,
)
from envelopes.settings import Settings, host_allowed

from ..net.guard import resolve_checked
from ..persistent import ConnectionSpec, Emit, Upstream
from .context import IrcContext
from .ids import person, service
from .lines import MalformedLine, Message, TokenBucket, parse_line
from .numerics import IrcError
from .states import connection_event
from .translate import flush, translate

__all__ = ["IrcUpstream", "Waiter"]

log = logging.getLogger("sockethub.irc")

ALT_NICKS = 3  # nick_, nick__, nick___ before giving up on a collision at connect


@dataclass
class Waiter:
    """A request waiting for the server: ``check`` returns True (done), an ``IrcError``
    (failed) or None (not this line)."""

    check: Callable[[Message, list[Any]], Any]
    future: asyncio.Future[Any]
    results: list[Any] = field(default_factory=list)


class _Connection(irc.client_aio.AioConnection):
    buffer_class = LenientDecodingLineBuffer  # one latin-1 line must not kill the loop

    def __init__(self, reactor: Any, owner: IrcUpstream):
        super().__init__(reactor)
        self.owner = owner

    def _process_line(self, line: str) -> None:
        self.owner._on_line(line)

    def disconnect(self, message: str = "") -> None:
        try:
            del self.connected
        except AttributeError:
            return
        try:
            self.transport.close()
        except Exception:
            pass
        self.owner._on_closed(message)


class IrcUpstream(Upstream):
    def __init__(self, spec: ConnectionSpec, emit: Emit, settings: Settings):
        super().__init__(spec, emit)
        c = spec.credentials
        self.settings = settings
        self.host = str(c["server"])
        self.secure = bool(c.get("secure", True))
        self.port = int(c.get("port") or (6697 if self.secure else 6667))
        self.wanted_nick = str(c["nick"])
        self.password = c.get("password")
        self.username = str(c.get("username") or c["nick"])
        self.realname = str(c.get("realname") or spec.actor.get("name") or c["nick"])
        self.verify = not c.get("allowInvalidCert", False)
        self.ctx = IrcContext(server=self.host, nick=self.wanted_nick)
        self.conn: _Connection | None = None
        self.waiters: list[Waiter] = []
        self.closed = asyncio.Event()
        self.close_reason = "connection closed"
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
        self._caps: set[str] = set()
        self._flush_pending = False

    # -- events ----------------------------------------------------------------------------
    @property
    def nick(self) -> str:
        return self.ctx.nick

    def state_event(self, state: str, **fields: Any) -> dict[str, Any]:
        return connection_event(state, self.host, self.nick, **fields)

    def _error_event(self, err: IrcError) -> dict[str, Any]:
        exc = err.exception()  # the same code and condition a failed reply would carry
        return {
            "@context": connection_event("connected", self.host)["@context"],
            "type": "error",
            "actor": service(self.host),
            "target": person(self.nick, self.host),
            "object": {
                "type": "error",
                "code": exc.code,
                "condition": err.code,
                "retryable": exc.retryable,
                "numeric": err.numeric,
                "content": err.message,
            },
            "error": err.message,
        }

    # -- receiving -------------------------------------------------------------------------
    def _on_line(self, line: str) -> None:
        self._last_rx = time.monotonic()
        try:
            msg = parse_line(line)
        except MalformedLine:
            log.debug("unparseable line from %s: %r", self.host, line[:200])
            return
        if msg.command == "PING":
            self._raw(f"PONG :{msg.params[-1] if msg.params else ''}")
            return
        if msg.command == "ERROR":
            self.close_reason = msg.params[-1] if msg.params else "closed by server"
        try:
            results = translate(msg, self.ctx)
        except Exception:  # a translator bug must not take the connection down
            log.exception("could not translate %r", line[:200])
            results = []
        claimed: set[int] = set()
        for waiter in list(self.waiters):
            outcome = waiter.check(msg, results)
            if outcome is None:
                continue
            self.waiters.remove(waiter)
            if waiter.future.done():
                continue
            if isinstance(outcome, IrcError):
                claimed.update(id(r) for r in results if r is outcome)
                waiter.future.set_exception(outcome.exception())
            else:
                claimed.update(id(r) for r in waiter.results)
                waiter.future.set_result(outcome)
        for result in results:
            if id(result) in claimed:
                continue
            if isinstance(result, IrcError):
                if self.registered:
                    self.emit(self._error_event(result))
            elif self.registered:
                self.emit(result)
        if self.ctx.topics and not self._flush_pending:
            # a 332 waits for its 333; flush it once this batch of lines is done
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        for result in flush(self.ctx):
            if not isinstance(result, IrcError):
                self.emit(result)

    def _on_closed(self, message: str) -> None:
        if message:
            self.close_reason = message
        self.closed.set()
        for waiter in self.waiters:
            if not waiter.future.done():
                waiter.future.set_exception(
                    UpstreamUnavailable(f"connection to {self.host} lost: {self.close_reason}")
                )
        self.waiters.clear()
        for task in self._tasks:
            task.cancel()

    def expect(self, check: Callable[[Message, list[Any]], Any]) -> Waiter:
        waiter = Waiter(check, asyncio.get_running_loop().create_future())
        self.waiters.append(waiter)
        return waiter

    async def wait(self, waiter: Waiter, timeout: float, what: str) -> Any:
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
            raise UpstreamTimeout(
                f"{self.host} did not answer {what} within {timeout:.0f} s"
            ) from None

    # -- sending ---------------------------------------------------------------------------
    def _raw(self, line: str) -> None:
        """Send now, bypassing flood control (PONG, PING, QUIT, registration)."""
        if self.conn is None or self.closed.is_set():
            raise UpstreamUnavailable(f"not connected to {self.host}")
        self.conn.send_raw(line)

    async def send_lines(self, lines: list[str]) -> None:
        """Send ``lines`` in order, paced by the token bucket."""
        async with self._send_lock:
            for line in lines:
                if self._bucket is not None:
                    delay = self._bucket.take()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self._raw(line)

    async def roundtrip(
        self, lines: list[str], fail_on: Callable[[IrcError], bool], timeout: float
    ) -> None:
        """Send ``lines`` then a PING; done at its PONG, failed by a matching error first."""
        token = f"sh{next(self._tokens)}"

        def check(msg: Message, results: list[Any]) -> Any:
            for r in results:
                if isinstance(r, IrcError) and fail_on(r):
                    return r
            if msg.command == "PONG" and msg.params and msg.params[-1] == token:
                return True
            return None

        waiter = self.expect(check)
        await self.send_lines(lines)
        self._raw(f"PING :{token}")
        await self.wait(waiter, timeout, "in time")

    # -- lifecycle -------------------------------------------------------------------------
    async def _dial(self) -> None:
        if not host_allowed(self.host, self.settings.allowed_hosts):
            raise BlockedAddress(f"{self.host} is not an allowed server (SOCKETHUB_ALLOWED_HOSTS)")
        addresses = await asyncio.to_thread(
            resolve_checked, self.host, self.port, self.settings.allow_private_addresses
        )
        family, sockaddr = addresses[0]
        kwargs: dict[str, Any] = {}
        if self.secure:
            ctx = ssl.create_default_context()
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            kwargs = {"ssl": ctx, "server_hostname": self.host}
        reactor = irc.client_aio.AioReactor(loop=asyncio.get_running_loop())
        conn = _Connection(reactor, self)
        conn.buffer = conn.buffer_class()
        conn.real_nickname = self.wanted_nick
        conn.server, conn.port = self.host, self.port
        factory = irc.connection.AioFactory(**kwargs)
        protocol = conn.protocol_class(conn, reactor.loop)
        try:
            transport, _ = await factory(protocol, (sockaddr[0], sockaddr[1]))
        except ssl.SSLError as exc:
            why = getattr(exc, "verify_message", None)
            detail = f"certificate verify failed: {why}" if why else (exc.reason or "handshake")
            raise TlsError(f"TLS with {self.host}:{self.port} failed: {detail}") from None
        except OSError as exc:
            raise UpstreamUnavailable(
                f"could not connect to {self.host}:{self.port}: {os_reason(exc)}"
            ) from None
        conn.transport, conn.protocol, conn.connected = transport, protocol, True
        self.conn = conn

    async def connect(self) -> None:
        await self._dial()
        try:
            await self._register()
        except BaseException:
            self._abort()
            raise
        self.registered = True
        self._tasks.append(asyncio.get_running_loop().create_task(self._keepalive()))

    async def _register(self) -> None:
        caps = self.expect(
            lambda m, _r: (
                m.params[-1].split()
                if m.command == "CAP" and len(m.params) > 2 and m.params[1] == "LS"
                else ([] if m.command in ("421", "451", "001") else None)
            )
        )
        self._raw("CAP LS 302")
        try:
            self._caps = set(await self.wait(caps, 5, "CAP LS"))
        except UpstreamTimeout:
            self._caps = set()
        sasl = bool(self.password) and any(c.split("=")[0] == "sasl" for c in self._caps)
        if self.password and not sasl:
            self._raw(f"PASS {self.password}")
        welcome = self.expect(self._registration_check)
        self._raw(f"NICK {self.wanted_nick}")
        self._raw(f"USER {self.username} 0 * :{self.realname}")
        if sasl:
            await self._sasl()
        self._raw("CAP END")
        await self.wait(welcome, 30, "the registration")
        if self.nick != self.wanted_nick:
            # Tell the browser its nick was taken and which one it got instead.
            self.emit(
                {
                    "@context": connection_event("connected", self.host)["@context"],
                    "type": "update",
                    "actor": person(self.wanted_nick, self.host),
                    "target": person(self.nick, self.host),
                    "object": {"type": "address", "content": f"{self.wanted_nick} was in use"},
                }
            )

    def _registration_check(self, msg: Message, results: list[Any]) -> Any:
        if msg.command == "001":
            return True
        if msg.command in ("433", "432", "436", "437") and not self.registered:
            tried = self.ctx.nick
            if msg.command == "432" or len(tried) - len(self.wanted_nick) >= ALT_NICKS:
                err = next((r for r in results if isinstance(r, IrcError)), None)
                return err or IrcError(
                    "nick-in-use", msg.command, f"nickname {tried} is not available", tried
                )
            self.ctx.nick = tried + "_"
            self._raw(f"NICK {self.ctx.nick}")
            return None
        if msg.command in ("464", "465", "904", "905"):
            return next(
                (r for r in results if isinstance(r, IrcError)),
                IrcError("auth-failed", msg.command, "authentication failed"),
            )
        if msg.command == "ERROR":
            text = msg.params[-1] if msg.params else ""
            # Some servers (ngircd) refuse a bad PASS with ERROR alone, no 464.
            code = "auth-failed" if "password" in text.lower() else "closed"
            return IrcError(code, "ERROR", f"{self.host} closed the connection: {text}")
        return None

    async def _sasl(self) -> None:
        ack = self.expect(
            lambda m, _r: (
                (m.command == "CAP" and len(m.params) > 2 and m.params[1] in ("ACK", "NAK"))
                and m.params[1]
                or None
            )
        )
        self._raw("CAP REQ :sasl")
        if await self.wait(ack, 10, "CAP REQ") != "ACK":
            raise AuthenticationFailed(f"{self.host} refused SASL")
        go = self.expect(lambda m, _r: True if m.command == "AUTHENTICATE" else None)
        self._raw("AUTHENTICATE PLAIN")
        await self.wait(go, 10, "AUTHENTICATE")
        done = self.expect(
            lambda m, r: (
                True
                if m.command == "903"
                else (
                    IrcError("auth-failed", m.command, "SASL authentication failed")
                    if m.command in ("902", "904", "905", "906")
                    else None
                )
            )
        )
        blob = f"{self.username}\0{self.username}\0{self.password}".encode()
        self._raw("AUTHENTICATE " + base64.b64encode(blob).decode())
        await self.wait(done, 15, "SASL")

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
                    self._raw("PING :keepalive")
                except SockethubError:
                    return

    def _abort(self) -> None:
        if self.conn is not None:
            self.conn.disconnect(self.close_reason)

    async def wait_closed(self) -> str:
        await self.closed.wait()
        return self.close_reason

    async def restore(self, rooms: list[str]) -> None:
        for room in rooms:
            try:
                await self.join(room, timeout=15)
            except SockethubError as exc:
                self.emit(
                    self._error_event(
                        IrcError(
                            "rejoin-failed", "", f"could not rejoin {room}: {exc.message}", room
                        )
                    )
                )

    async def close(self, reason: str) -> None:
        if self.conn is None or self.closed.is_set():
            return
        try:
            self._raw(f"QUIT :{reason}")
        except SockethubError:
            pass
        try:
            await asyncio.wait_for(self.closed.wait(), 2)
        except TimeoutError:
            pass
        self.close_reason = reason
        self._abort()

    # -- verbs -----------------------------------------------------------------------------
    def own_echo(self, command: str, channel: str) -> Callable[[Message, list[Any]], Any]:
        """A waiter check: done when the server echoes our ``command`` (JOIN, PART) on
        ``channel``, failed by an error naming that channel first."""
        folded = self.ctx.fold(channel)
        fails = self.fails_for(channel)

        def check(msg: Message, results: list[Any]) -> Any:
            for r in results:
                if isinstance(r, IrcError) and fails(r):
                    return r
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
        check: Callable[[Message, list[Any]], Any],
        timeout: float,
        what: str,
    ) -> Any:
        waiter = self.expect(check)
        await self.send_lines(lines)
        return await self.wait(waiter, timeout, what)
