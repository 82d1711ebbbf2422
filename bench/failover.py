"""IRC failover under load: one of two worker processes SIGKILLed while every connection talks.

    python bench/failover.py [--connections 200] [--after 10] [--max-seconds 170]

``--connections`` browser sessions, one IRC connection each (nick ``bfN``, channel ``#bfN``),
spread by the shared queue over two worker processes; every session sends ``N:n`` to its
channel once a second. Independent raw IRC clients (one per 20 channels, so no single
socket of ngircd's has to absorb every burst) record what arrives. A few seconds in, the
worker holding more connections is killed with SIGKILL. Sending goes on until every one of
its connections is back (plus ``--after`` seconds), then every reply is awaited and the
observers get a grace period.

Prints one JSON line:
- restore_p50_s, restore_max_s: per connection of the killed worker, from the SIGKILL to the
  observer seeing our JOIN of its channel again (the rejoin, seen from IRC, not from our
  own events); ``unrestored`` counts those never seen back (then restore_max_s is null);
  browser_connected_max_s: the same to the browser's ``connected`` event;
- lost_lines: lines that never reached the channel and were not answered ``reconnecting``
  or ``not-sent`` (answered ``completed``, ``timeout`` or another failure, or not at all);
  unseen_on_closed_sockets: never arrived and not answered before their socket ended
  (the bench does not resume; a browser would, and see the reply);
- reordered_lines: per connection, lines that arrived after a line sent later;
- duplicate_lines: lines that arrived twice;
- held_delay_max_s: the longest a line sent while its owner was dead took to arrive;
- failed_replies (not ``reconnecting``), reconnecting_replies (a send refused, honestly,
  because the connection was still being restored at its deadline), failed_codes,
  missing_replies (no reply by the end), arrived_despite_failure;
- observer_dropped, browser_sockets_closed: observing IRC clients and browser sockets
  whose connection ended during the run (then their lines or replies count as missing).
Each failed send is also described on stderr (when it was sent, whether it arrived).

Flood control is off on both sides (SOCKETHUB_IRC_FLOOD_RATE=0, ngircd MaxPenaltyTime 0):
at its default of 1 line/s a connection sending 1 line/s can never catch up after a failover.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from common import Client, Stack, activity, bench_stack, pct, report

from envelopes import keys
from tests.servers.ircclient import RawIrcClient
from tests.servers.ircd import run_ngircd

PER_OBSERVER = 20  # channels per observing IRC client
# Failed replies that say the line did not run: a browser knows to send it again.
HONEST = ("reconnecting", "not-sent")
SENDERS = 4  # threads multiplexing the sessions' sends


class Overrun(Exception):
    """The whole run passed ``--max-seconds``."""


@dataclass
class Session:
    """One browser session and its IRC connection ``bf<conn>`` in ``#bf<conn>``."""

    conn: int
    client: Client
    host: str
    sent: dict[int, tuple[float, str]] = field(default_factory=dict)  # n → (time, rid)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # rid → reply
    states: list[tuple[float, str]] = field(default_factory=list)  # connection states seen
    owner: str = ""
    closed: str = ""  # why its socket ended before the run did, if it did
    closed_at: float = 0.0

    @property
    def nick(self) -> str:
        return f"bf{self.conn}"

    @property
    def actor(self) -> dict[str, Any]:
        return {"id": f"{self.nick}@{self.host}", "type": "person", "name": self.nick}

    @property
    def room(self) -> dict[str, Any]:
        return {"id": f"#{self.nick}@{self.host}", "type": "room", "name": f"#{self.nick}"}

    def send_line(self, n: int) -> None:
        rid = f"{self.conn}-{n}"
        content = {"type": "message", "content": f"{self.conn}:{n}"}
        self.sent[n] = (time.monotonic(), rid)
        self.client.send(
            activity("irc", "send", actor=self.actor, target=self.room, object=content), rid
        )

    def read(self, stop: threading.Event) -> None:
        """Record replies and connection states until ``stop`` (a thread per session)."""
        ws = self.client.ws
        ws.settimeout(2)
        while not stop.is_set():
            try:
                opcode, data = ws.recv_data()
                if opcode == 8:  # a close frame: say which
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
                    self.closed = f"closed {code} {data[2:].decode(errors='replace')}"
                    self.closed_at = time.monotonic()
                    return
                frame = json.loads(data)
            except Exception as exc:
                if stop.is_set():
                    return
                if not ws.connected:
                    self.closed = f"{type(exc).__name__}: {exc}"[:200]
                    self.closed_at = time.monotonic()
                    return
                continue
            now = time.monotonic()
            if frame.get("kind") == "reply":
                self.replies[frame.get("id")] = frame
            elif frame.get("kind") == "event":
                obj = frame["activity"].get("object") or {}
                if obj.get("type") == "connection":
                    self.states.append((now, obj.get("state", "")))


