"""Followed feeds at scale: many feeds, most unchanged, polled by one feeds worker.

    python bench/follow.py [--feeds 10000] [--interval 120] [--duration 240] [--changes 1]

One session follows ``--feeds`` feeds of a local feed server (``tests/servers/feedserver.py``,
127.0.0.1) by OPML import, with every poll ``--interval`` seconds apart
(``SOCKETHUB_FOLLOW_MIN_INTERVAL`` = ``_MAX_INTERVAL``). Once every feed has had its first
poll, for ``--duration`` seconds ``--changes`` random feeds a second get a new item; the
run then waits one more interval for the last of them to arrive.

Prints one JSON line: ``feeds``, ``requests_per_min`` (upstream requests the server saw
during the measured window), ``not_modified_share`` (of those, answered 304),
``change_to_event_p50_s``/``_p99_s`` (from a feed's change to its item's event reaching
the browser's WebSocket), with ``missed`` (changes whose event never came) and the
settings used. It starts its own stack (private Redis, one feeds worker, one gateway).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

from common import bench_stack, connect, pct, report

from envelopes.context import context_for
from tests.servers.feedserver import FeedServer

CTX = context_for("feeds")
CHUNK = 400  # feeds per opml-import (a frame stays under the 64 KiB default)


def opml(urls: list[str]) -> str:
    outlines = "".join(f'<outline type="rss" text="f" xmlUrl="{u}"/>' for u in urls)
    return f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>'


def request(ws, rid: str, verb: str, obj: dict) -> dict:
    ws.send(
        json.dumps(
            {
                "kind": "request",
                "id": rid,
                "activity": {
                    "@context": CTX,
                    "type": verb,
                    "actor": {"id": "bench", "type": "person"},
                    "object": obj,
                },
            }
        )
    )
    while True:
        frame = json.loads(ws.recv())
        if frame.get("kind") == "reply" and frame.get("id") == rid:
            assert frame["status"] == "completed", frame
            return frame["result"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=120.0, help="seconds between polls")
    parser.add_argument("--duration", type=float, default=240.0, help="measured seconds")
    parser.add_argument("--changes", type=float, default=1.0, help="feeds changed a second")
    parser.add_argument("--polls", type=int, default=16, help="SOCKETHUB_FOLLOW_POLLS")
    args = parser.parse_args()
    server = FeedServer()
    names = [f"f{n}" for n in range(args.feeds)]
    for name in names:
        server.feed(name)
        server.add(name, f"{name}-0", f"{name} first", when=1_700_000_000)
    stack = bench_stack(
        ("feeds",),
        SOCKETHUB_FOLLOW_MIN_INTERVAL=str(args.interval),
        SOCKETHUB_FOLLOW_MAX_INTERVAL=str(args.interval),
        SOCKETHUB_FOLLOW_MAX_PER_SESSION=str(args.feeds),
        SOCKETHUB_FOLLOW_MAX_FEEDS=str(args.feeds),
        SOCKETHUB_FOLLOW_POLLS=str(args.polls),
        # One host serves every feed here; a deployment's feeds sit on many.
        SOCKETHUB_FETCH_HOST_LIMIT=str(args.polls),
        SOCKETHUB_STREAM_MAXLEN="100000",
        # Polls come every interval: the cache's fresh window must not answer them.
        SOCKETHUB_FETCH_FRESH=str(min(30.0, args.interval / 2)),
    )
    arrived: dict[str, float] = {}
    changed: dict[str, float] = {}
    try:
        ws = connect(stack.ws_url, 120)
        for i in range(0, args.feeds, CHUNK):
            urls = [server.url(n) for n in names[i : i + CHUNK]]
            request(ws, f"import-{i}", "opml-import", {"type": "opml", "content": opml(urls)})

        def read() -> None:
            while True:
                try:
                    frame = json.loads(ws.recv())
                except Exception:
                    return
                if frame.get("kind") == "event":
                    title = frame["activity"].get("object", {}).get("title", "")
                    arrived.setdefault(title, time.time())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # Every feed's first poll (it only takes what is there as seen).
        start = time.time()
        while sum(1 for n in names if server.hits[n]) < args.feeds:
            if time.time() - start > max(600, args.interval * 5):
                raise SystemExit("the first polls did not all happen in time")
            time.sleep(0.5)
        seeding_s = time.time() - start
        time.sleep(min(5.0, args.interval / 4))
        hits0 = sum(server.hits.values())
        nm0 = sum(s[304] for s in server.statuses.values())
        began = time.time()
        k = 0
        while time.time() - began < args.duration:
            name = random.choice(names)
            title = f"{name} change {k}"
            k += 1
            changed[title] = time.time()
            server.add(name, f"{name}-c{k}", title)
            time.sleep(1 / args.changes)
        window = time.time() - began
        hits = sum(server.hits.values()) - hits0
        not_modified = sum(s[304] for s in server.statuses.values()) - nm0
        tail = time.time() + args.interval + 15
        while time.time() < tail and any(t not in arrived for t in changed):
            time.sleep(0.5)
        ws.close()
    finally:
        stack.stop()
        server.stop()
    delays = [arrived[t] - at for t, at in changed.items() if t in arrived]
    report(
        {
            "feeds": args.feeds,
            "requests_per_min": round(hits / window * 60, 1),
            "not_modified_share": round(not_modified / hits, 3) if hits else None,
            "change_to_event_p50_s": round(pct(delays, 50), 2) if delays else None,
            "change_to_event_p99_s": round(pct(delays, 99), 2) if delays else None,
            "changes": len(changed),
            "missed": len(changed) - len(delays),
            "interval_s": args.interval,
            "window_s": round(window, 1),
            "first_polls_s": round(seeding_s, 1),
            "polls_at_once": args.polls,
            "worker_concurrency": 4,
        }
    )


if __name__ == "__main__":
    main()
