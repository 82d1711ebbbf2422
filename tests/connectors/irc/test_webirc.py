"""The WEBIRC line and its setting (connectors/irc/webirc.py)."""

from __future__ import annotations

import pytest

from connectors.irc.webirc import passwords, webirc_line


def test_a_listed_server_gets_the_browsers_address() -> None:
    entries = ("irc.example.net=s3cret", "other.example:6697=tls-pass")
    assert webirc_line(entries, "IRC.example.net.", 6667, "198.51.100.4") == (
        "WEBIRC s3cret sockethub 198.51.100.4 198.51.100.4"
    )
    assert webirc_line(entries, "other.example", 6697, "198.51.100.4") is not None
    assert webirc_line(entries, "other.example", 6667, "198.51.100.4") is None  # port named


def test_an_ipv6_address_never_starts_with_a_colon() -> None:
    assert webirc_line(("h=p",), "h", 6667, "::1") == "WEBIRC p sockethub 0::1 0::1"


def test_nothing_without_a_password_or_a_usable_address() -> None:
    assert webirc_line((), "h", 6667, "198.51.100.4") is None
    assert webirc_line(("h=p",), "elsewhere", 6667, "198.51.100.4") is None
    assert webirc_line(("h=p",), "h", 6667, "") is None
    assert webirc_line(("h=p",), "h", 6667, "not an address") is None


@pytest.mark.parametrize("entry", ["no-password", "=p", "h=", "h=two words"])
def test_a_bad_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="SOCKETHUB_IRC_WEBIRC"):
        passwords((entry,))
