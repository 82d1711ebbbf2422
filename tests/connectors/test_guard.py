"""The address guard refuses every non-public address, and names it and why."""

from __future__ import annotations

import socket

import pytest

from connectors.net.guard import (
    StaticResolver,
    blocked_reason,
    check_address,
    resolve_checked,
)
from envelopes.errors import BlockedAddress, UpstreamUnavailable

BLOCKED = {
    "127.0.0.1": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "0.0.0.0": "unspecified",
    "255.255.255.255": "broadcast",
    "::": "unspecified",
    "::ffff:127.0.0.1": "IPv4-mapped address embedding 127.0.0.1, a loopback",
    "64:ff9b::a00:1": "NAT64 address embedding 10.0.0.1, a private",
    "64:ff9b:1::a9fe:a9fe": "NAT64 address embedding 169.254.169.254",
    "2002:7f00:1::": "6to4 address embedding 127.0.0.1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo address embedding 192.0.2.45",
    "fc00::1": "unique-local",
    "fd12:3456::1": "unique-local",
    "fe80::1": "link-local",
    "fe80::1%1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "192.0.2.1": "documentation",
    "198.51.100.7": "documentation",
    "203.0.113.9": "documentation",
    "2001:db8::1": "documentation",
    "198.18.0.1": "benchmarking",
    "240.0.0.1": "reserved",
}

PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34", "64:ff9b::808:808"]


@pytest.mark.parametrize(("ip", "why"), sorted(BLOCKED.items()))
def test_non_public_addresses_are_refused_naming_address_and_reason(ip: str, why: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        check_address(ip, allow_private=False)
    assert caught.value.code == "blocked-address"
    assert caught.value.message.startswith(f"{ip} is ")
    assert why in caught.value.message


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_are_allowed(ip: str) -> None:
    check_address(ip, allow_private=False)  # no exception; nothing connects
    assert blocked_reason(ip, False) is None


def test_overridable_refusals_say_how_to_allow_them() -> None:
    with pytest.raises(BlockedAddress, match="SOCKETHUB_ALLOW_PRIVATE_ADDRESSES=true"):
        check_address("127.0.0.1", allow_private=False)


@pytest.mark.parametrize(
    "ip", ["127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "fc00::1", "::ffff:10.1.2.3"]
)
def test_allow_private_lets_private_addresses_through(ip: str) -> None:
    check_address(ip, allow_private=True)


@pytest.mark.parametrize("ip", ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "::ffff:0.0.0.0"])
def test_allow_private_still_refuses_addresses_no_tcp_connection_makes_sense_to(ip: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        check_address(ip, allow_private=True)
    assert "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES" not in caught.value.message


def test_garbage_is_not_an_address() -> None:
    with pytest.raises(BlockedAddress, match="not an IP address"):
        check_address("example.com", allow_private=True)


def test_localhost_is_refused_after_resolution() -> None:
    with pytest.raises(BlockedAddress) as caught:
        resolve_checked("localhost", 80, allow_private=False)
    assert caught.value.message.startswith("localhost resolves to ")
    assert "loopback" in caught.value.message


def test_localhost_resolves_when_private_addresses_are_allowed() -> None:
    addresses = resolve_checked("localhost", 6667, allow_private=True)
    assert addresses
    assert all(sockaddr[1] == 6667 for _family, sockaddr in addresses)


def test_one_private_answer_refuses_the_whole_name() -> None:
    # Rebinding-style answer: one public address and one private one.
    resolver = StaticResolver({"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(
        BlockedAddress, match=r"mixed\.test resolves to 10\.1\.2\.3, which is a priv"
    ):
        resolve_checked("mixed.test", 443, allow_private=False, resolver=resolver)


def test_public_names_resolve_to_checked_socket_addresses() -> None:
    resolver = StaticResolver({"Feeds.Example.": ["93.184.216.34", "2606:4700::1111"]})
    got = resolve_checked("feeds.example", 443, allow_private=False, resolver=resolver)
    assert got[0] == (socket.AF_INET, ("93.184.216.34", 443))
    assert got[1][0] == socket.AF_INET6 and got[1][1][:2] == ("2606:4700::1111", 443)


def test_ip_literals_are_checked_without_a_lookup() -> None:
    def no_dns(host: str, port: int) -> list:
        raise AssertionError(f"looked up {host}")

    with pytest.raises(BlockedAddress, match=r"^::1 is a loopback"):
        resolve_checked("[::1]", 80, allow_private=False, resolver=no_dns)
    assert resolve_checked("93.184.216.34", 80, False, resolver=no_dns) == [
        (socket.AF_INET, ("93.184.216.34", 80))
    ]


def test_a_name_that_does_not_resolve_is_upstream_unavailable() -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        resolve_checked("nowhere.test", 80, allow_private=False, resolver=StaticResolver({}))
    assert caught.value.code == "upstream-unavailable"
    assert "nowhere.test" in caught.value.message


def test_legacy_ipv4_spellings_are_judged_by_what_they_resolve_to() -> None:
    # "127.1" is not an IP literal for ipaddress, but inet_aton (and so getaddrinfo) reads it
    # as 127.0.0.1: it must not slip past as a "name".
    with pytest.raises(BlockedAddress, match="127.0.0.1"):
        resolve_checked("127.1", 80, allow_private=False)
