"""draft-07 JSON Schemas of the envelopes, generated from our marshmallow validation.

``registry_payload(registry)`` is what Sockethub's SDK receives for its ``schemas`` request
(``schemas_reply`` answers one); ``python -m envelopes.jsonschema`` prints it. Modules:
``regex`` (Python patterns → ECMA-262), ``rules`` (twins of the validators written as code,
and the gaps JSON Schema cannot close), ``fields`` (marshmallow → JSON Schema),
``envelope`` (one platform's two schemas), ``payload`` (the registry payload).
"""

from __future__ import annotations

from .envelope import credentials_schema, messages_schema
from .payload import fingerprint, registry_payload, schemas_reply
from .regex import Untranslatable
from .rules import GAPS

__all__ = [
    "GAPS",
    "Untranslatable",
    "credentials_schema",
    "fingerprint",
    "messages_schema",
    "registry_payload",
    "schemas_reply",
]
