"""Jobs for the DAV connectors, run in-process (the whole stack is tests/integration)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.base import Job
from connectors.caldav import CaldavConnector
from connectors.carddav import CarddavConnector
from connectors.dav.connector import DavConnector
from envelopes.errors import SockethubError
from envelopes.registry import default_registry
from envelopes.settings import Settings

__all__ = ["connector", "creds", "failure", "job"]

LOCAL = Settings(allow_private_addresses=True, dav_allow_http=True)


def connector(platform: str, settings: Settings = LOCAL, **twins: Any) -> DavConnector:
    cls = CaldavConnector if platform == "caldav" else CarddavConnector
    made = cls(default_registry().get(platform), settings)  # type: ignore[arg-type]
    for name, value in twins.items():
        setattr(made, name, value)
    return made


def creds(url: str, user: str = "alice", password: str = "alice-pw") -> dict[str, Any]:
    return {"type": "credentials", "url": url, "username": user, "password": password}


def job(verb: str, credentials: dict[str, Any], **parts: Any) -> Job:
    activity = {"@context": ["as"], "type": verb, "actor": {"id": "alice", "type": "person"}}
    return Job(verb, {**activity, **parts}, credentials=credentials, deadline=time.time() + 30)


def failure(conn: DavConnector, j: Job, code: str, condition: str) -> SockethubError:
    with pytest.raises(SockethubError) as caught:
        conn.handle(j)
    err = caught.value
    assert (err.code, err.condition) == (code, condition), err.to_dict()
    assert err.details and err.details[0]["platform"] == conn.platform.name
    return err
