"""The own log's storage format (``tasks/ownlog.py``): messages sealed by the chunk, and
the blind index beside them. Pure: no Redis, no clock.

A conversation's messages are numbered (seq, from 1) and stored ``CHUNK`` to a chunk:
chunk ``n`` holds seqs ``n*CHUNK+1 .. n*CHUNK+CHUNK`` (its oldest may have been dropped).
One message sealed on its own cost ~40 bytes of nonce and MAC, and its JSON repeats every
field name of the one before; sealed by the chunk, compressed first, a message of a busy
channel costs a fifth of that, and a page of 100 opens 7 seals, not 100.

    chunk  ``VERSION`` + zlib(JSON list of the activities, ``_ZDICT``), then sealed
    index  ``>I`` seq of its first message, then per message: id digest (``ID_LEN``),
           ``>Q`` time (ms), ``B`` word count, that many word digests (``WORD_LEN``)

The index stays clear (digests under the log key, and times): search and the id lookup
of a cursor scan it without opening anything. Compressing before sealing reveals the
compressed length, as sealing alone reveals the length: a chunk says how much was said,
never what.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHUNK",
    "ID_LEN",
    "WORD_LEN",
    "Entry",
    "chunk_of",
    "pack",
    "unpack",
    "pack_index",
    "unpack_index",
]

CHUNK = 16  # messages per chunk: what an append re-seals, what a page opens at most extra
ID_LEN = 12  # bytes of a message id's digest
WORD_LEN = 4  # bytes of a word's digest: a false match is checked once opened
VERSION = b"\x01"
_HEAD = struct.Struct(">I")
_ENTRY = struct.Struct(">QB")
# What every message repeats: the compressor starts from it, so the first message of a
# chunk is as cheap as the rest. Never change it: chunks in Redis were made with it (a new
# dictionary goes with a new VERSION).
_ZDICT = (
    b'"published":"2026-12-01T00:00:00.000Z"},{"type":"send","actor":{"type":"person",'
    b'"id":"@","name":""},"target":{"type":"room","id":"#@","name":"#"},"object":'
    b'{"type":"message","content":"","id":"sh-"},"xmpp:stanza-id":"'
)


@dataclass(frozen=True)
class Entry:
    """One message's line of a chunk's index."""

    seq: int
    id: bytes  # digest
    ms: int
    words: frozenset[bytes]  # digests


def chunk_of(seq: int) -> int:
    return (seq - 1) // CHUNK


def pack(items: list[dict[str, Any]]) -> bytes:
    """The chunk's plaintext (sealed by the caller)."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    data = json.dumps(items, separators=(",", ":")).encode()
    return VERSION + z.compress(data) + z.flush()


def unpack(plain: bytes) -> list[dict[str, Any]]:
    """Raises ValueError on anything but a chunk of this version."""
    if plain[:1] != VERSION:
        raise ValueError("not a chunk of a known version")
    try:
        z = zlib.decompressobj(-15, _ZDICT)
        items = json.loads(z.decompress(plain[1:]) + z.flush())
    except zlib.error as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(items, list):
        raise ValueError("a chunk holds a list")
    return items


def pack_index(start: int, entries: list[tuple[bytes, int, list[bytes]]]) -> bytes:
    """The index of a chunk whose first message is ``start``: (id, ms, words) each."""
    out = [_HEAD.pack(start)]
    for mid, ms, words in entries:
        out.append(mid + _ENTRY.pack(ms, len(words)) + b"".join(words))
    return b"".join(out)


def unpack_index(blob: bytes) -> list[Entry]:
    if len(blob) < _HEAD.size:
        return []
    (seq,) = _HEAD.unpack_from(blob)
    at, out = _HEAD.size, []
    while at + ID_LEN + _ENTRY.size <= len(blob):
        mid = blob[at : at + ID_LEN]
        ms, count = _ENTRY.unpack_from(blob, at + ID_LEN)
        at += ID_LEN + _ENTRY.size
        words = frozenset(blob[at + i * WORD_LEN : at + (i + 1) * WORD_LEN] for i in range(count))
        at += count * WORD_LEN
        out.append(Entry(seq, mid, ms, words))
        seq += 1
    return out
