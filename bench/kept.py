"""Kept sessions at scale: what each costs in Redis and in the IRC worker, and how fast
its history and search answer.

    python bench/kept.py [--sessions 1000] [--messages 200] [--sample 50] [--max-seconds 900]

``--sessions`` browser sessions, each asking ``hello.keep``, each with its own IRC
connection to a real ngircd (nick ``bkN``) in its own channel ``#bkN``, then detached:
their sockets closed, the sessions kept. Raw IRC clients (one per 20 channels) then say
``--messages`` lines in every channel, which the worker records in each connection's own
log. Measured once every line is logged:

- ``redis_kib_per_session``: growth of Redis ``INFO memory used_memory`` from before the
  first session to then, per session (its session keys, its stream of events recorded
  while detached, its connection's record, lease and own log of ``--messages`` lines);
- ``worker_kib_per_connection``: growth of the IRC worker process's resident memory over
  the same span, per connection (``worker_kib_per_connection_before_messages``: the same
  measured when every connection was up and joined, before any line was said);
- ``history_p50_ms``/``_p99_ms``: ``--sample`` sessions are resumed, each sends
  ``--queries`` ``query`` history (the newest 100 messages of its channel) one after the
  other, timed from the request sent to its reply read, through the gateway;
- ``search_p50_ms``/``_p99_ms``: the same sessions' ``query`` search of one word over
  every conversation of their connection (each log holds ``--messages`` lines; all logs
  together ``messages_total``: 200,000 at the default size).

It starts its own stack (private Redis, one IRC worker, one gateway) and ngircd (no
connection limits, flood penalties off).
"""

from __future__ import annotations

import argparse
import pathlib
import signal
import sys
import tempfile
import time
from typing import Any

from common import Client, activity, bench_stack, latency, report, rss_kib

from envelopes import keys
from tests.servers.ircclient import RawIrcClient
from tests.servers.ircd import run_ngircd

PER_TALKER = 20  # channels per talking IRC client
BATCH = 100  # sessions opened (credentials, connect, join) before their replies are awaited
PACE = 10  # rounds of lines (one per channel) said ahead of what is logged
WORDS = 10  # a line says word wK for K = n mod WORDS: a search matches 1 line in 10


class Overrun(Exception):
    """The whole run passed ``--max-seconds``."""


def actor(i: int, host: str) -> dict[str, Any]:
    return {"id": f"bk{i}@{host}", "type": "person", "name": f"bk{i}"}


def room(i: int, host: str) -> dict[str, Any]:
    return {"id": f"#bk{i}@{host}", "type": "room", "name": f"#bk{i}"}


def redis_used(r: Any) -> int:
    return int(r.info("memory")["used_memory"])


def open_kept(url: str, ircd: Any, n: int) -> list[dict[str, Any]]:
    """``n`` kept sessions, each connected and in its channel, then detached; returns
    what each needs to resume."""
    resumes = []
    for start in range(0, n, BATCH):
        batch = [
            (i, Client(url, hello={"kind": "hello", "keep": True}))
            for i in range(start, min(n, start + BATCH))
        ]
        for _, c in batch:
            if c.welcome.get("keepRefused"):
                raise RuntimeError(f"keep refused: {c.welcome['keepRefused']}")
        for verb in ("connect", "join"):
            rids = []
            for i, c in batch:
                a = actor(i, ircd.host)
                if verb == "connect":
                    creds = {
                        "type": "credentials",
                        "nick": f"bk{i}",
                        "server": ircd.host,
                        "port": ircd.port,
                        "secure": False,
                    }
                    c.send(activity("irc", "credentials", actor=a, object=creds))
                    rids.append(c.send(activity("irc", "connect", actor=a)))
                else:
                    rids.append(c.send(activity("irc", "join", actor=a, target=room(i, ircd.host))))
            for (i, c), rid in zip(batch, rids, strict=True):
                reply = c.reply(rid, timeout=120)
                if reply["status"] != "completed":
                    raise RuntimeError(f"{verb} of bk{i} failed: {reply.get('error')}")
        for _, c in batch:
            resumes.append(c.resume_info)
            c.close()  # detached: the session is kept
        print(f"{len(resumes)} sessions kept", file=sys.stderr)
    return resumes


def logged(r: Any) -> int:
    """Messages in every own log (each conversation's ``:h``: ``first``..``last``)."""
    total = 0
    heads = list(r.scan_iter(match=f"{keys.PREFIX}:log:irc:*:h", count=1000))
    pipe = r.pipeline(transaction=False)
    for key in heads:
        pipe.hmget(key, ["first", "last"])
    for first, last in pipe.execute():
        if last is not None:
            total += int(last) - int(first or 1) + 1
    return total


def talk(r: Any, ircd: Any, n: int, messages: int) -> list[RawIrcClient]:
    """Raw clients say ``messages`` lines in every channel ``#bk0..n-1``, at most ``PACE``
    rounds ahead of the own logs: all at once, the worker's event queue (50,000 events by
    default) fills and it drops events, as it should, and the logs never get them."""
    talkers = []
    for k in range(0, n, PER_TALKER):
        t = RawIrcClient(ircd.host, ircd.port, f"talk{k // PER_TALKER}", timeout=60)
        channels = [f"#bk{i}" for i in range(k, min(n, k + PER_TALKER))]
        t.send("JOIN " + ",".join(channels))
        for _ in channels:
            t.wait_for(lambda ln: " 366 " in ln, timeout=60)
        talkers.append(t)
    for m in range(messages):
        for k, t in enumerate(talkers):
            chans = range(k * PER_TALKER, min(n, (k + 1) * PER_TALKER))
            lines = "".join(f"PRIVMSG #bk{i} :line {m} of #bk{i} w{m % WORDS}\r\n" for i in chans)
            t.send_raw(lines.encode())
        if (m + 1) % PACE == 0:
            _wait_logged(r, (m + 1 - PACE) * n)
    return talkers


