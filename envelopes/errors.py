"""Every error the gateway can answer with, in one tree.

Each class carries a stable machine ``code`` (what programs match on) and a human message
(what people read). A failed reply carries both, plus the ``path`` of the offending field
for invalid envelopes. No library exception crosses a connector's boundary: connectors map
what they catch onto one of these.

    SockethubError                   code: internal
    ├── ClientError                  the request itself is wrong; retrying will not help
    │   ├── InvalidFrame             invalid-frame      not JSON, not an object, bad frame kind
    │   ├── FrameTooLarge            frame-too-large    over SOCKETHUB_MAX_FRAME_BYTES
    │   ├── InvalidEnvelope          invalid-envelope   schema refusal, names the field (path)
    │   ├── UnknownPlatform          unknown-platform   @context names no (or several) platforms
    │   ├── UnknownVerb              unknown-verb       verb not offered by the platform
    │   ├── RateLimited              rate-limited       too many requests from this session
    │   ├── DuplicateRequest         duplicate-request  a request id already used
    │   └── NotConnected             not-connected      a verb before ``connect``
    ├── CredentialError
    │   ├── CredentialsMissing       credentials-missing  verb needs credentials not stored
    │   └── CredentialsInvalid       credentials-invalid  stored ones cannot be read
    ├── ConnectorError               raised by connectors
    │   ├── TransientError           transient    may succeed later (network, upstream busy)
    │   │   ├── UpstreamUnavailable  upstream-unavailable
    │   │   └── UpstreamTimeout      upstream-timeout
    │   └── PermanentError           permanent    will not succeed as asked
    │       ├── AuthenticationFailed auth-failed
    │       ├── NotFound             not-found
    │       ├── Refused              refused      the upstream said no (ban, full, nick in use)
    │       ├── BlockedAddress       blocked-address   the host is not allowed
    │       ├── TooLarge             too-large    the upstream's answer is over the cap
    │       ├── NotAFeed             not-a-feed   what was fetched is not RSS or Atom
    │       ├── TlsError             tls-error    certificate or handshake failure
    │       └── ProtocolError        protocol-error  the upstream broke the protocol or a
    │                                                cap (overlong line, endless list)
    ├── RequestTimeout               timeout      no terminal answer within the deadline
    └── SessionError                 session-*    resume refused, session expired

``from_dict`` rebuilds an error on the other side of a queue, keeping its code.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "SockethubError",
    "ClientError",
    "InvalidFrame",
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
    "SessionError",
    "all_codes",
    "from_dict",
]


class SockethubError(Exception):
    """Base of the tree. ``code`` is stable; ``message`` is for people."""

    code: ClassVar[str] = "internal"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        code: str | None = None,
        details: list[dict[str, str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details
        if code is not None:
            self.code = code  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.path is not None:
            out["path"] = self.path
        if self.details:
            out["details"] = self.details
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class ClientError(SockethubError):
    code = "client-error"


class InvalidFrame(ClientError):
    code = "invalid-frame"


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


class UpstreamUnavailable(TransientError):
    code = "upstream-unavailable"


class UpstreamTimeout(TransientError):
    code = "upstream-timeout"


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


class SessionError(SockethubError):
    code = "session-error"


def _walk(cls: type[SockethubError]) -> list[type[SockethubError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_walk(sub))
    return out


def all_codes() -> dict[str, type[SockethubError]]:
    """Every code the tree defines, mapped to its class."""
    return {cls.code: cls for cls in _walk(SockethubError)}


def from_dict(data: dict[str, Any]) -> SockethubError:
    """Rebuild an error from ``to_dict`` output; unknown codes keep their code on the base."""
    code = str(data.get("code", "internal"))
    cls = all_codes().get(code, SockethubError)
    return cls(
        str(data.get("message", "")),
        path=data.get("path"),
        code=code,
        details=data.get("details"),
    )
