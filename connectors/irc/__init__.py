"""The IRC connector: persistent IRC connections driven by ActivityStreams 2.0 envelopes.

The socket-free parts live in their own modules and can be used (and tested) alone:

- ``ids``: the id convention for people, rooms and the server.
- ``lines``: parsing raw lines (RFC 1459/2812, IRCv3 message-tags), value checks,
  splitting long messages, and outgoing flood control.
- ``translate``: one incoming IRC message → AS2 activities or an ``IrcError``, keeping
  per-connection memory in a ``context.IrcContext``.
- ``numerics``: numeric error replies → ``IrcError`` → ``envelopes.errors``.
- ``states``: connection state events (connecting, connected, reconnecting, disconnected).
- ``outbound``: a request activity → the IRC lines that carry it out.

Nothing here imports a protocol library at package import time, so the web process may
import the translators without loading ``irc``.
"""
