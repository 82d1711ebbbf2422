"""One Web Push (connectors/net/webpush.py) to the push-service stand-in: encrypted for
the subscription (RFC 8291), signed (RFC 8292), and through the address guard."""

from __future__ import annotations

import json
import ssl

import pytest

from connectors.net.webpush import Vapid, new_vapid_pair, push
from envelopes.errors import BlockedAddress

from ..servers.pushservice import PushService


@pytest.fixture(scope="module")
def pair():
    return new_vapid_pair()


@pytest.fixture(scope="module")
def service(tmp_path_factory, pair):
    with PushService(tmp_path_factory.mktemp("push"), pair[1]) as s:
        yield s


def test_the_push_decrypts_with_the_subscription_keys_and_its_vapid_verifies(service, pair):
    sub = service.subscribe("one")
    trust = ssl.create_default_context(cafile=str(service.ca_file))
    data = json.dumps({"preview": "hello ☃"}).encode()
    vapid = Vapid(pair[0], "mailto:ops@example.org")
    status = push(sub, data, vapid, allow_private=True, timeout=5, ssl_context=trust)
    assert status == 201
    (got,) = service.wait(1, "one")
    assert got.error == "" and got.payload == {"preview": "hello ☃"}
    assert got.headers["content-encoding"] == "aes128gcm" and int(got.headers["ttl"]) > 0
    # signed with another key: the service refuses it (the stand-in checks for real)
    other = Vapid(new_vapid_pair()[0], "mailto:ops@example.org")
    assert push(sub, data, other, allow_private=True, timeout=5, ssl_context=trust) == 403


def test_the_address_guard_refuses_a_private_or_plain_endpoint(service, pair):
    vapid = Vapid(pair[0], "mailto:ops@example.org")
    with pytest.raises(BlockedAddress) as blocked:
        push(service.subscribe("two"), b"{}", vapid, allow_private=False, timeout=5)
    assert "loopback" in blocked.value.message
    assert "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES" in blocked.value.message
    plain = {**service.subscribe("three"), "endpoint": f"http://127.0.0.1:{service.port}/x"}
    with pytest.raises(BlockedAddress):
        push(plain, b"{}", vapid, allow_private=True, timeout=5)
    assert service.pushes("two") == [] and service.pushes("three") == []
