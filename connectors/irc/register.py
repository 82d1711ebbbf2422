"""Registration: what an IRC connection says between the dial and RPL_WELCOME (001).

``CAP LS 302`` first (IRCv3 capability negotiation; a 302 reply may span several lines,
``CAP * LS * :…`` until one without the ``*``), followed by a ``PING``: a server without
CAP (InspIRCd without its CAP module) ignores ``CAP LS`` without a word, but answers the
PING (451, not registered, or a PONG), and a server with CAP answers ``CAP LS`` before
it, so we know at once, never after a fixed wait. We must know before ``NICK``/``USER``:
the password goes with SASL when the server offers it, else as ``PASS``, which must come
first (ngircd refuses a PASS after NICK). Then ``CAP REQ`` for the IRCv3 capabilities we
use (``caps``), SASL PLAIN or ``PASS``, ``NICK``/``USER``, ``CAP END``; registration is
done at the welcome (001).

Every value from the credentials or the actor is checked here, before anything is
written, so a refusal names its field; ``lines.encode_line`` refuses CR, LF and NUL again
for every line actually written, whatever its origin.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from envelopes.errors import AuthenticationFailed, InvalidEnvelope, UpstreamTimeout

from ..session.activity import activity
from . import sts
from .caps import cap_reply, names, wanted
from .ids import person
from .limits import caps_error
from .lines import Message, check_value, is_pong
from .numerics import IrcError
from .webirc import webirc_line

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["ALT_NICKS", "CAP_PROBE", "SASL_CHUNK", "check_identity", "register", "sasl_chunks"]

ALT_NICKS = 3  # nick_, nick__, nick___ before giving up on a collision at connect
SASL_CHUNK = 400  # IRCv3 SASL 3.1: AUTHENTICATE payloads go in chunks of 400 bytes
CAP_PROBE = "sh-cap"  # the PING token after CAP LS: its answer means "no CAP here"


def identity_fields(up: IrcUpstream) -> list[tuple[str, str]]:
    """What registration writes, by the field it came from."""
    out = [
        ("credentials.nick", up.wanted_nick),
        ("credentials.username", up.username),
        (up.realname_field, up.realname),
    ]
    if up.password:
        out.append(("credentials.password", str(up.password)))
    return out


def check_identity(up: IrcUpstream) -> None:
    """Refuse, naming the field, what cannot go into NICK, USER, PASS or AUTHENTICATE."""
    for path, value in identity_fields(up):
        check_value(path, value)
    words = (("credentials.nick", up.wanted_nick), ("credentials.username", up.username))
    for path, value in words:
        # RFC 2812 §2.3.1: a space ends a middle parameter; the rest would become more
        # parameters (or, for USER, shift the realname).
        if not value or " " in value or value.startswith(":"):
            raise InvalidEnvelope(
                f"an IRC {path.split('.')[1]} must be one word, not starting with ':' ({path})",
                path=path,
            )


def sasl_chunks(payload: bytes) -> list[str]:
    """The ``AUTHENTICATE`` arguments carrying ``payload`` (IRCv3 SASL 3.1): base64 in
    chunks of 400 bytes, and a final ``+`` when the last chunk is exactly 400 bytes long
    (or the payload is empty), so the server knows it has everything."""
    data = base64.b64encode(payload).decode()
    chunks = [data[i : i + SASL_CHUNK] for i in range(0, len(data), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks


async def register(up: IrcUpstream) -> None:
    check_identity(up)
    line = webirc_line(up.settings.irc_webirc, up.host, up.port, up.client_address)
    if line is not None:  # before anything else, as the WEBIRC specification asks
        up.raw(line, "SOCKETHUB_IRC_WEBIRC")
        up.webirc = True
    caps = await _cap_ls(up)
    await sts.on_caps(up, caps)  # IRCv3 sts: may end here, to reconnect with TLS
    up.caps = caps
    if want := wanted(caps):
        await _request(up, want)
    sasl = bool(up.password) and "sasl" in names(caps)
    if up.password and not sasl:
        # A trailing parameter: a password may hold spaces or start with ':'.
        up.raw(f"PASS :{up.password}", "credentials.password")
    welcome = up.expect(lambda m, r: _registration_check(up, m, r))
    up.raw(f"NICK {up.wanted_nick}", "credentials.nick")
    up.raw(f"USER {up.username} 0 * :{up.realname}", up.realname_field)
    if sasl:
        await _sasl(up)
    up.raw("CAP END")
    await up.wait(welcome, 30, "the registration")
    if up.nick != up.wanted_nick:
        # Tell the browser its nick was taken and which one it got instead.
        obj = {"type": "address", "content": f"{up.wanted_nick} was in use"}
        asked, got = person(up.wanted_nick, up.host), person(up.nick, up.host)
        up.emit(activity("irc", "update", asked, got, obj))


async def _cap_ls(up: IrcUpstream) -> set[str]:
    """The server's capabilities; empty when it does not speak CAP (421/451/001, the
    answer to our PING, or no answer in 5 s). A 302 reply ``CAP * LS * :…`` continues on
    the next line."""
    caps: list[str] = []
    lines = 0
    limit = up.settings.irc_max_caps

    def check(m: Message, _r: list[Any]) -> Any:
        nonlocal lines
        if m.command == "CAP" and len(m.params) > 2 and m.params[1] == "LS":
            lines += 1
            caps.extend(m.params[-1].split())
            if len(caps) > limit or lines > limit:
                up.fail(caps_error(up.host, limit))
                return None
            more = len(m.params) > 3 and m.params[2] == "*"
            return None if more else caps
        if is_pong(m, CAP_PROBE):
            return caps
        return caps if m.command in ("421", "451", "001") else None

    waiter = up.expect(check)
    up.raw("CAP LS 302")
    up.raw(f"PING :{CAP_PROBE}")
    try:
        return set(await up.wait(waiter, 5, "CAP LS"))
    except UpstreamTimeout:
        return set()


def _registration_check(up: IrcUpstream, msg: Message, results: list[Any]) -> Any:
    if msg.command == "001":
        return True
    if msg.command in ("433", "432", "436", "437") and not up.registered:
        tried = up.ctx.nick
        if msg.command == "432" or len(tried) - len(up.wanted_nick) >= ALT_NICKS:
            err = next((r for r in results if isinstance(r, IrcError)), None)
            return err or IrcError(
                "nick-in-use", msg.command, f"nickname {tried} is not available", tried
            )
        up.ctx.nick = tried + "_"
        up.raw(f"NICK {up.ctx.nick}", "credentials.nick")
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
        return IrcError(code, "ERROR", f"{up.host} closed the connection: {text}")
    return None


async def _request(up: IrcUpstream, caps: list[str]) -> str:
    """``CAP REQ`` and its answer, ``ACK`` or ``NAK`` (all or none, IRCv3 3.1). What was
    acknowledged is recorded by ``caps.on_cap`` as the line goes by."""

    def answered(m: Message, _r: list[Any]) -> Any:
        reply = cap_reply(m)
        return reply[0] if reply and reply[0] in ("ACK", "NAK") else None

    ack = up.expect(answered)
    up.raw(f"CAP REQ :{' '.join(caps)}")
    answer: str = await up.wait(ack, 10, "CAP REQ")
    return answer


async def _sasl(up: IrcUpstream) -> None:
    if await _request(up, ["sasl"]) != "ACK":
        raise AuthenticationFailed(f"{up.host} refused SASL")
    go = up.expect(lambda m, _r: True if m.command == "AUTHENTICATE" else None)
    up.raw("AUTHENTICATE PLAIN")
    await up.wait(go, 10, "AUTHENTICATE")
    done = up.expect(
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
    # RFC 4616 PLAIN: authzid NUL authcid NUL password.
    blob = f"{up.username}\0{up.username}\0{up.password}".encode()
    for chunk in sasl_chunks(blob):
        up.raw(f"AUTHENTICATE {chunk}", "credentials.password")
    await up.wait(done, 15, "SASL")
