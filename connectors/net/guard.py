"""The address guard: which hosts a browser may aim a worker at.

Every host that comes from a browser (a feed URL, a page to describe, an IRC or XMPP
server) is resolved here and every address it resolves to is checked, so a worker never
connects to loopback, the LAN, a cloud metadata service (169.254.169.254) or our own Redis
on a browser's say-so. Callers connect to the checked addresses themselves, never to the
name again: a second DNS answer (DNS rebinding) cannot slip in between check and connect.

Pure standard library, no HTTP: the HTTP client, IRC and XMPP all use it.

Two seams, each with an in-memory twin for tests: ``Resolver`` (``system_resolver`` asks
the operating system, ``StaticResolver`` answers from a table) and ``Dial``
(``open_socket`` connects to exactly the checked address, ``RoutedDial`` sends chosen
addresses to local test servers and refuses every other non-loopback one).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from envelopes.errors import BlockedAddress, UpstreamUnavailable, os_reason

__all__ = [
    "Address",
    "Resolver",
    "ALLOW_PRIVATE_HINT",
    "check_address",
    "blocked_reason",
    "resolve_checked",
    "system_resolver",
    "StaticResolver",
    "Dial",
    "open_socket",
    "RoutedDial",
]

# (socket family, sockaddr) as socket.getaddrinfo gives them; what callers connect to.
Address = tuple[int, tuple[Any, ...]]
# host, port → addresses; raises OSError (socket.gaierror) when the name does not resolve.
Resolver = Callable[[str, int], list[Address]]

ALLOW_PRIVATE_HINT = "set SOCKETHUB_ALLOW_PRIVATE_ADDRESSES=true to allow it"

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[_Net, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


# Never useful as a TCP destination, so refused even when private addresses are allowed:
# on Linux, connecting to 0.0.0.0 or :: reaches this very host.
_NEVER = _nets(
    ("0.0.0.0/8", "an unspecified ('this network') address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("224.0.0.0/4", "a multicast address"),
    ("::/128", "the unspecified address"),
    ("ff00::/8", "a multicast address"),
)

# Not public, but a LAN or a test may mean it: allowed by SOCKETHUB_ALLOW_PRIVATE_ADDRESSES.
# Ranges from the IANA special-purpose registries (RFC 6890 and its updates).
_PRIVATE_V4 = _nets(
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata services live here)"),
    ("100.64.0.0/10", "a carrier-grade NAT address (RFC 6598)"),
    ("192.0.0.0/24", "an IETF protocol assignment address"),
    ("192.0.2.0/24", "a documentation address (RFC 5737)"),
    ("198.51.100.0/24", "a documentation address (RFC 5737)"),
    ("203.0.113.0/24", "a documentation address (RFC 5737)"),
    ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
    ("192.88.99.0/24", "a deprecated 6to4 relay address (RFC 7526)"),
    ("240.0.0.0/4", "a reserved address"),
)
_PRIVATE_V6 = _nets(
    ("::1/128", "a loopback address"),
    ("fc00::/7", "a unique-local address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a deprecated site-local address"),
    ("2001:db8::/32", "a documentation address (RFC 3849)"),
    ("3fff::/20", "a documentation address (RFC 9637)"),
    ("100::/64", "a discard-only address (RFC 6666)"),
    ("2001::/23", "an IETF protocol assignment address"),
    ("5f00::/16", "an SRv6 segment identifier (RFC 9602)"),
    ("::/8", "a reserved address (IPv4-compatible or unassigned)"),
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")

# IPv6 forms that carry an IPv4 destination; judged by that IPv4 address (RFC 6052, 3056,
# 4380). For the local-use NAT64 prefix we read the /96 layout, the one in common use.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _reason_v4(ip: ipaddress.IPv4Address, allow_private: bool) -> tuple[str, bool] | None:
    for net, why in _NEVER:
        if ip in net:
            return why, False
    if allow_private:
        return None
    for net, why in _PRIVATE_V4:
        if ip in net:
            return why, True
    if not ip.is_global:  # whatever the registry adds after this table was written
        return "not a globally routable address", True
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "an IPv4-mapped address"
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "a NAT64 address"
    if ip.sixtofour is not None:
        return ip.sixtofour, "a 6to4 address"
    if ip.teredo is not None:
        return ip.teredo[1], "a Teredo address"  # the client, where packets end up
    return None


def _reason_v6(ip: ipaddress.IPv6Address, allow_private: bool) -> tuple[str, bool] | None:
    embedded = _embedded_v4(ip)
    if embedded is not None:
        v4, form = embedded
        inner = _reason_v4(v4, allow_private)
        if inner is None:
            return None
        return f"{form} embedding {v4}, {inner[0]}", inner[1]
    for net, why in _NEVER:
        if net.version == 6 and ip in net:
            return why, False
    if allow_private:
        return None
    for net, why in _PRIVATE_V6:
        if ip in net:
            return why, True
    if ip not in _GLOBAL_UNICAST_V6:
        return "outside the global unicast range 2000::/3", True
    return None


def blocked_reason(ip: str, allow_private: bool) -> str | None:
    """Why ``ip`` may not be connected to, as a phrase ("a loopback address"), or None."""
    try:
        addr: _IP = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return "not an IP address"
    if isinstance(addr, ipaddress.IPv4Address):
        found = _reason_v4(addr, allow_private)
    else:
        found = _reason_v6(addr, allow_private)
    if found is None:
        return None
    why, overridable = found
    return f"{why}; {ALLOW_PRIVATE_HINT}" if overridable else why


def check_address(ip: str, allow_private: bool) -> None:
    """Refuse ``ip`` with ``BlockedAddress`` unless it is a public unicast address.

    ``allow_private`` lets loopback, private, link-local and the other non-public ranges
    through (tests, LANs); unspecified, broadcast and multicast addresses stay refused.
    """
    why = blocked_reason(ip, allow_private)
    if why is not None:
        raise BlockedAddress(f"{ip} is {why}")


def system_resolver(host: str, port: int) -> list[Address]:
    """The operating system's answer for ``host`` (TCP only), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, sockaddr) for family, _t, _p, _c, sockaddr in infos]


