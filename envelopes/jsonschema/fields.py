"""marshmallow schemas and fields as draft-07 JSON Schema, rule by rule.

Each field becomes its JSON type plus one keyword per validator: ``Length`` → ``minLength``/
``maxLength`` (both count code points, as AJV does by default), ``OneOf`` → ``enum``,
``Range`` → ``minimum``/``maximum`` (or the exclusive forms), ``Regexp`` → ``pattern``
(rewritten by ``regex.py``). A schema is an object with its ``required`` fields, and
``additionalProperties: false`` unless its ``Meta.unknown`` lets unknown fields in.
Anything this module does not know raises ``Untranslatable`` naming it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, fields, validate

from .regex import Untranslatable, ecma_pattern
from .rules import DATETIME, HOOKS, VALIDATORS

__all__ = ["field_schema", "object_schema"]

Json = dict[str, Any]


def _validator(rule: Any, where: str) -> Json:
    if isinstance(rule, validate.Length):
        if rule.equal is not None:
            return {"minLength": rule.equal, "maxLength": rule.equal}
        out: Json = {}
        if rule.min is not None:
            out["minLength"] = rule.min
        if rule.max is not None:
            out["maxLength"] = rule.max
        return out
    if isinstance(rule, validate.OneOf):
        return {"enum": list(rule.choices)}
    if isinstance(rule, validate.Range):
        out = {}
        if rule.min is not None:
            out["minimum" if rule.min_inclusive else "exclusiveMinimum"] = rule.min
        if rule.max is not None:
            out["maximum" if rule.max_inclusive else "exclusiveMaximum"] = rule.max
        return out
    if isinstance(rule, validate.Regexp):
        return {"pattern": ecma_pattern(rule.regex)}
    twin = VALIDATORS.get(rule) if type(rule).__hash__ is not None else None
    if twin is not None:
        return dict(twin.schema)
    raise Untranslatable(f"{where}: no JSON Schema for validator {rule!r} (add it to rules.py)")


def _combine(base: Json, parts: list[Json]) -> Json:
    """``base`` with every validator's keywords; a keyword seen twice goes into ``allOf``."""
    out = dict(base)
    extra: list[Json] = []
    for part in parts:
        for key, value in part.items():
            if key == "allOf":
                extra.extend(value)
            elif key in out:
                extra.append({key: value})
            else:
                out[key] = value
    if extra:
        out["allOf"] = extra
    return out


def _boolean(field: fields.Boolean) -> Json:
    # marshmallow accepts its truthy/falsy sets ("yes", 1, ...), not just true and false.
    extra = sorted((v for v in (*field.truthy, *field.falsy) if not isinstance(v, bool)), key=repr)
    if not field.truthy:
        return {}  # bool(value) of anything
    return {"anyOf": [{"type": "boolean"}, {"enum": extra}]} if extra else {"type": "boolean"}


def field_schema(field: fields.Field, where: str) -> Json:
    """The JSON Schema of one field's value (``where`` names it in errors)."""
    if isinstance(field, fields.Nested):
        if field.many or field.unknown is not None:
            raise Untranslatable(f"{where}: Nested(many=..., unknown=...) is not translated")
        base = object_schema(field.schema, where)
    elif isinstance(field, fields.AwareDateTime):
        if field.format not in (None, "iso", "iso8601") or field.default_timezone is not None:
            raise Untranslatable(f"{where}: only ISO aware date-times are translated")
        base = dict(DATETIME.schema)
    elif isinstance(field, fields.DateTime):
        raise Untranslatable(f"{where}: only AwareDateTime is translated")
    elif isinstance(field, fields.String):
        base = {"type": "string"}
    elif isinstance(field, fields.Integer):
        if not field.strict:
            raise Untranslatable(f"{where}: a non-strict Integer also takes strings")
        base = {"type": "integer"}
    elif isinstance(field, fields.Boolean):
        base = _boolean(field)
    elif isinstance(field, fields.List):
        base = {"type": "array", "items": field_schema(field.inner, f"{where}[]")}
    else:
        raise Untranslatable(f"{where}: no JSON Schema for field {type(field).__name__}")
    out = _combine(base, [_validator(v, where) for v in field.validators])
    if field.allow_none:
        out = {"anyOf": [{"type": "null"}, out]}
    return out


def object_schema(schema: Schema | type[Schema], where: str = "") -> Json:
    """The JSON Schema of a marshmallow schema (class or instance): an object of its fields."""
    if isinstance(schema, type):
        schema = schema()
    cls = type(schema)
    where = where or cls.__name__
    properties: Json = {}
    required: list[str] = []
    for name, field in schema.fields.items():
        if field.dump_only:
            continue  # not read from input: sending it is an unknown field
        key = field.data_key or name
        properties[key] = field_schema(field, f"{where}.{key}")
        if field.required:
            required.append(key)
    out: Json = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    if schema.unknown == RAISE:
        out["additionalProperties"] = False
    elif schema.unknown != INCLUDE:
        raise Untranslatable(f"{where}: unknown={schema.unknown!r} drops fields; not translated")
    hooks = []
    for tag, entries in cls._hooks.items():
        for attr, _many, _kw in entries:
            fn = getattr(cls, attr)
            fn = getattr(fn, "__func__", fn)
            twin = HOOKS.get(fn) if tag == "validates_schema" else None
            if twin is None:
                raise Untranslatable(f"{where}: no JSON Schema for the {tag} hook {attr}")
            hooks.append(twin.schema)
    return _combine(out, hooks)
