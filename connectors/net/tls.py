"""A failed TLS handshake, in words a user can act on.

The commonest cause by far is TLS asked for against a plain-text port (IRC's 6667 with the
TLS box left ticked). The server then either answers the ClientHello with a line of its
own protocol, which OpenSSL reports as a record that is no TLS (``WRONG_VERSION_NUMBER``),
or reads it in silence as a garbled line and drops the connection after a while (ngircd
resets it after ~10 s): a reset or an EOF before the handshake finished. Both are
permanent (trying again gives the same), not a transient "connection reset".
"""

from __future__ import annotations

import ssl

from envelopes.errors import TlsError

__all__ = ["handshake_error"]

# OpenSSL's reasons for bytes that are no TLS record at all.
_NOT_TLS = {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "RECORD_LAYER_FAILURE"}
_PLAIN_HINT = (
    "the server does not speak TLS on this port (a plain-text port?): "
    "turn TLS off, or use the server's TLS port"
)


def handshake_error(where: str, exc: OSError) -> TlsError | None:
    """The ``TlsError`` for ``exc`` raised while connecting with TLS to ``where``
    (``host:port``), or None when it is no TLS failure (refused, unreachable: the caller's
    usual connection error). Call it only for a connection that asked for TLS."""
    if isinstance(exc, ssl.SSLCertVerificationError) or getattr(exc, "verify_message", None):
        why = getattr(exc, "verify_message", None) or "certificate verify failed"
        return TlsError(f"TLS with {where} failed: certificate verify failed: {why}")
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in _NOT_TLS or isinstance(exc, ssl.SSLEOFError):
            return TlsError(f"TLS with {where} failed: {_PLAIN_HINT}")
        return TlsError(f"TLS with {where} failed: {reason or 'handshake'}")
    # The TCP connection was up (a refusal is ConnectionRefusedError): dropped during the
    # handshake, it was a server that did not understand the ClientHello.
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return TlsError(f"TLS with {where} failed: {_PLAIN_HINT}")
    return None
