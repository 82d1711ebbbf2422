"""Connectors: one subpackage per platform, verbs as methods, loaded by dotted path."""
