"""A bare Celery app with one trivial task: the floor our echo round trip is compared to."""

import os

from celery import Celery

app = Celery(
    "floor",
    broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
)
app.conf.update(worker_prefetch_multiplier=4, worker_hijack_root_logger=False)


@app.task(name="floor.echo")
def echo(x):
    return x
