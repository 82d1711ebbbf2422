"""The dummy platform: a connector with no upstream, for trying the whole pipeline.

Verbs as Sockethub's: ``echo`` answers with actor and target swapped, ``greet`` adds a
greeting, ``fail`` fails with the object's content as the message, ``throw`` raises inside
the connector (the worker turns that into a failed reply, it does not crash).
"""

from __future__ import annotations

from marshmallow import INCLUDE, fields, validate

from ..registry import Platform, Verb
from ..schema import MessageObjectSchema, StrictSchema, TargetSchema

__all__ = ["PLATFORM"]


class DummyCredentials(StrictSchema):
    """Sockethub's dummy accepts any credentials object; we still demand its ``type``."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.OneOf(("credentials",)))


def _verb(name: str) -> Verb:
    return Verb(name, object=MessageObjectSchema, target=TargetSchema)


PLATFORM = Platform(
    name="dummy",
    connector="connectors.dummy:DummyConnector",
    verbs={v: _verb(v) for v in ("echo", "greet", "fail", "throw")},
    credentials=DummyCredentials,
    description="Answers without an upstream: echo, greet, fail, throw.",
    batchable=True,  # nothing to wait for: batched under load (gateway/enqueue.py)
)