def _wait_logged(r: Any, want: int) -> None:
    last, still = -1, time.monotonic()
    while (got := logged(r)) < want:
        if got != last:
            last, still = got, time.monotonic()
            print(f"{got}/{want} messages logged", file=sys.stderr)
        elif time.monotonic() - still > 60:
            raise RuntimeError(f"only {got} of {want} messages were logged")
        time.sleep(1)


def timed(c: Client, act: dict[str, Any], timeout: float) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    reply = c.request(act, timeout=timeout)
    took = time.perf_counter() - start
    if reply["status"] != "completed":
        raise RuntimeError(f"{act['object']['type']} failed: {reply.get('error')}")
    return took, reply["result"]["object"]


def query_times(url: str, host: str, resumes: list, args: argparse.Namespace) -> dict:
    history: list[float] = []
    search: list[float] = []
    step = max(1, len(resumes) // args.sample)
    for i in range(0, len(resumes), step)[: args.sample]:
        c = Client(url, hello={"kind": "hello", "resume": resumes[i]})
        try:
            if not c.welcome.get("resumed"):
                raise RuntimeError(f"session {i} was not resumed: {c.welcome}")
            a, target = actor(i, host), room(i, host)
            hist = activity("irc", "query", actor=a, target=target, object={"type": "history"})
            find = activity(
                "irc", "query", actor=a, target=a, object={"type": "search", "content": "w7"}
            )
            timed(c, hist, 60)  # the first answer after the replay: not timed
            for _ in range(args.queries):
                took, page = timed(c, hist, 60)
                if len(page["items"]) != min(100, args.messages):
                    raise RuntimeError(f"a history page of {len(page['items'])} messages")
                history.append(took)
                search.append(timed(c, find, 60)[0])
        finally:
            c.close()
    return {**latency("history_", history), **latency("search_", search), "queries": len(history)}


def run(stack: Any, ircd: Any, args: argparse.Namespace, closers: list) -> dict:
    r = stack.redis()
    pid = stack.procs["worker-irc"].pid
    time.sleep(1)
    redis0, rss0 = redis_used(r), rss_kib(pid)
    began = time.monotonic()
    resumes = open_kept(stack.ws_url, ircd, args.sessions)
    opened_s = time.monotonic() - began
    time.sleep(2)
    rss_joined = rss_kib(pid)
    talkers = talk(r, ircd, args.sessions, args.messages)
    closers.extend(t.close for t in talkers)
    want = args.sessions * args.messages
    _wait_logged(r, want)
    logged_s = time.monotonic() - began - opened_s
    time.sleep(2)
    redis1, rss1 = redis_used(r), rss_kib(pid)
    times = query_times(stack.ws_url, ircd.host, resumes, args)
    n = args.sessions
    return {
        "sessions": n,
        "redis_kib_per_session": round((redis1 - redis0) / 1024 / n, 1),
        "worker_kib_per_connection": round((rss1 - rss0) / n, 1),
        **{k: v for k, v in times.items() if k != "queries"},
        "worker_kib_per_connection_before_messages": round((rss_joined - rss0) / n, 1),
        "messages_per_session": args.messages,
        "messages_total": want,
        "timed_queries": times["queries"],
        "open_s": round(opened_s, 1),
        "log_s": round(logged_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200, help="lines per channel")
    parser.add_argument("--sample", type=int, default=50, help="sessions resumed to query")
    parser.add_argument("--queries", type=int, default=4, help="of each kind per session")
    parser.add_argument("--max-seconds", type=int, default=900, help="the whole run")
    args = parser.parse_args()

    def overrun(*_: Any) -> None:
        raise Overrun(f"the run passed {args.max_seconds} s")

    signal.signal(signal.SIGALRM, overrun)
    signal.alarm(args.max_seconds)
    closers: list = []
    try:
        with run_ngircd(pathlib.Path(tempfile.mkdtemp())) as ircd:
            stack = bench_stack(
                ("irc",),
                SOCKETHUB_IRC_FLOOD_RATE="0",
                SOCKETHUB_REQUEST_TIMEOUT="60",
                SOCKETHUB_KEPT_PER_ADDRESS="0",  # every session comes from 127.0.0.1
                SOCKETHUB_KEPT_SESSIONS="0",
                SOCKETHUB_HISTORY_MAX_MESSAGES=str(max(1000, args.messages)),
            )
            closers.append(stack.stop)
            print(f"logs: {stack.logdir}, ngircd: {ircd.log_path}", file=sys.stderr)
            try:
                result = run(stack, ircd, args, closers)
            finally:
                signal.alarm(0)
                for close in reversed(closers):
                    try:
                        close()
                    except Exception:
                        pass
    finally:
        signal.alarm(0)
    report(result)


if __name__ == "__main__":
    main()
