from __future__ import annotations

import pytest

from envelopes import sealing
from envelopes.errors import CredentialsInvalid


def test_wrap_unwrap_round_trip_and_binding():
    server = sealing.server_key("s" * 32)
    key = sealing.new_session_key()
    wrapped = sealing.wrap_key(server, key, "sid1")
    assert key not in wrapped
    assert sealing.unwrap_key(server, wrapped, "sid1") == key
    with pytest.raises(CredentialsInvalid):
        sealing.unwrap_key(server, wrapped, "sid2")  # bound to its session id
    with pytest.raises(CredentialsInvalid, match="SOCKETHUB_SECRET"):
        sealing.unwrap_key(sealing.server_key("t" * 32), wrapped, "sid1")


def test_seal_open_json_and_tamper():
    key = sealing.new_session_key()
    sealed = sealing.seal_json(key, {"password": "hunter2"}, "aad")
    assert b"hunter2" not in sealed
    assert sealing.open_json(key, sealed, "aad") == {"password": "hunter2"}
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(CredentialsInvalid):
        sealing.open_json(key, bytes(flipped), "aad")
    with pytest.raises(CredentialsInvalid):
        sealing.open_json(key, sealed, "other-aad")
    with pytest.raises(CredentialsInvalid):
        sealing.open_json(sealing.new_session_key(), sealed, "aad")


def test_tokens():
    token = sealing.new_token()
    digest = sealing.token_digest(token)
    assert token not in digest
    assert sealing.tokens_match(token, digest)
    assert not sealing.tokens_match(token + "x", digest)
    assert sealing.new_token() != token
