"""One module per platform, each defining ``PLATFORM`` (see ``envelopes.registry``)."""
