"""One place for the reconnect backoff and the connect deadline of persistent platforms."""

from __future__ import annotations

from connectors.session.backoff import CONNECT_TIMEOUT, RECONNECT, Backoff


def test_backoff_doubles_up_to_its_cap_with_jitter_below_the_raw_delay():
    b = Backoff(base=1.0, cap=8.0, jitter=0.5)
    assert [b.delay(n, rand=lambda: 0.0) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 8, 8, 8]
    assert b.delay(3, rand=lambda: 1.0) == 2.0  # the most jitter halves it
    assert RECONNECT.delay(1, rand=lambda: 0.0) == 1.0 and RECONNECT.cap == 60.0
    assert CONNECT_TIMEOUT > 30  # registration alone may wait 30 s for a welcome


def test_both_persistent_platforms_use_the_shared_backoff_and_connect_deadline():
    from connectors.irc.connector import IrcConnector
    from connectors.xmpp.connector import XmppConnector

    for connector in (IrcConnector, XmppConnector):
        assert connector.backoff is RECONNECT and connector.connect_timeout == CONNECT_TIMEOUT
