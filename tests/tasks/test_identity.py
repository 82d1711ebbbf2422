"""What makes two IRC credentials the same connection (and so shared between tabs)."""

from __future__ import annotations

from envelopes.platforms.irc import connection_identity

CREDS = {"nick": "ann", "server": "irc.example.org", "password": "pw"}


def test_allow_invalid_cert_is_part_of_the_identity():
    strict, _ = connection_identity({**CREDS, "secure": True})
    lax, _ = connection_identity({**CREDS, "secure": True, "allowInvalidCert": True})
    assert strict != lax
    # without TLS there is no certificate to check: the flag changes nothing
    plain, _ = connection_identity({**CREDS, "secure": False})
    assert connection_identity({**CREDS, "secure": False, "allowInvalidCert": True})[0] == plain


def test_the_same_credentials_are_the_same_connection():
    one = connection_identity({**CREDS, "server": "IRC.example.org", "realname": "A"})
    two = connection_identity({**CREDS, "realname": "B"})
    assert one == two and one[1] is True
