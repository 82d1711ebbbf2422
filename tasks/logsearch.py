"""Search of the own log (``tasks/ownlog.py``): only the blind index is scanned (word
digests under the log key); only the candidates' chunks are opened, each once, and
checked (a 4-byte digest can match by chance)."""

from __future__ import annotations

from typing import Any

from envelopes import keys

from .logpages import words
from .ownlog import OwnLog

__all__ = ["search"]

Cursor = tuple[int, str, int]  # time (ms), conversation digest, seq


def search(
    log: OwnLog, ckey: str, conv: str | None, text: str, after: Cursor | None, limit: int
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """Messages containing every word of ``text``, newest first, in ``conv`` or in every
    conversation of the connection; ``after`` is where the previous page ended. Returns
    the items and where this page ends (None: no more)."""
    key = log.log_key(ckey)
    wanted = words(text)
    if key is None or not wanted:
        return [], None
    digests = [log.word(key, w) for w in wanted]
    if conv:
        convs = [log.conversation(key, conv)]
    else:
        index = keys.log_conversations(log.platform, ckey)
        convs = [c.decode() if isinstance(c, bytes) else c for c in log.redis.zrange(index, 0, -1)]
    found: list[Cursor] = []
    for cd, lines in log.entries(ckey, convs).items():
        found += [(e.ms, cd, e.seq) for e in lines if all(d in e.words for d in digests)]
    found.sort(reverse=True)
    if after is not None:
        found = [f for f in found if f < after]
    out: list[dict[str, Any]] = []
    want = set(wanted)
    taken = 0
    while found[taken:] and len(out) < limit:
        chunk = found[taken : taken + limit - len(out)]
        taken += len(chunk)
        by_conv: dict[str, list[int]] = {}
        for _when, cd, seq in chunk:
            by_conv.setdefault(cd, []).append(seq)
        opened = {cd: log.messages(key, ckey, cd, seqs) for cd, seqs in by_conv.items()}
        for _when, cd, seq in chunk:
            item = opened[cd].get(seq)
            if item is not None and want <= set(words(str(item["object"].get("content")))):
                out.append(item)
    more = found[taken - 1] if taken and taken < len(found) else None
    return out, more
