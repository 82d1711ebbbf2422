"""Every error the gateway can answer with, in one tree.

Each class carries a stable machine ``code`` (what programs match on), whether retrying
can help (``retryable``) and a human message (what people read). A failed reply carries
all three, plus the ``path`` of the offending field for invalid envelopes. No library
exception crosses a connector's boundary: connectors map what they catch onto one of these.

``code`` is always the class's code. What the protocol itself said (IRC's ``nick-in-use``,
XMPP's ``forbidden``) goes in ``details`` as ``{"condition": ..., "platform": ...}``, the
first entry, so a client tells retryable from permanent by ``code`` (or ``retryable``)
alone and can still show or match the server's own words.

``retryable`` means: the same request, sent again unchanged after a pause, may succeed.
It is false when something must change first (the request, the credentials, a
``connect``), and for ``internal`` (a bug does not go away by asking twice). It is a class
attribute, so every subclass inherits its branch's answer: the transient branch,
``rate-limited`` (the pause is the point) and ``timeout`` say yes; the client branch,
credentials, sessions and the permanent branch say no. ``timeout`` is retryable although
the request may have been carried out (a message sent): the reply cannot know.

    class                            code                  retryable
    SockethubError                   internal              no   unexpected: ``ref`` names it
    ├── ClientError                  client-error          no   the request itself is wrong
    │   ├── InvalidFrame             invalid-frame         no   not JSON, bad kind
    │   │   └── InvalidUnicode       invalid-unicode       no   a lone surrogate (\\ud800)
    │   ├── FrameTooLarge            frame-too-large       no   over the frame limit
    │   ├── InvalidEnvelope          invalid-envelope      no   names the field
    │   ├── UnknownPlatform          unknown-platform      no   @context names none
    │   ├── UnknownVerb              unknown-verb          no   not offered there
    │   ├── RateLimited              rate-limited          yes  slow down first
    │   ├── DuplicateRequest         duplicate-request     no   id already used
    │   └── NotConnected             not-connected         no   ``connect`` first
    ├── CredentialError              credentials-error     no
    │   ├── CredentialsMissing       credentials-missing   no   send them first
    │   └── CredentialsInvalid       credentials-invalid   no   cannot be read
    ├── ConnectorError               connector-error       no   raised by connectors
    │   ├── TransientError           transient             yes  may succeed later
    │   │   ├── UpstreamUnavailable  upstream-unavailable  yes  cannot reach it
    │   │   ├── UpstreamTimeout      upstream-timeout      yes  no answer in time
    │   │   ├── UpstreamError        upstream-error        yes  5xx, 429, XMPP wait
    │   │   └── Reconnecting         reconnecting          yes  restoring until the deadline
    │   │                                                       (not sent), or its worker
    │   │                                                       died while it ran (maybe sent)
    │   └── PermanentError           permanent             no   not as asked
    │       ├── AuthenticationFailed auth-failed           no
    │       ├── NotFound             not-found             no
    │       ├── Refused              refused               no   the upstream said no
    │       ├── BlockedAddress       blocked-address       no   host not allowed
    │       ├── TooLarge             too-large             no   over the cap
    │       ├── NotAFeed             not-a-feed            no   not RSS or Atom
    │       ├── TlsError             tls-error             no   certificate, handshake
    │       └── ProtocolError        protocol-error        no   the upstream broke a cap
    ├── RequestTimeout               timeout               yes  no reply in time (it may
    │                                                           have happened: check first)
    ├── NotSent                      not-sent              yes  its gateway stopped before
    │                                                           it left: it did not run
    └── SessionError                 session-error         no
        ├── SessionExpired           session-expired       no   the session ended
        ├── SessionRefused           session-refused       no   wrong resume token
        └── KeepRefused              keep-refused          no   not kept: a cap was reached
                                                                (the session still works)

``internal_error`` turns an unexpected exception into an ``internal`` error whose message
names only a reference (``ref``); the exception goes to the log under that reference.
``from_dict`` rebuilds an error on the other side of a queue, keeping its code.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, ClassVar

__all__ = [
    "SockethubError",
    "ClientError",
    "InvalidFrame",
    "InvalidUnicode",
    "FrameTooLarge",
    "InvalidEnvelope",
    "UnknownPlatform",
    "UnknownVerb",
    "RateLimited",
    "DuplicateRequest",
    "NotConnected",
    "CredentialError",
    "CredentialsMissing",
    "CredentialsInvalid",
    "ConnectorError",
    "TransientError",
    "UpstreamUnavailable",
    "UpstreamTimeout",
    "Reconnecting",
    "UpstreamError",
    "PermanentError",
    "AuthenticationFailed",
    "NotFound",
    "Refused",
    "BlockedAddress",
    "TooLarge",
    "NotAFeed",
    "TlsError",
    "ProtocolError",
    "RequestTimeout",
    "NotSent",
    "SessionError",
    "SessionExpired",
    "SessionRefused",
    "KeepRefused",
    "all_codes",
    "condition_detail",
    "from_dict",
    "internal_error",
    "os_reason",
]


class SockethubError(Exception):
    """Base of the tree. ``code`` is stable; ``message`` is for people."""

    code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        code: str | None = None,
        details: list[dict[str, str]] | None = None,
        ref: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details
        self.ref = ref
        if code is not None:
            self.code = code  # type: ignore[misc]

    @property
    def condition(self) -> str | None:
        """The protocol's own condition (``nick-in-use``, ``forbidden``), if it gave one."""
        for detail in self.details or ():
            if "condition" in detail:
                return detail["condition"]
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.path is not None:
            out["path"] = self.path
        if self.details:
            out["details"] = self.details
        if self.ref is not None:
            out["ref"] = self.ref
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class ClientError(SockethubError):
    code = "client-error"


