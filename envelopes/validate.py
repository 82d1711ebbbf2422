"""Turning an untrusted JSON value into a validated envelope, or a refusal that names why.

The order follows Sockethub's: the shape of the frame, then the platform (from the one
platform URL in ``@context``), then the verb, then the verb's own schema. Every refusal is
an error from ``envelopes.errors`` with the dotted ``path`` of the first offending field;
``details`` on the error lists all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from .context import AS2_CONTEXT, PLATFORM_CONTEXT_PREFIX, SOCKETHUB_CONTEXT
from .errors import InvalidEnvelope, UnknownPlatform, UnknownVerb
from .registry import Platform, Registry, Verb
from .schema import ActorSchema, StrictSchema, id_string

__all__ = ["Envelope", "validate_envelope", "normalize"]

TOP_LEVEL = ("@context", "type", "id", "actor", "target", "object", "published")


@dataclass(frozen=True)
class Envelope:
    platform: Platform
    verb: str
    activity: dict[str, Any]

    @property
    def actor_id(self) -> str:
        return str(self.activity["actor"]["id"])


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Sockethub's shorthands: a string actor/target is ``{id}``, a string object ``{content}``."""
    out = dict(data)
    for key in ("actor", "target"):
        if isinstance(out.get(key), str):
            out[key] = {"id": out[key]}
    if isinstance(out.get("object"), str):
        out["object"] = {"content": out["object"]}
    return out


def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested error dict as (dotted path, message) pairs, in field order."""
    out: list[tuple[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":  # marshmallow's name for "the value itself"
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, path))
    elif isinstance(messages, list):
        for value in messages:
            if isinstance(value, str):
                out.append((prefix, value))
            else:
                out.extend(_flatten(value, prefix))
    else:
        out.append((prefix, str(messages)))
    return out


def _resolve_platform(context: Any, registry: Registry) -> Platform:
    if context is None:
        raise InvalidEnvelope("activity stream must contain an @context array.", path="@context")
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise InvalidEnvelope("@context must be an array of strings.", path="@context")
    named = [c for c in context if c not in (AS2_CONTEXT, SOCKETHUB_CONTEXT)]
    platform_urls = [c for c in named if c.startswith(PLATFORM_CONTEXT_PREFIX)]
    if len(platform_urls) > 1:
        raise UnknownPlatform(
            "platform context URL not registered with this Sockethub instance. Multiple "
            f"platform @context values were provided: {', '.join(platform_urls)}.",
            path="@context",
        )
    for base in (AS2_CONTEXT, SOCKETHUB_CONTEXT):
        if base not in context:
            raise InvalidEnvelope(f"@context must contain {base}.", path="@context")
    if len(context) != 3:
        raise InvalidEnvelope(
            f"@context must hold exactly 3 URLs (ActivityStreams, Sockethub, platform); "
            f"got {len(context)}.",
            path="@context",
        )
    known = [p for p in (registry.by_context_url(c) for c in platform_urls) if p]
    if not known:
        if named:
            raise UnknownPlatform(
                "platform context URL not registered with this Sockethub instance. "
                f"Unregistered platform @context value: {named[0]}. "
                f"Registered: {', '.join(p.context_url for p in registry)}.",
                path="@context",
            )
        raise UnknownPlatform(
            "platform context URL not registered with this Sockethub instance. "
            "No platform @context values were provided.",
            path="@context",
        )
    return known[0]


_schema_cache: dict[tuple[str, str], Schema] = {}


def _verb_schema(platform: Platform, verb: str) -> Schema:
    key = (platform.name, verb)
    schema = _schema_cache.get(key)
    if schema is None:
        schema = _build_schema(platform, verb)
        _schema_cache[key] = schema
    return schema


def _build_schema(platform: Platform, verb: str) -> Schema:
    own = platform.verbs[verb].actor if verb in platform.verbs else None
    actor = own or platform.actor or ActorSchema
    spec: dict[str, fields.Field] = {
        "@context": fields.List(fields.String(), required=True),
        "type": fields.String(required=True),
        "id": id_string(),
        "actor": fields.Nested(actor, required=True),
        "published": fields.AwareDateTime(),
    }
    if verb == "credentials":
        assert platform.credentials is not None
        spec["object"] = fields.Nested(platform.credentials, required=True)
        spec["target"] = fields.Nested(platform.actor or ActorSchema)
    else:
        v: Verb = platform.verbs[verb]
        if v.object is not None:
            spec["object"] = fields.Nested(v.object, required=v.object_required)
        if v.target is not None:
            spec["target"] = fields.Nested(v.target, required=v.target_required)
    schema_cls = StrictSchema.from_dict(spec, name=f"{platform.name}_{verb}_Envelope")
    return schema_cls(unknown=RAISE)


def validate_envelope(data: Any, registry: Registry) -> Envelope:
    """Validate ``data`` (parsed JSON) for ``registry``; raise a ``ClientError`` on refusal."""
    if not isinstance(data, dict):
        raise InvalidEnvelope("message received is not an object.", path="")
    data = normalize(data)
    extra = [k for k in data if k not in TOP_LEVEL]
    if extra:
        raise InvalidEnvelope(
            f"unknown field {extra[0]!r}; an envelope may only hold {', '.join(TOP_LEVEL)}.",
            path=extra[0],
        )
    platform = _resolve_platform(data.get("@context"), registry)
    verb = data.get("type")
    if verb is None:
        raise InvalidEnvelope("activity stream must contain a type property.", path="type")
    if not isinstance(verb, str):
        raise InvalidEnvelope("type must be a string naming the verb.", path="type")
    if verb not in platform.verb_names():
        raise UnknownVerb(
            f"platform type {verb[:64]} not supported by {platform.name} platform. "
            f"(types: {', '.join(platform.verb_names())})",
            path="type",
        )
    if "actor" not in data:
        raise InvalidEnvelope("activity stream must contain an actor property.", path="actor")
    try:
        activity = _verb_schema(platform, verb).load(data)
    except ValidationError as exc:
        problems = _flatten(exc.messages)
        path, message = problems[0]
        raise InvalidEnvelope(
            f"[{platform.name}] {path}: {message}",
            path=path,
            details=[{"path": p, "message": m} for p, m in problems],
        ) from None
    if verb == "credentials" and activity["object"].get("type") != "credentials":
        raise InvalidEnvelope(
            "credential activity streams must have credentials set as type",
            path="object.type",
        )
    # Keep the wire form (ISO date strings), not marshmallow's Python objects.
    if "published" in data:
        activity["published"] = data["published"]
    return Envelope(platform=platform, verb=verb, activity=activity)