class Observer:
    """An independent IRC client in some channels, recording every JOIN, QUIT and line."""

    def __init__(self, ircd: Any, index: int, channels: list[str]) -> None:
        self.irc = RawIrcClient(ircd.host, ircd.port, f"obs{index}")
        self.irc.send("JOIN " + ",".join(channels))
        for _ in channels:
            self.irc.wait_for(lambda ln: " 366 " in ln, timeout=30)
        self.joins: dict[int, list[float]] = {}  # conn → times its JOIN arrived
        self.lines: dict[int, list[int]] = {}  # conn → n of its lines, in arrival order
        self.seen_at: dict[tuple[int, int], float] = {}  # (conn, n) → first arrival
        self.lost_socket = False
        self._thread = threading.Thread(target=self._consume, daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    def _consume(self) -> None:
        while not self._stop.is_set():
            try:
                line = self.irc.wait_for(lambda _ln: True, timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionError:
                self.lost_socket = not self._stop.is_set()
                return
            self._record(time.monotonic(), line)

    def _record(self, now: float, line: str) -> None:
        if not line.startswith(":bf"):
            return
        head, _, text = line[1:].partition(" :")
        words = head.split(" ")
        nick = words[0].split("!")[0]
        if len(words) < 2 or not nick[2:].isdigit():
            return
        conn = int(nick[2:])
        if words[1] == "JOIN":
            self.joins.setdefault(conn, []).append(now)
        elif words[1] == "PRIVMSG" and text.startswith(f"{conn}:"):
            n = int(text.split(":", 1)[1])
            self.lines.setdefault(conn, []).append(n)
            self.seen_at.setdefault((conn, n), now)

    def close(self) -> None:
        self._stop.set()
        self.irc.close()
        self._thread.join(timeout=5)


def open_sessions(stack: Stack, ircd: Any, n: int) -> list[Session]:
    """``n`` sessions, each connected and in its channel (all requests pipelined)."""
    sessions = [Session(i, Client(stack.ws_url), ircd.host) for i in range(n)]
    rids = []
    for s in sessions:
        creds = {
            "type": "credentials",
            "nick": s.nick,
            "server": ircd.host,
            "port": ircd.port,
            "secure": False,
        }
        s.client.send(activity("irc", "credentials", actor=s.actor, object=creds))
        rids.append(s.client.send(activity("irc", "connect", actor=s.actor)))
    _expect(sessions, rids, "connect")
    rids = [s.client.send(activity("irc", "join", actor=s.actor, target=s.room)) for s in sessions]
    _expect(sessions, rids, "join")
    return sessions


def _expect(sessions: list[Session], rids: list[str], verb: str) -> None:
    for s, rid in zip(sessions, rids, strict=True):
        reply = s.client.reply(rid, timeout=120)
        if reply["status"] != "completed":
            raise RuntimeError(f"{verb} of {s.nick} failed: {json.dumps(reply.get('error'))}")


def read_owners(stack: Stack, sessions: list[Session]) -> None:
    """Each session's connection's owner (the worker name in its lease)."""
    r = stack.redis()
    with r.pipeline() as p:
        for s in sessions:
            sid = s.client.welcome["session"]
            p.hget(keys.session_creds(sid), keys.connection_key_field("irc", s.actor["id"]))
        ckeys = p.execute()
    with r.pipeline() as p:
        for ckey in ckeys:
            p.get(keys.lease("irc", ckey.decode()))
        leases = p.execute()
    for s, lease in zip(sessions, leases, strict=True):
        s.owner = lease.decode().split("@")[0] if lease else ""


def send_loop(group: list[Session], stop: threading.Event, start: float) -> None:
    """Each session of ``group`` sends one line a second, the group spread over the second."""
    n = 0
    while not stop.is_set():
        for j, s in enumerate(group):
            wait = start + n + j / len(group) - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return
            s.send_line(n)
        n += 1


def wait_until(pred: Any, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def restored_at(sessions: list[Session], observers: list[Observer], killed_at: float) -> dict:
    """conn → first time its JOIN was seen again after the kill (killed worker's only)."""
    seen = {}
    for s in sessions:
        joins = observers[s.conn // PER_OBSERVER].joins.get(s.conn, [])
        after = [t for t in list(joins) if t > killed_at]
        if after:
            seen[s.conn] = after[0]
    return seen


def figures(sessions, observers, victim: str, killed_at: float, restored: dict) -> dict:
    killed = [s for s in sessions if s.owner == victim]
    victims = {s.conn for s in killed}
    restore = [restored[s.conn] - killed_at for s in killed if s.conn in restored]
    connected = []
    for s in killed:
        back = [t for t, state in s.states if t > killed_at and state == "connected"]
        if back:
            connected.append(back[0] - killed_at)
    lost = reordered = duplicates = during = missing = despite = reconnecting = unseen = 0
    codes: dict[str, int] = {}
    held: list[float] = []  # send to arrival of the lines sent while their owner was dead
    sent = arrived_total = 0
    for s in sessions:
        observer = observers[s.conn // PER_OBSERVER]
        arrivals = observer.lines.get(s.conn, [])
        arrived_total += len(arrivals)
        arrived = set(arrivals)
        duplicates += len(arrivals) - len(arrived)
        top = -1
        for n in arrivals:
            if n < top:
                reordered += 1
            top = max(top, n)
        dead_until = restored.get(s.conn, float("inf")) if s.conn in victims else killed_at
        for n, (t, rid) in s.sent.items():
            sent += 1
            reply = s.replies.get(rid)
            dead = killed_at <= t < dead_until
            during += dead
            if dead and (s.conn, n) in observer.seen_at:
                held.append(observer.seen_at[s.conn, n] - t)
            status = reply["status"] if reply else "missing"
            if status == "missing":
                missing += 1
            elif status != "completed":
                code = (reply.get("error") or {}).get("code", "?")
                codes[code] = codes.get(code, 0) + 1
                reconnecting += code == "reconnecting"
                despite += n in arrived
                later = [observer.seen_at.get((s.conn, m), 0) - u for m, (u, _) in s.sent.items()]
                print(
                    f"{s.nick} line {n} sent at kill{t - killed_at:+.2f} s failed with {code}; "
                    f"{'arrived' if n in arrived else 'never arrived'}; the connection's "
                    f"slowest line took {max(later):.2f} s",
                    file=sys.stderr,
                )
            if n in arrived:
                continue
            code = (reply.get("error") or {}).get("code") if reply else None
            if status == "missing" and s.closed:
                unseen += 1  # its socket ended first: a browser resumes and sees its reply
            elif code not in HONEST:
                lost += 1
    for s in sessions:
        if s.closed:
            when = s.closed_at - killed_at
            print(f"{s.nick}: its socket ended at kill{when:+.1f} s: {s.closed}", file=sys.stderr)
    return {
        "connections": len(sessions),
        "killed_worker_connections": len(killed),
        "restore_p50_s": round(pct(restore, 50), 2) if restore else None,
        "restore_max_s": round(max(restore), 2) if len(restore) == len(killed) else None,
        "unrestored": len(killed) - len(restore),
        "browser_connected_max_s": round(max(connected), 2) if connected else None,
        "lines_sent": sent,
        "lines_arrived": arrived_total,
        "lines_sent_while_owner_dead": during,
        "held_delay_max_s": round(max(held), 2) if held else None,
        "lost_lines": lost,
        "unseen_on_closed_sockets": unseen,
        "reordered_lines": reordered,
        "duplicate_lines": duplicates,
        "failed_replies": sum(codes.values()) - reconnecting,
        "reconnecting_replies": reconnecting,
        "failed_codes": codes,
        "missing_replies": missing,
        "arrived_despite_failure": despite,
        "observer_dropped": sum(o.lost_socket for o in observers),
        "browser_sockets_closed": sum(bool(s.closed) for s in sessions),
    }


def run(stack: Stack, ircd: Any, args: argparse.Namespace, closers: list) -> dict:
    stack.start_worker("irc", name="worker-irc-2")
    channels = [f"#bf{i}" for i in range(args.connections)]
    observers = []
    for k in range(0, args.connections, PER_OBSERVER):
        observers.append(Observer(ircd, k // PER_OBSERVER, channels[k : k + PER_OBSERVER]))
        closers.append(observers[-1].close)
    sessions = open_sessions(stack, ircd, args.connections)
    closers.extend(s.client.close for s in sessions)
    if not wait_until(lambda: sum(len(o.joins) for o in observers) >= args.connections, 60):
        raise RuntimeError("the observers did not see every JOIN")
    read_owners(stack, sessions)
    owners = [s.owner for s in sessions]
    victim = max(("worker-irc", "worker-irc-2"), key=owners.count)
    stop_reading, stop_sending = threading.Event(), threading.Event()
    closers += [stop_reading.set, stop_sending.set]  # run last to first
    threads = [threading.Thread(target=s.read, args=(stop_reading,), daemon=True) for s in sessions]
    start = time.monotonic() + 0.5
    groups = [sessions[k::SENDERS] for k in range(SENDERS)]
    senders = [
        threading.Thread(target=send_loop, args=(g, stop_sending, start), daemon=True)
        for g in groups
    ]
    for t in threads + senders:
        t.start()
    time.sleep(args.warmup)
    killed_at = time.monotonic()
    stack.kill(victim)  # SIGKILL: no QUIT, no lease release
    killed = sum(o == victim for o in owners)
    wait_until(lambda: len(restored_at(sessions, observers, killed_at)) >= killed, args.restore_cap)
    time.sleep(args.after)
    stop_sending.set()
    for t in senders:
        t.join(timeout=5)
    every = [(s, rid) for s in sessions for _, rid in list(s.sent.values())]
    wait_until(lambda: all(rid in s.replies for s, rid in every), args.request_timeout + 10, 0.5)
    time.sleep(args.grace)
    restored = restored_at(sessions, observers, killed_at)
    return figures(sessions, observers, victim, killed_at, restored)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of sending before")
    parser.add_argument("--after", type=float, default=10, help="seconds sent after restore")
    parser.add_argument("--restore-cap", type=float, default=60, help="give up waiting then")
    parser.add_argument("--grace", type=float, default=5, help="for arrivals after replies")
    parser.add_argument("--request-timeout", type=int, default=30)
    parser.add_argument("--max-seconds", type=int, default=170, help="the whole run")
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
                SOCKETHUB_REQUEST_TIMEOUT=str(args.request_timeout),
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
    report({**result, "request_timeout_s": args.request_timeout})


if __name__ == "__main__":
    main()
