"""The real socket.io-client 4 (Node, ``tests/js/sio-driver.js``) driven from a test.

``SioClient`` emits and waits; ``SdkClient`` adds what Sockethub's SDK does around a
connection (``@sockethub/client``): the ``schemas`` handshake with the fingerprint it
has on every (re)connect, then the replay of stored ``credentials``, ``connect`` and
``join`` without acks, keyed and ordered as the SDK keys and orders them.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from .servers.common import missing

__all__ = ["SioClient", "SdkClient", "need_node"]

JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
DRIVER = os.path.join(JS, "sio-driver.js")


def need_node() -> None:
    """Skip locally without node and socket.io-client; fail under CI (``missing``)."""
    if shutil.which("node") is None or not os.path.isdir(
        os.path.join(JS, "node_modules", "socket.io-client")
    ):
        missing("node with socket.io-client", "run `npm ci --prefix tests/js`")


class SioClient:
    def __init__(self, base_url: str, transports: str = "polling,websocket", upgrade: bool = True):
        need_node()
        self.proc = subprocess.Popen(
            ["node", DRIVER, base_url, "/sockethub", transports, "true" if upgrade else "false"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []  # everything read so far, in order
        self._ids = itertools.count(1)
        self._acks: dict[int, Any] = {}
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.connected = self.wait(lambda m: m["type"] == "connect", 20)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self._cond:
                self.seen.append(msg)
                self._cond.notify_all()
            self.on_line(msg)

    def on_line(self, msg: dict[str, Any]) -> None:
        """Called on the reader thread for every line (``SdkClient`` reacts to connects)."""

    def _send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 20, after: int = 0
    ) -> dict[str, Any]:
        """The first line (from index ``after``) matching ``pred``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.seen[after:]:
                    if pred(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                    saw = [str(m)[:300] for m in self.seen[-8:]]
                    raise AssertionError(f"not seen in {timeout} s; saw {saw} {err[-2000:]}")
                self._cond.wait(left)

    def emit_nowait(self, event: str, *args: Any, ack: bool = True) -> int:
        n = next(self._ids)
        self._send({"op": "emit", "id": n, "event": event, "args": list(args), "ack": ack})
        return n

    def ack_of(self, n: int, timeout: float = 20) -> Any:
        return self.wait(lambda m: m["type"] == "ack" and m["id"] == n, timeout)["data"]

    def emit(self, event: str, *args: Any, timeout: float = 20) -> Any:
        return self.ack_of(self.emit_nowait(event, *args), timeout)

    def event(self, name: str, pred: Callable[[Any], bool] = lambda a: True, timeout: float = 20):
        return self.wait(
            lambda m: m["type"] == "event" and m["event"] == name and pred(m["args"][0]), timeout
        )["args"][0]

    def events(self, name: str) -> list[Any]:
        with self._cond:
            return [m["args"][0] for m in self.seen if m["type"] == "event" and m["event"] == name]

    def drop(self) -> None:
        self._send({"op": "drop"})

    def close(self) -> None:
        try:
            self._send({"op": "close"})
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=5)


class SdkClient(SioClient):
    """Sockethub's SDK's connection rules on top of the raw client (§ reconnect)."""

    def __init__(self, base_url: str, transports: str = "polling,websocket", upgrade: bool = True):
        self.fingerprint: str | None = None
        self.registry: dict[str, Any] | None = None
        self.stored: dict[str, dict[str, dict[str, Any]]] = {
            "credentials": {},
            "connect": {},
            "join": {},
        }
        self.ready = threading.Event()
        self.replays = 0
        super().__init__(base_url, transports, upgrade)
        self.handshake()

    def handshake(self) -> None:
        reply = self.emit("schemas", self.fingerprint)
        if not reply.get("unchanged"):
            self.registry = reply
        self.fingerprint = reply["fingerprint"]
        self.ready.set()

    def on_line(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "connect" and self.fingerprint is not None:
            # A reconnect: handshake with the fingerprint, then replay without acks (on a
            # thread of its own: this one reads the replies).
            threading.Thread(target=self._reconnected, daemon=True).start()

    def _reconnected(self) -> None:
        self.handshake()
        for kind in ("credentials", "connect", "join"):
            for activity in list(self.stored[kind].values()):
                self.emit_nowait(
                    "credentials" if kind == "credentials" else "message", activity, ack=False
                )
        self.replays += 1

    @staticmethod
    def _key(activity: dict[str, Any]) -> str:
        platform = activity["@context"][2].rsplit("/", 2)[-2]
        target = (activity.get("target") or {}).get("id", "")
        return f"{platform}:{activity['actor']['id']}-{target}"

    def send(self, event: str, activity: dict[str, Any], timeout: float = 20) -> Any:
        """Emit with an ack, remembering what the SDK would replay."""
        kind = activity.get("type")
        if event == "credentials":
            self.stored["credentials"][self._key(activity)] = activity
        elif kind in ("connect", "join"):
            self.stored[str(kind)][self._key(activity)] = activity
        elif kind in ("disconnect", "leave"):
            self.stored["connect" if kind == "disconnect" else "join"].pop(
                self._key(activity), None
            )
        return self.emit(event, activity, timeout=timeout)
