"""The toolkit every persistent platform (IRC, XMPP) builds its upstream from.

- ``backoff``: reconnect backoff and the connect deadline, one place for both platforms;
- ``waiters``: requests waiting for the server's answer, matched line by line or stanza
  by stanza;
- ``lifecycle``: ``LiveUpstream``, the closed flag, its reason, the fatal error of a
  hostile server, and the ``disconnect`` event that names it;
- ``activity``: the AS2 shapes events are built from (actor, target, object, context).

The dial that tries every address is ``connectors/net/dial.py``; the publisher that
takes events off the loop is ``tasks/publisher.py``. Nothing is imported here, so
``connectors.persistent`` can import ``backoff`` while ``lifecycle`` imports it back.
"""

from __future__ import annotations

__all__: list[str] = []
