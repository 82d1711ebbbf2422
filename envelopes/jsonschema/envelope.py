"""One platform's ``messages`` and ``credentials`` schemas, in Sockethub's layout.

Each applies to the whole activity, as Sockethub's SDK applies them. The per-verb parts are
walked from the very marshmallow schema the gateway loads with (``validate._verb_schema``);
the rules ``validate_envelope`` states in code before that load are written here, once:

* only the seven envelope keys (``TOP_LEVEL``);
* ``@context`` is exactly the three URLs: ActivityStreams, Sockethub and this platform's,
  in any order (three items containing those three distinct values);
* ``type`` is one of the platform's verbs (``messages``) or ``credentials``;
* a credentials envelope's ``object.type`` is ``credentials``.

A verb's own fields sit under ``allOf`` as ``if type is V then ...``; what every verb
shares (``actor``, ``id``, ``published``) is stated once at the top.
"""

from __future__ import annotations

from typing import Any

from ..context import AS2_CONTEXT, SOCKETHUB_CONTEXT
from ..registry import Platform
from ..validate import TOP_LEVEL, _verb_schema
from .fields import object_schema

__all__ = ["context_schema", "messages_schema", "credentials_schema"]

Json = dict[str, Any]
_OVERRIDDEN = ("@context", "type")


def context_schema(platform: Platform) -> Json:
    urls = (AS2_CONTEXT, SOCKETHUB_CONTEXT, platform.context_url)
    return {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 3,
        "maxItems": 3,
        "allOf": [{"contains": {"const": url}} for url in urls],
    }


def _walked(platform: Platform, verb: str) -> Json:
    out = object_schema(_verb_schema(platform, verb), f"{platform.name}.{verb}")
    assert set(out["properties"]) <= set(TOP_LEVEL), out["properties"].keys()
    return out


def _when_verb(verb: str, then: Json) -> Json:
    return {"if": {"properties": {"type": {"const": verb}}, "required": ["type"]}, "then": then}


def messages_schema(platform: Platform) -> Json:
    verbs = list(platform.verbs)
    walked = {v: _walked(platform, v) for v in verbs}
    keys = [k for k in TOP_LEVEL if k not in _OVERRIDDEN]
    shared: Json = {}
    for key in keys:
        seen = [w["properties"].get(key) for w in walked.values()]
        if all(s is not None and s == seen[0] for s in seen):
            shared[key] = seen[0]
    properties: Json = {
        "@context": context_schema(platform),
        "type": {"type": "string", "enum": verbs},
    }
    properties.update({k: shared.get(k, {}) for k in keys})
    branches = []
    for verb, w in walked.items():
        own = {
            k: w["properties"].get(k, False)
            for k in keys
            if k not in shared  # False: this verb refuses the field
        }
        then: Json = {"properties": own} if own else {}
        extra_required = [
            r for r in w.get("required", []) if r not in ("@context", "type", "actor")
        ]
        if extra_required:
            then["required"] = extra_required
        if then:
            branches.append(_when_verb(verb, then))
    out: Json = {
        "type": "object",
        "required": ["@context", "type", "actor"],
        "additionalProperties": False,
        "properties": properties,
    }
    if branches:
        out["allOf"] = branches
    return out


def credentials_schema(platform: Platform) -> Json:
    if platform.credentials is None:
        return {
            "description": f"{platform.name} takes no credentials: every credentials "
            "activity is refused",
            "not": {},
        }
    out = _walked(platform, "credentials")
    props = dict(out["properties"])
    props["@context"] = context_schema(platform)
    props["type"] = {"type": "string", "const": "credentials"}
    props["object"] = {
        "allOf": [
            props["object"],
            {"properties": {"type": {"const": "credentials"}}, "required": ["type"]},
        ]
    }
    return {**out, "properties": props}
