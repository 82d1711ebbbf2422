"""Handing a validated request to the worker pool of its platform.

``CeleryEnqueuer`` sends by task name, so the web process imports no task code and no
connector.
"""

from __future__ import annotations

from typing import Any, Protocol

from envelopes.redisurl import celery_broker
from envelopes.registry import Platform

__all__ = ["Enqueuer", "CeleryEnqueuer"]


class Enqueuer(Protocol):
    def send(
        self, platform: Platform, payload: dict[str, Any], timeout: float, queue: str = ""
    ) -> None: ...

    def close(self) -> None: ...


class CeleryEnqueuer:
    def __init__(self, broker_url: str):
        from celery import Celery

        broker, options = celery_broker(broker_url)  # a Sentinel URL in kombu's spelling
        self.app = Celery("sockethub-gateway", broker=broker, set_as_current=False)
        self.app.conf.update(
            broker_transport_options=options,
            broker_connection_retry_on_startup=True,
            task_ignore_result=True,
            broker_pool_limit=50,
        )

    def send(
        self, platform: Platform, payload: dict[str, Any], timeout: float, queue: str = ""
    ) -> None:
        # ``expires`` makes a worker that picks the task up after the deadline drop it:
        # the gateway has already answered ``timeout`` by then.
        self.app.send_task(
            platform.task_name,
            args=(payload,),
            queue=queue or platform.queue,
            routing_key=queue or platform.queue,
            expires=timeout,
            ignore_result=True,
        )

    def close(self) -> None:
        self.app.close()
