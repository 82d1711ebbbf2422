"""Docs that the code can check: the README's configuration table is the code's."""

from __future__ import annotations

import os

from envelopes.settings import markdown_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_configuration_table_matches_code():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert markdown_table() in readme


def test_readme_starts_with_the_two_commands():
    with open(os.path.join(ROOT, "README.md")) as f:
        head = f.read(1200)
    assert "sockethub " in head and "python3 -m pytest" in head
