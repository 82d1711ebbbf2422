"""The registry payload Sockethub's SDK asks for with its ``schemas`` event.

Shape and fingerprint as Sockethub's ``buildPlatformRegistryPayload``: the server version,
the two base contexts, and per platform its id, version, context URL, ``types``
(``credentials`` first when the platform takes credentials, then its verbs) and its two
schemas. The fingerprint is the first 16 hex characters of the SHA-256 of the compact JSON
of ``{version, contexts, platforms}``, in that order: a client that sends it back is told
``unchanged`` instead of getting the whole payload again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from functools import lru_cache
from typing import Any

from ..context import AS2_CONTEXT, SOCKETHUB_CONTEXT
from ..registry import Platform, Registry
from .envelope import credentials_schema, messages_schema

__all__ = ["CONTEXT_VERSION", "SCHEMA_VERSION", "fingerprint", "registry_payload", "schemas_reply"]

CONTEXT_VERSION = "1"
SCHEMA_VERSION = "1"

Json = dict[str, Any]


def _version() -> str:
    try:
        return importlib.metadata.version("sockethub-py")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0.0.0"


def _platform(platform: Platform, version: str) -> Json:
    types = (["credentials"] if platform.credentials is not None else []) + list(platform.verbs)
    return {
        "id": platform.name,
        "version": version,
        "contextUrl": platform.context_url,
        "contextVersion": CONTEXT_VERSION,
        "schemaVersion": SCHEMA_VERSION,
        "types": types,
        "schemas": {
            "credentials": credentials_schema(platform),
            "messages": messages_schema(platform),
        },
    }


def fingerprint(body: Json) -> str:
    """16 hex of SHA-256 over compact JSON, as JavaScript's ``JSON.stringify`` writes it."""
    compact = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(compact.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=8)  # once per registry and process, as Sockethub computes it
def registry_payload(registry: Registry) -> Json:
    """The whole payload (treat as read-only: it is shared)."""
    version = _version()
    body: Json = {
        "version": version,
        "contexts": {"as": AS2_CONTEXT, "sockethub": SOCKETHUB_CONTEXT},
        "platforms": [_platform(p, version) for p in registry],
    }
    return {"fingerprint": fingerprint(body), **body}


def schemas_reply(known: object, registry: Registry) -> Json:
    """The answer to a ``schemas`` request: the payload, or ``unchanged`` if ``known`` is
    the current fingerprint (Sockethub takes the first string argument as that)."""
    payload = registry_payload(registry)
    if isinstance(known, str) and known == payload["fingerprint"]:
        return {"fingerprint": known, "unchanged": True}
    return payload