class InvalidFrame(ClientError):
    code = "invalid-frame"


class InvalidUnicode(InvalidFrame):
    """JSON can escape half of a UTF-16 pair (``"\\ud800"``); no UTF-8 encoder accepts it."""

    code = "invalid-unicode"


class FrameTooLarge(ClientError):
    code = "frame-too-large"


class InvalidEnvelope(ClientError):
    code = "invalid-envelope"


class UnknownPlatform(ClientError):
    code = "unknown-platform"


class UnknownVerb(ClientError):
    code = "unknown-verb"


class RateLimited(ClientError):
    code = "rate-limited"
    retryable = True


class DuplicateRequest(ClientError):
    code = "duplicate-request"


class NotConnected(ClientError):
    code = "not-connected"


class CredentialError(SockethubError):
    code = "credentials-error"


class CredentialsMissing(CredentialError):
    code = "credentials-missing"


class CredentialsInvalid(CredentialError):
    code = "credentials-invalid"


class ConnectorError(SockethubError):
    code = "connector-error"


class TransientError(ConnectorError):
    code = "transient"
    retryable = True


class UpstreamUnavailable(TransientError):
    code = "upstream-unavailable"


class UpstreamTimeout(TransientError):
    code = "upstream-timeout"


class Reconnecting(TransientError):
    code = "reconnecting"


class UpstreamError(TransientError):
    code = "upstream-error"


class PermanentError(ConnectorError):
    code = "permanent"


class AuthenticationFailed(PermanentError):
    code = "auth-failed"


class NotFound(PermanentError):
    code = "not-found"


class Refused(PermanentError):
    code = "refused"


class BlockedAddress(PermanentError):
    code = "blocked-address"


class TooLarge(PermanentError):
    code = "too-large"


class NotAFeed(PermanentError):
    code = "not-a-feed"


class TlsError(PermanentError):
    code = "tls-error"


class ProtocolError(PermanentError):
    """The upstream server sent what no well-behaved server sends (a line over the cap, a
    list that never ends): the connection is closed and not retried."""

    code = "protocol-error"


class RequestTimeout(SockethubError):
    code = "timeout"
    retryable = True


class NotSent(SockethubError):
    """Accepted by a gateway that stopped before handing it to a worker: it never ran, and
    its id may be sent again (``envelopes.markers``)."""

    code = "not-sent"
    retryable = True


class SessionError(SockethubError):
    code = "session-error"


class SessionExpired(SessionError):
    code = "session-expired"


class SessionRefused(SessionError):
    code = "session-refused"


class KeepRefused(SessionError):
    """``hello.keep`` not granted (``SOCKETHUB_KEPT_*``): the welcome's ``keepRefused``."""

    code = "keep-refused"


def _walk(cls: type[SockethubError]) -> list[type[SockethubError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_walk(sub))
    return out


def all_codes() -> dict[str, type[SockethubError]]:
    """Every code the tree defines, mapped to the class that first defines it (a subclass
    elsewhere that keeps its parent's code, e.g. a task time limit, does not replace it)."""
    codes: dict[str, type[SockethubError]] = {}
    for cls in _walk(SockethubError):
        codes.setdefault(cls.code, cls)
    return codes


def condition_detail(platform: str, name: str, **extra: str) -> dict[str, str]:
    """The ``details`` entry naming what the protocol itself said, e.g. ``nick-in-use``."""
    return {"condition": name, "platform": platform, **extra}


def internal_error(
    logger: logging.Logger, what: str, exc: BaseException | None = None
) -> SockethubError:
    """An ``internal`` error for an unexpected exception: the reply names only a reference,
    the log gets the exception (class, text, traceback) under the same reference."""
    ref = secrets.token_hex(4)
    logger.error("%s (ref %s)", what, ref, exc_info=exc if exc is not None else True)
    return SockethubError(
        f"internal error (ref {ref}); the operator's logs have the details", ref=ref
    )


# What each kind of socket failure is called when the OS gave no words of its own.
_OS_WORDS: tuple[tuple[type[OSError], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (ConnectionAbortedError, "connection aborted"),
    (BrokenPipeError, "connection closed"),
    (TimeoutError, "timed out"),
)


def os_reason(exc: OSError) -> str:
    """What may be shown of a socket error: the OS's own words (``Connection refused``,
    ``Name or service not known``), never a library's message or class name."""
    if exc.strerror:
        return str(exc.strerror)
    for cls, words in _OS_WORDS:
        if isinstance(exc, cls):
            return words
    return "network error"


def from_dict(data: dict[str, Any]) -> SockethubError:
    """Rebuild an error from ``to_dict`` output; unknown codes keep their code on the base."""
    code = str(data.get("code", "internal"))
    cls = all_codes().get(code, SockethubError)
    err = cls(
        str(data.get("message", "")),
        path=data.get("path"),
        code=code,
        details=data.get("details"),
        ref=data.get("ref"),
    )
    if cls is SockethubError and isinstance(data.get("retryable"), bool):
        err.retryable = data["retryable"]  # type: ignore[misc]
    return err
