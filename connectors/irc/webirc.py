"""WEBIRC: the network sees each browser's own address, not the gateway's.

A network that trusts this gateway gives its operator a password; with it, the first line
we send on a connection is ``WEBIRC <password> sockethub <host> <ip>`` (ircv3.net's WEBIRC
specification), naming the address of the browser that opened the connection, as the
gateway saw it through ``SOCKETHUB_TRUSTED_PROXIES``. The network then applies its limits,
bans and clone counts to that browser alone: one abusive user no longer gets everyone who
shares the gateway banned.

``SOCKETHUB_IRC_WEBIRC`` lists ``server=password`` or ``server:port=password`` entries; a
server not listed gets no WEBIRC line. Passwords come from settings only: they are never
in Redis.
"""

from __future__ import annotations

import ipaddress

from envelopes.settings import ConfigError

__all__ = ["GATEWAY_NAME", "passwords", "webirc_line"]

GATEWAY_NAME = "sockethub"


def passwords(entries: tuple[str, ...]) -> dict[tuple[str, int | None], str]:
    """``(host, port or None) → password``; raises ``ConfigError`` naming a bad entry."""
    found: dict[tuple[str, int | None], str] = {}
    for entry in entries:
        where, sep, password = entry.partition("=")
        where, password = where.strip().lower().rstrip("."), password.strip()
        if not sep or not where or not password or " " in password:
            raise ConfigError(
                f"SOCKETHUB_IRC_WEBIRC entry {entry.split('=')[0]!r}=…: write server=password "
                "or server:port=password (no spaces in the password)"
            )
        host, colon, port = where.rpartition(":")
        if colon and port.isdigit() and host:
            found[(host, int(port))] = password
        else:
            found[(where, None)] = password
    return found


def webirc_line(entries: tuple[str, ...], host: str, port: int, address: str) -> str | None:
    """The WEBIRC line for a connection to ``host:port`` on behalf of ``address``, or None
    (no password for that server, or no usable address)."""
    if not entries or not address:
        return None
    table = passwords(entries)
    host = host.lower().rstrip(".")
    password = table.get((host, port)) or table.get((host, None))
    if password is None:
        return None
    try:
        ip = str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None
    # A parameter cannot begin with ':' (it would be the trailing one): "::1" → "0::1".
    shown = f"0{ip}" if ip.startswith(":") else ip
    return f"WEBIRC {password} {GATEWAY_NAME} {shown} {shown}"
