"""Browsers of the fleet tests: EchoSession (tests/loadclient.py) with any request, and
the IRC messages it is sent kept as a browser shows them.

``FleetSession.ask(activity)`` queues a request that the session's own thread sends (so
it is sent again on resume, like its echoes, until answered); ``messages`` are the
contents of the chat messages it received, each once, in order; ``states`` the
connection states it was told.
"""

from __future__ import annotations

import itertools
import json
import queue
import time
from typing import Any

from tests.loadclient import EchoSession
from tests.wsclient import activity

__all__ = ["FleetSession", "MSG"]

MSG = {"type": "message", "content": "hi"}
_rids = itertools.count(1)


class FleetSession(EchoSession):
    def __init__(self, url: str, pace: float = 0.25, sslopt: dict[str, Any] | None = None):
        super().__init__(url, pace, sslopt)
        self.asked: dict[str, dict[str, Any]] = {}  # rid -> activity (echoes are not here)
        self.pending: queue.Queue[str] = queue.Queue()
        self.messages: list[str] = []
        self.states: list[str] = []

    def ask(self, act: dict[str, Any]) -> str:
        rid = f"a{next(_rids)}"
        self.asked[rid] = act
        self.pending.put(rid)
        return rid

    def wait_reply(self, rid: str, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rid in self.replies:
                return self.replies[rid]
            time.sleep(0.05)
        raise AssertionError(f"no reply to {rid} in {timeout} s")

    def _send(self, rid: str) -> None:
        act = self.asked.get(rid) or activity("dummy", "echo", object=MSG)
        self.client.ws.send(json.dumps({"kind": "request", "id": rid, "activity": act}))

    def _frame(self, frame: dict[str, Any]) -> None:
        if frame.get("kind") != "event":
            super()._frame(frame)
            return
        if frame.get("seq", 0) <= self.last_seq:
            return
        self.last_seq = frame["seq"]
        act = frame["activity"]
        obj = act.get("object") if isinstance(act.get("object"), dict) else {}
        if obj.get("type") == "connection":
            self.states.append(obj.get("state", ""))
        elif act.get("type") == "send" and obj.get("type") == "message":
            self.messages.append(obj.get("content", ""))

    def _tick(self) -> None:
        while True:
            try:
                rid = self.pending.get_nowait()
            except queue.Empty:
                return
            self.unanswered.append(rid)
            self.sent_at[rid] = time.monotonic()
            try:
                self._send(rid)
            except OSError:
                pass  # resent on resume (it is unanswered)
