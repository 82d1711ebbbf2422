"""Workers: the Celery app, one task per platform, and what runs a request."""
