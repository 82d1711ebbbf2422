"""Scripted XMPP servers on 127.0.0.1: one floods the stream instead of logging anyone in,
one records the SASL mechanisms a client tries after being refused.

It answers the client's stream header with its own, then sends ``opening`` and ``filler``
(64 KiB at a time) until ``total`` bytes, as fast as the client reads: one stanza without
end (``<message><body>`` + ``x``...), whitespace for ever, a start tag that never closes.
``sent`` counts what it wrote. Use it on the test's loop (``async with``) or, for the
worker processes of a ``Stack``, on a loop of its own (``with server.threaded():``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.servers.prosody import certificate

__all__ = ["HostileXmppServer", "SaslRecordingServer"]

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0'>"
)


class HostileXmppServer:
    """Answers the stream header with its own, then sends ``opening`` and ``filler``
    (64 KiB at a time) until ``total`` bytes, as fast as the client reads."""

    def __init__(self, opening: bytes, filler: bytes, total: int = 32 * 1024 * 1024):
        self.opening, self.filler, self.total = opening, filler, total
        self.sent = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b">")  # the client's stream header (or its XML decl)
            writer.write(HEADER + self.opening)
            chunk = self.filler * (65536 // len(self.filler))
            while self.sent < self.total:
                writer.write(chunk)
                self.sent += len(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> HostileXmppServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    @contextlib.contextmanager
    def threaded(self) -> Iterator[HostileXmppServer]:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.__aenter__(), loop).result(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.__aexit__(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"


class SaslRecordingServer:
    """A server that offers STARTTLS (required), then ``mechanisms``, and refuses every
    ``<auth>`` with ``not-authorized`` at once, recording each mechanism the client tries
    in ``attempts`` (RFC 6120 §6.4.5 lets a client try another one after a failure: what
    it tries then is what the test is about). ``certs`` is a directory for its key."""

    def __init__(self, certs: Path, mechanisms: tuple[str, ...] = ("SCRAM-SHA-1", "PLAIN")):
        self.mechanisms = mechanisms
        self.attempts: list[str] = []
        self.payloads: list[bytes] = []  # each <auth>'s decoded initial response
        crt = certificate(certs)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(crt, certs / "localhost.key")

    @staticmethod
    async def _until(
        reader: asyncio.StreamReader, buf: bytearray, pattern: bytes
    ) -> tuple[bytes, ...]:
        while (found := re.search(pattern, buf, re.S)) is None:
            chunk = await reader.read(4096)
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(buf), None)
            buf += chunk
        groups = tuple(bytes(g or b"") for g in found.groups())  # before buf changes
        del buf[: found.end()]
        return groups

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        features = f"<stream:features><starttls xmlns='{TLS}'><required/></starttls>"
        try:
            await self._until(reader, buf, rb"<stream:stream[^>]*>")
            writer.write(HEADER + features.encode() + b"</stream:features>")
            await self._until(reader, buf, rb"<starttls[^>]*/>")
            writer.write(f"<proceed xmlns='{TLS}'/>".encode())
            await writer.drain()
            await writer.start_tls(self.tls)
            buf.clear()
            await self._until(reader, buf, rb"<stream:stream[^>]*>")
            offered = "".join(f"<mechanism>{m}</mechanism>" for m in self.mechanisms)
            features = f"<stream:features><mechanisms xmlns='{SASL}'>{offered}</mechanisms>"
            writer.write(HEADER + features.encode() + b"</stream:features>")
            while True:  # every attempt refused, until the client gives up
                auth = await self._until(
                    reader, buf, rb"<auth[^>]*mechanism=['\"]([^'\"]+)['\"][^>]*>(.*?)</auth>"
                )
                self.attempts.append(auth[0].decode())
                self.payloads.append(base64.b64decode(auth[1] or b"="))
                writer.write(f"<failure xmlns='{SASL}'><not-authorized/></failure>".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> SaslRecordingServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
