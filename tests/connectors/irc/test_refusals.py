"""What servers say when they send us away, captured from the common servers, classified."""

from __future__ import annotations

import pytest

from connectors.irc.refusals import classify, refusal_of


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("Closing Link: 192.0.2.1 (Throttled: Reconnecting too fast) -Email x@y", "throttled"),
        ("Trying to reconnect too fast.", "throttled"),
        ("Closing Link: x[192.0.2.1] (K-Lined)", "banned"),
        ("You are banned from this server- Your behavior is not conducive", "banned"),
        ("Closing link: (x@192.0.2.1) [G-Lined: spam]", "banned"),
        ("Too many connections from your IP address", "too-many-connections"),
        (
            "No more connections allowed from your host via this connect class (local)",
            "too-many-connections",
        ),
        ("Closing Link: x (Too many host connections (global))", "too-many-connections"),
        ("Closing Link: x (Ping timeout: 240 seconds)", None),
        ("Closing Link: x (Excess Flood)", None),
        ("Closing Link: x (Quit: bye)", None),
    ],
)
def test_error_texts_are_classified(text, condition):
    assert classify(text) == condition


def test_465_is_a_ban_and_webirc_makes_it_the_browsers_own():
    ours = refusal_of("465", "You are banned from this server", webirc=False)
    assert ours is not None and (ours.condition, ours.shared) == ("banned", True)
    theirs = refusal_of("ERROR", "Closing Link: (Throttled)", webirc=True)
    assert theirs is not None and (theirs.condition, theirs.shared) == ("throttled", False)
    assert refusal_of("NOTICE", "banned", webirc=False) is None
