"""What a failed fetch or connect says is ours or the OS's: never a library's text or class
name (docs/protocol.md, error codes). Scripted servers on 127.0.0.1 answer what a hostile
or broken upstream would."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from connectors.net.guard import resolve_checked
from connectors.net.http import fetch
from envelopes.errors import SockethubError, UpstreamUnavailable
from tasks.supervisor import _connect_error
from tests.stack import free_port

# Words of http.client's, zlib's and the socket module's own that must not reach a reply.
LIBRARY_WORDS = ("BadStatusLine", "RemoteDisconnected", "Error -3", "zlib", "Errno", "[SSL")


class Scripted:
    """Answers every connection with ``answer`` (or closes at once when it is empty)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    if self.answer:
                        conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    made: list[Scripted] = []
    yield made
    for s in made:
        s.close()


def _failure(scripted: list[Scripted], answer: bytes) -> SockethubError:
    server = Scripted(answer)
    scripted.append(server)
    with pytest.raises(SockethubError) as caught:
        fetch(f"http://127.0.0.1:{server.port}/x", allow_private=True)
    for words in LIBRARY_WORDS:
        assert words not in caught.value.message, caught.value.message
    return caught.value


def test_a_bad_status_line_is_named_in_words(scripted):
    err = _failure(scripted, b"SPEAKING NONSENSE\r\n\r\n")
    assert err.code == "upstream-error"
    assert err.message.endswith("not a valid HTTP response (a bad status line)")


def test_a_close_without_an_answer_is_named_in_words(scripted):
    err = _failure(scripted, b"")
    assert err.code == "upstream-unavailable" and err.retryable
    assert err.message.endswith("it closed the connection without an answer")


def test_a_corrupt_gzip_body_is_named_in_words(scripted):
    body = gzip.compress(b"<rss/>")[:10] + b"\xff" * 20
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
    err = _failure(scripted, head + body)
    assert err.code == "upstream-error"
    assert err.message.endswith("the gzip body is corrupt")


def test_a_refused_connection_gives_the_os_words():
    port = free_port()  # nothing listens there
    with pytest.raises(UpstreamUnavailable) as caught:
        fetch(f"http://127.0.0.1:{port}/", allow_private=True)
    assert caught.value.message.endswith("Connection refused")


def test_an_unknown_host_gives_the_os_words():
    def resolver(host: str, port: int):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UpstreamUnavailable) as caught:
        resolve_checked("nowhere.test", 80, False, resolver=resolver)
    assert caught.value.message == "could not resolve nowhere.test: Name or service not known"


def test_a_connect_that_raises_something_unexpected_is_an_internal_reference(caplog):
    with caplog.at_level(logging.ERROR, "sockethub.manager"):
        err = _connect_error(ValueError("token=s3cret in a library"), 10, "irc:k1")
    data = err.to_dict()
    assert data["code"] == "internal" and data["ref"] in data["message"]
    assert "s3cret" not in str(data) and "ValueError" not in str(data)
    assert any(data["ref"] in r.getMessage() and r.exc_info for r in caplog.records)
    assert _connect_error(TimeoutError(), 10, "k").to_dict()["code"] == "upstream-timeout"
    refused = _connect_error(ConnectionRefusedError(111, "Connection refused"), 10, "k")
    assert refused.message == "could not connect: Connection refused" and refused.retryable
