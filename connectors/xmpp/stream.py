"""The slixmpp side of one account: where to connect, the stream, and logging in.

slixmpp's ``ClientXMPP`` is created on the loop the runtime runs us on (``loop=``), so
every stanza of every account of the process is handled by that one loop. It does TLS
(STARTTLS, or direct TLS, XEP-0368), SASL, resource binding and XEP-0199 keepalive pings.

What we take away from slixmpp: reconnecting. Its connect loop retries for ever and its
keepalive and see-other-host call ``reconnect()``; here a failed attempt fails with an
``envelopes.errors`` error and a lost stream just closes, so the runtime's supervisor
reconnects with its backoff and failover (and no redirect can lead a worker past the
address guard). slixmpp dials the address the guard checked and verifies the certificate
against the JID's domain (RFC 6120 §13.7.2.1), never against the host dialled.

What we add: a cap on what a server (chosen by a browser) can make us hold. slixmpp feeds
every byte to its XML pull parser, which keeps a stanza, a tag or text between stanzas
in memory until it completes; ``Stream.max_stanza`` caps the bytes received since the last
complete stanza (within one read of the cap), and going over it aborts the stream with a
``ProtocolError`` kept in ``protocol_error``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable
from typing import Any

import slixmpp
from slixmpp.stanza import Iq, Message, Presence
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp.xmlstream.resolver import default_resolver, get_SRV

from envelopes.errors import (
    AuthenticationFailed,
    ProtocolError,
    SockethubError,
    TlsError,
    UpstreamUnavailable,
    os_reason,
)

from .errors import sasl_failure, stream_failure

__all__ = [
    "KEEPALIVE_INTERVAL",
    "KEEPALIVE_TIMEOUT",
    "Stream",
    "log_in",
    "make_stream",
    "SessionGone",
    "resume_stream",
    "targets",
    "tls_context",
]

KEEPALIVE_INTERVAL = 60.0  # XEP-0199 ping to our server this often...
KEEPALIVE_TIMEOUT = 30.0  # ...and the stream is taken for dead without an answer.


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """One context per process: loading the CA store per account would cost memory each.

    ``SSL_CERT_FILE`` (OpenSSL's own variable) points it at another CA bundle, e.g. the
    self-signed certificate of a test server."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Stream(slixmpp.ClientXMPP):  # type: ignore[misc]
    max_stanza = 1048576  # SOCKETHUB_XMPP_MAX_STANZA_BYTES
    protocol_error: ProtocolError | None = None
    _held = 0  # bytes received since the stream opened or the last stanza completed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sasl = self.plugin["feature_mechanisms"]
        offered = sasl._handle_sasl_auth
        self.unregister_feature("mechanisms", sasl.order)

        def no_downgrade(features: Any) -> Any:
            # slixmpp tries the next-best mechanism after a refusal (RFC 6120 §6.4.5
            # allows it), so a refused SCRAM went on to PLAIN, which hands the password
            # itself to whoever refused a proof of it. When SCRAM is offered, only SCRAM
            # (with or without channel binding) is ever tried on this stream.
            scram = {m for m in features["mechanisms"] if m.startswith("SCRAM-")}
            if scram:
                sasl.use_mechs = scram
            return offered(features)

        self.register_feature("mechanisms", no_downgrade, restart=True, order=sasl.order)

    def data_received(self, data: bytes | str) -> None:
        if self.protocol_error is not None:
            return
        self._held += len(data)
        if self._held > self.max_stanza:
            self.protocol_error = ProtocolError(
                f"{self.boundjid.domain} sent more than {self.max_stanza} bytes without "
                "completing a stanza (SOCKETHUB_XMPP_MAX_STANZA_BYTES)"
            )
            self.disconnect_reason = self.protocol_error.message
            self.abort()
            return
        super().data_received(data)

    def start_stream_handler(self, xml: Any) -> None:
        self._held = 0
        super().start_stream_handler(xml)

    def _spawn_event(self, xml: Any) -> None:
        self._held = 0  # a stanza is complete (what follows it in this read is not counted)
        super()._spawn_event(xml)

    def reconnect(self, wait: float = 2.0, reason: str = "Reconnecting") -> None:
        # Called by the XEP-0199 keepalive on a timeout and on see-other-host
        # (RFC 6120 §4.9.3.19). Drop the stream; the runtime decides what comes next.
        self.disconnect_reason = reason
        self.abort()

    @property
    def resumable(self) -> bool:
        """The server gave this stream an id to resume it by (XEP-0198 §5)."""
        return bool(self.plugin["xep_0198"].sm_id)

    def send_element(self, element: Any) -> None:
        """Send a stanza built by ``outbound`` as slixmpp's own stanza object, so stream
        management counts it and keeps it until the server acks it (``send_xml`` would
        write it as text, which XEP-0198 never sees, and the counts would disagree)."""
        kind = element.tag.rpartition("}")[2]
        cls = {"message": Message, "presence": Presence, "iq": Iq}[kind]
        self.send(cls(self, xml=element))

    def retire(self) -> None:
        """Stop the send task now, on the loop: a stream is never reused, and slixmpp's
        ``__del__`` would otherwise cancel it from whichever thread collects it."""
        task, self._run_out_filters = self._run_out_filters, None
        if task is not None:
            task.cancel()


async def targets(domain: str, server: str | None, port: int | None) -> list[tuple[str, int, bool]]:
    """(host, port, direct TLS) to try, in order. An explicit server or port wins over
    the domain's SRV records (RFC 6120 §3.2.1). XEP-0368: ``xmpps-client`` records, or
    port 5223, mean TLS from the first byte; otherwise STARTTLS."""
    if server or port:
        chosen = port or 5222
        return [(server or domain, chosen, chosen == 5223)]
    records = await get_SRV(
        domain,
        5222,
        ["xmpps-client", "xmpp-client"],
        resolver=default_resolver(asyncio.get_running_loop()),
    )
    found = [(host, p, service == "xmpps-client") for service, host, p in records if host != "."]
    return found or [(domain, 5222, False)]


def make_stream(
    full_jid: str,
    password: str,
    *,
    verify: bool,
    direct: bool,
    on_stanza: Callable[[Any], None],
    max_stanza: int = 1048576,
) -> Stream:
    """A stream on the running loop; every message, presence and roster push goes to
    ``on_stanza``."""
    x = Stream(full_jid, password, loop=asyncio.get_running_loop(), ssl_context=tls_context(verify))
    x.max_stanza = max_stanza
    x.enable_direct_tls, x.enable_starttls, x.enable_plaintext = direct, not direct, False
    x.auto_authorize = None  # subscription requests go to the browser, unanswered
    x.auto_subscribe = False
    x.register_plugin("xep_0030")
    x.register_plugin("xep_0198")  # stream management: acks, and resuming a lost stream
    x.register_plugin(
        "xep_0199",
        {"keepalive": True, "interval": KEEPALIVE_INTERVAL, "timeout": KEEPALIVE_TIMEOUT},
    )
    for kind in ("message", "presence"):
        x.register_handler(
            Callback(f"sh {kind}", MatchXPath(f"{{jabber:client}}{kind}"), on_stanza)
        )
    x.add_event_handler("roster_update", on_stanza)
    return x


async def log_in(x: Stream, address: str, port: int, where: str) -> None:
    """Connect ``x`` to the checked ``address`` and return once the session started.

    Fails with ``TlsError`` (certificate, or no TLS offered), ``AuthenticationFailed``
    (every SASL mechanism refused) or ``UpstreamUnavailable``; cleans up after itself."""
    outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    refused = {"condition": ""}

    def fail(exc: SockethubError) -> None:
        if not outcome.done():
            outcome.set_exception(exc)

    def tls_failed(exc: Any) -> None:
        # OpenSSL's reason (CERTIFICATE_VERIFY_FAILED) helps; the library's text does not.
        fail(TlsError(f"TLS with {where} failed: {getattr(exc, 'reason', None) or 'handshake'}"))

    def connection_failed(exc: Any) -> None:
        if isinstance(exc, ssl.SSLError):
            tls_failed(exc)
        else:
            why = os_reason(exc) if isinstance(exc, OSError) else "connection failed"
            fail(UpstreamUnavailable(f"could not connect to {where}: {why}"))

    def auth_failed(failure: Any) -> None:
        refused["condition"] = str(failure["condition"] or "not-authorized")

    def all_auth_failed(_event: Any) -> None:
        if x.transport is not None and x.transport.get_extra_info("ssl_object") is None:
            fail(TlsError(f"{where} offered no TLS; refusing to log in without it"))
            return
        cond = refused["condition"]
        if not cond:
            fail(AuthenticationFailed(f"{x.boundjid.bare} could not log in: no usable mechanism"))
            return
        fail(sasl_failure(cond, f"{x.boundjid.bare} could not log in: {cond}"))

    def stream_error(error: Any) -> None:
        refused["stream"] = str(error["condition"])
        refused["text"] = str(error["text"] or "")

    def closed(reason: Any) -> None:
        if x.protocol_error is not None:
            fail(x.protocol_error)
        cond = refused.get("stream")
        if cond:
            text = f" ({refused['text']})" if refused.get("text") else ""
            fail(stream_failure(cond, f"{where} ended the stream while logging in: {cond}{text}"))
        why = os_reason(reason) if isinstance(reason, OSError) else reason
        why = f": {why}" if why and isinstance(why, str) else ""
        fail(UpstreamUnavailable(f"{where} closed the connection while logging in{why}"))

    def started(_event: Any) -> None:
        if not outcome.done():
            outcome.set_result(None)

    x.add_event_handler("session_start", started)
    x.add_event_handler("connection_failed", connection_failed)
    x.add_event_handler("ssl_invalid_chain", tls_failed)
    x.add_event_handler("failed_auth", auth_failed)
    x.add_event_handler("failed_all_auth", all_auth_failed)
    x.add_event_handler("stream_error", stream_error)
    x.add_event_handler("disconnected", closed)
    x.connect(address, port)
    try:
        await outcome
    except BaseException:
        x.cancel_connection_attempt()
        x.abort()
        x.retire()
        raise
    finally:
        x.del_event_handler("disconnected", closed)
        x.del_event_handler("stream_error", stream_error)


class SessionGone(UpstreamUnavailable):
    """The server no longer has the session to resume (XEP-0198 ``<failed/>``): only a
    new login helps. Internal: the upstream then ends like any lost connection."""


async def resume_stream(x: Stream, address: str, port: int, where: str, timeout: float) -> None:
    """Connect ``x`` again and resume its session (XEP-0198 §5): SASL again, then
    ``<resume previd h/>`` instead of binding a resource, so the server keeps our session
    (rooms, presence, what it queued for us) and resends what we missed; slixmpp resends
    what the server had not acked. Fails with ``UpstreamUnavailable`` (the server forgot
    the session, refused us, or the connection failed), after cleaning up the attempt."""
    outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def fail(why: str, error: type[UpstreamUnavailable] = UpstreamUnavailable) -> None:
        if not outcome.done():
            outcome.set_exception(error(f"could not resume with {where}: {why}"))

    def resumed(_event: Any) -> None:
        # slixmpp queues every stanza sent while no session is up (its resends of what
        # the server had not acked included) and lets them go at ``session_start``, which
        # a resumed stream never has: let them go now, in the order they were sent.
        x._set_session_start(None)
        if not outcome.done():
            outcome.set_result(None)

    handlers: dict[str, Callable[[Any], None]] = {
        "session_resumed": resumed,
        "sm_failed": lambda _e: fail("the server no longer has the session", SessionGone),
        "session_start": lambda _e: fail("a new session was bound", SessionGone),
        "failed_all_auth": lambda _e: fail("login refused"),
        "connection_failed": lambda e: fail(os_reason(e) if isinstance(e, OSError) else "refused"),
        "disconnected": lambda _e: fail("closed while resuming"),
    }
    for name, handler in handlers.items():
        x.add_event_handler(name, handler)
    x.connect(address, port)
    try:
        await asyncio.wait_for(outcome, timeout)
    except TimeoutError:
        x.cancel_connection_attempt()
        x.abort()
        raise UpstreamUnavailable(f"could not resume with {where} within {timeout:.0f} s") from None
    except BaseException:
        x.cancel_connection_attempt()
        x.abort()
        raise
    finally:
        for name, handler in handlers.items():
            x.del_event_handler(name, handler)
