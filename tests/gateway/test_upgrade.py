from __future__ import annotations

from gateway.upgrade import deflate_offer


def test_a_browser_offer_gets_both_no_context_takeover_parameters():
    offer = "permessage-deflate; client_max_window_bits"
    assert deflate_offer(offer, True) == (
        "permessage-deflate; client_max_window_bits; "
        "server_no_context_takeover; client_no_context_takeover"
    )


def test_only_the_first_deflate_offer_is_kept_and_named_once():
    offer = (
        "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover, permessage-deflate"
    )
    assert deflate_offer(offer, True) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )


def test_nothing_is_offered_when_off_or_not_asked_for():
    assert deflate_offer("permessage-deflate", False) is None
    assert deflate_offer(None, True) is None
    assert deflate_offer("x-webkit-deflate-frame", True) is None
