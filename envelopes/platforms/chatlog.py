"""The ``query`` objects of history and search, shared by the chat platforms (IRC, XMPP).

One form on both (docs/protocol.md, "History" and "Search")::

    {"type": "history", "before"?: id, "after"?: id, "around"?: id, "limit"?: 1..500}
    {"type": "search", "content": "words", "cursor"?: str, "limit"?: 1..500}

A platform's query object inherits ``LogQueryFields`` and lists ``LOG_QUERIES`` among its
types; the fields are refused on its other queries.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from ..schema import MAX_ID, StrictSchema, content_string, id_string, short_string

__all__ = ["LOG_QUERIES", "PAGED_QUERIES", "MAX_LIMIT", "DEFAULT_LIMIT", "LogQueryFields"]

LOG_QUERIES = ("history", "search")
# Queries that page with ``cursor`` and ``limit``: the log's, and IRC's channel list.
PAGED_QUERIES = (*LOG_QUERIES, "rooms")
MAX_LIMIT = 500  # the largest page of history or search results
DEFAULT_LIMIT = 100
CURSORS = ("before", "after", "around")


class LogQueryFields(StrictSchema):
    before = id_string()
    after = id_string()
    around = id_string()
    limit = fields.Integer(
        strict=True,
        validate=validate.Range(
            1,
            MAX_LIMIT,
            error=f"limit is 1 to {MAX_LIMIT} (the largest page): page on with before/after",
        ),
    )
    cursor = short_string(max_len=MAX_ID)
    content = content_string()

    @validates_schema
    def _log_query(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        cursors = [c for c in CURSORS if c in data]
        if kind not in LOG_QUERIES:
            paged = kind in PAGED_QUERIES
            extra = cursors + [f for f in ("limit", "cursor") if f in data and not paged]
            if extra:
                raise ValidationError("only in a history or search query", extra[0])
            return
        if kind == "history":
            if len(cursors) > 1:
                raise ValidationError("give one of before, after, around", cursors[1])
            for name in ("cursor", "content"):
                if name in data:
                    raise ValidationError("not in a history query", name)
            return
        if cursors:
            raise ValidationError("a search pages with cursor", cursors[0])
        if not str(data.get("content") or "").strip():
            raise ValidationError("a search needs words", "content")
