"""A small HTTP client for the HTTP actions tests (the standard library's ``http.client``)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Answer", "call", "post"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    text: str

    @property
    def lines(self) -> list[Any]:
        """The NDJSON answer, one value per line."""
        assert self.text.endswith("\n"), self.text
        return [json.loads(line) for line in self.text.splitlines()]

    def json(self) -> Any:
        return json.loads(self.text)


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Answer:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read().decode()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)
    finally:
        conn.close()


def post(
    url: str, payload: Any, rid: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """POST ``payload`` as JSON, with ``rid`` as ``X-Request-Id`` when given."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if rid is not None:
        h["X-Request-Id"] = rid
    return call("POST", url, json.dumps(payload).encode(), h)
