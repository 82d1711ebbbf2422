"""The XMPP connector: persistent XMPP accounts driven by ActivityStreams 2.0 envelopes.

The socket-free parts live in their own modules and can be used (and tested) alone:

- ``ids``: the id convention for people, rooms, occupants and the server; JID splitting.
- ``context``: what one connection knows (our JID, our rooms and who is in them).
- ``translate``: one incoming stanza (an ``xml.etree`` element) → AS2 activities or an
  ``XmppError``; ``results``: answers to ``query`` (attendance, room-info, roster).
- ``errors``: error stanzas (RFC 6120 §8.3) → ``XmppError`` → ``envelopes.errors``.
- ``states``: connection state events (connecting, connected, reconnecting, disconnected).
- ``outbound``: a request activity → the stanzas that carry it out.

``stream`` (where to connect, the slixmpp stream, logging in), ``client`` (the upstream:
receiving, waiting for answers, closing) and ``connector`` (the verbs) import slixmpp;
nothing here does at package import time, so the web process may use the translators.
"""
