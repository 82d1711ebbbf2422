"""A browser's session under a steady load, for fleet tests: echoes, resumes, sends again.

``EchoSession.run`` sends a dummy ``echo`` every ``pace`` seconds and reads whatever comes
(replies, events); when the gateway closes the socket it resumes (a new socket, the
session's token and ``lastSeq``) and sends again every request still unanswered, as
sockethub-client.js does: a copy that had arrived is refused as ``duplicate-request``,
which is left out, so each request id ends with exactly the replies the browser would act
on. Used by tests/integration/test_haproxy.py and test_sentinel.py.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import websocket

from tests.wsclient import Client, activity

__all__ = ["EchoSession"]

MSG = {"type": "message", "content": "hi"}
_rids = itertools.count(1)


class EchoSession:
    """One session through ``url`` (a balancer, a gateway) under a steady echo load."""

    def __init__(self, url: str, pace: float = 0.25, sslopt: dict[str, Any] | None = None):
        self.url, self.pace, self.sslopt = url, pace, sslopt
        self.client = Client(url, sslopt=sslopt)
        self.sid = self.client.welcome["session"]
        self.token = self.client.welcome["token"]
        self.last_seq = 0
        self.events: list[str] = []
        self.replies: dict[str, list[str]] = {}  # rid -> statuses (duplicates left out)
        self.codes: dict[str, str] = {}  # rid -> error code of a failed reply
        self.sent_at: dict[str, float] = {}  # rid -> when first sent (monotonic)
        self.answered_at: dict[str, float] = {}
        self.unanswered: list[str] = []
        self.closes: list[tuple[float, int]] = []  # (when, code; 1006: cut without one)
        self.resumed: list[bool] = []
        self.sending = True
        self.error: BaseException | None = None

    def _send(self, rid: str) -> None:
        act = activity("dummy", "echo", object=MSG)
        self.client.ws.send(json.dumps({"kind": "request", "id": rid, "activity": act}))

    def _frame(self, frame: dict[str, Any]) -> None:
        if "seq" in frame:
            if frame["seq"] <= self.last_seq:
                return  # never expected: a resume sends each seq once
            self.last_seq = frame["seq"]
        if frame.get("kind") == "event":
            self.events.append(frame["activity"]["object"]["content"])
        elif frame.get("kind") == "reply":
            if frame.get("error", {}).get("code") == "duplicate-request":
                return
            rid = frame["id"]
            self.replies.setdefault(rid, []).append(frame["status"])
            if frame["status"] == "failed":
                self.codes[rid] = frame.get("error", {}).get("code", "")
            self.answered_at.setdefault(rid, time.monotonic())
            if rid in self.unanswered:
                self.unanswered.remove(rid)

    def _resume(self, until: threading.Event, patience: float = 60) -> None:
        """A new socket for the session, tried again while the gateway cannot take it."""
        deadline = time.monotonic() + patience
        while True:
            hello = {
                "kind": "hello",
                "resume": {"session": self.sid, "token": self.token, "lastSeq": self.last_seq},
            }
            try:
                self.client = Client(self.url, hello=hello, sslopt=self.sslopt)
                break
            except (websocket.WebSocketException, OSError, ValueError, AssertionError):
                if until.is_set() or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        self.resumed.append(bool(self.client.welcome["resumed"]))
        self.token = self.client.welcome["token"]
        for rid in list(self.unanswered):
            self._send(rid)

    def _tick(self) -> None:
        """Called by ``run`` between reads, on its thread (a subclass sends more there)."""

    def run(self, until: threading.Event) -> None:
        try:
            next_send = time.monotonic()
            while not until.is_set():
                self._tick()
                if self.sending and time.monotonic() >= next_send:
                    rid = f"r{next(_rids)}"
                    self.unanswered.append(rid)
                    self.sent_at[rid] = time.monotonic()
                    next_send += self.pace
                    try:
                        self._send(rid)
                    except (websocket.WebSocketException, OSError):
                        pass  # the socket is gone: the read below finds out, and resumes
                self.client.ws.settimeout(0.05)
                try:
                    opcode, data = self.client.ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                except (websocket.WebSocketException, OSError):
                    opcode, data = websocket.ABNF.OPCODE_CLOSE, (1006).to_bytes(2, "big")
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._frame(json.loads(data))
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    self.closes.append((time.monotonic(), code))
                    self.client.close()
                    self._resume(until)
        except BaseException as exc:  # the test reports it
            self.error = exc
