"""A plain WebSocket client for tests: frames in, frames out, no cleverness."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import websocket

from envelopes.context import context_for

__all__ = ["Client", "activity"]

_ids = itertools.count(1)


def activity(platform: str, verb: str, **parts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"@context": context_for(platform), "type": verb}
    out.setdefault("actor", {"id": "tester", "type": "person"})
    out.update(parts)
    return out


class Client:
    def __init__(
        self,
        url: str,
        *,
        hello: dict[str, Any] | None = None,
        origin: str | None = None,
        sslopt: dict[str, Any] | None = None,
        header: list[str] | None = None,
    ):
        self.url = url
        self.ws = (
            websocket.create_connection(
                url, timeout=15, origin=origin, sslopt=sslopt, header=header
            )
            if origin
            else websocket.create_connection(
                url, timeout=15, suppress_origin=True, sslopt=sslopt, header=header
            )
        )
        self.frames: list[dict[str, Any]] = []  # everything received, in order
        self.ws.send(json.dumps(hello or {"kind": "hello"}))
        self.welcome = self.recv()
        assert self.welcome["kind"] == "welcome", self.welcome

    @property
    def resume_info(self) -> dict[str, Any]:
        seqs = [f["seq"] for f in self.frames if "seq" in f]
        return {
            "session": self.welcome["session"],
            "token": self.welcome["token"],
            "lastSeq": max(seqs, default=0),
        }

    def recv(self, timeout: float = 15) -> dict[str, Any]:
        self.ws.settimeout(timeout)
        frame = json.loads(self.ws.recv())
        self.frames.append(frame)
        return frame

    def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            self.ws.send_binary(data)
        else:
            self.ws.send(data)

    def send(self, act: dict[str, Any], rid: str | None = None) -> str:
        rid = rid or f"r{next(_ids)}"
        self.ws.send(json.dumps({"kind": "request", "id": rid, "activity": act}))
        return rid

    def wait(self, pred, timeout: float = 15) -> dict[str, Any]:
        deadline = time.time() + timeout
        for f in self.frames:
            if pred(f) and not f.get("_seen"):
                f["_seen"] = True
                return f
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            f = self.recv(left)
            if pred(f):
                f["_seen"] = True
                return f

    def reply(self, rid: str | None, timeout: float = 15) -> dict[str, Any]:
        return self.wait(lambda f: f.get("kind") == "reply" and f.get("id") == rid, timeout)

    def request(self, act: dict[str, Any], timeout: float = 15) -> dict[str, Any]:
        return self.reply(self.send(act), timeout)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
