"""TLS asked for against a plain-text IRC port: a permanent ``tls-error`` that says so.

Servers on 127.0.0.1 that speak no TLS: one answers the ClientHello with an IRC line at
once (OpenSSL then sees no TLS record), one reads it in silence and drops the connection
(ngircd does that after ~10 s; this one after 0.2 s).
"""

from __future__ import annotations

import asyncio

import pytest

from envelopes.errors import TlsError

from .test_client import PRIVATE_OK, run, upstream


async def _plain_server(answer: bytes | None) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # the ClientHello, read as if it were IRC
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        else:
            await asyncio.sleep(0.2)
            writer.transport.abort()  # a reset, as ngircd gives up on the garbage
            return
        await asyncio.sleep(0.5)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize(
    "answer",
    [b":irc.test NOTICE * :*** Looking up your hostname...\r\n", None],
    ids=["answers-in-plain-text", "drops-the-connection"],
)
def test_tls_against_a_plain_port_says_so_and_suggests_tls_off(answer: bytes | None) -> None:
    async def go() -> None:
        server = await _plain_server(answer)
        port = server.sockets[0].getsockname()[1]
        try:
            up = upstream(port, PRIVATE_OK, secure=True)
            with pytest.raises(TlsError) as caught:
                await asyncio.wait_for(up.connect(), 10)
        finally:
            server.close()
        message = caught.value.message
        assert f"127.0.0.1:{port}" in message
        assert "plain-text" in message and "TLS off" in message, message

    run(go())