class StaticResolver:
    """In-memory twin of ``system_resolver``: names answer from a table, never from DNS.

    ``StaticResolver({"public.test": ["93.184.216.34"]})``. An unknown name fails the way
    DNS does (``socket.gaierror``).
    """

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self._table = {name.lower().rstrip("."): list(ips) for name, ips in table.items()}

    def __call__(self, host: str, port: int) -> list[Address]:
        ips = self._table.get(host.lower().rstrip("."))
        if not ips:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out: list[Address] = []
        for ip in ips:
            out.extend(_literal(ip, port))
        return out


def _literal(ip: str, port: int) -> list[Address]:
    """Sockaddrs for an IP literal, without any lookup (AI_NUMERICHOST)."""
    infos = socket.getaddrinfo(
        ip, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST
    )
    return [(family, sockaddr) for family, _t, _p, _c, sockaddr in infos]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def resolve_checked(
    host: str, port: int, allow_private: bool, *, resolver: Resolver = system_resolver
) -> list[Address]:
    """Resolve ``host`` and check every address; connect only to what this returns.

    One bad address refuses the whole name, naming it: a name that answers with a public
    and a private address is an attempt to reach the private one. A name that does not
    resolve raises ``UpstreamUnavailable``. IP literals are checked without a lookup.
    """
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise BlockedAddress("no host given")
    if _is_literal(host):
        check_address(host, allow_private)
        return _literal(host, port)
    try:
        found = resolver(host, port)
    except (OSError, UnicodeError) as exc:  # gaierror is an OSError; bad IDNA a UnicodeError
        said = os_reason(exc) if isinstance(exc, OSError) else "not a valid host name"
        raise UpstreamUnavailable(f"could not resolve {host}: {said}") from None
    addresses: list[Address] = []
    for family, sockaddr in found:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise UpstreamUnavailable(f"could not resolve {host}: no IPv4 or IPv6 address")
    for _family, sockaddr in addresses:
        why = blocked_reason(str(sockaddr[0]), allow_private)
        if why is not None:
            raise BlockedAddress(f"{host} resolves to {sockaddr[0]}, which is {why}")
    return addresses


# family, sockaddr, timeout → a connected socket
Dial = Callable[[int, tuple[Any, ...], float], socket.socket]


def open_socket(family: int, sockaddr: tuple[Any, ...], timeout: float) -> socket.socket:
    """Connect a TCP socket to exactly ``sockaddr`` (an address the guard checked)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class RoutedDial:
    """Twin of ``open_socket``: a table sends checked addresses to local test servers.

    ``RoutedDial({"93.184.216.34": ("127.0.0.1", 8080)})`` lets a name that the guard sees
    as public reach a server on loopback. Loopback passes through (the guard has already
    decided on it); any other address is refused, so a test never leaves the machine.
    """

    def __init__(self, routes: Mapping[str, tuple[str, int]]) -> None:
        self._routes = dict(routes)
        self.dialled: list[str] = []  # what the client asked for, for tests to inspect

    def __call__(self, family: int, sockaddr: tuple[Any, ...], timeout: float) -> socket.socket:
        ip = str(sockaddr[0])
        self.dialled.append(ip)
        if ip in self._routes:
            return socket.create_connection(self._routes[ip], timeout=timeout)
        if ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback:
            return open_socket(family, sockaddr, timeout)
        raise ConnectionRefusedError(f"RoutedDial has no route to {ip}")
