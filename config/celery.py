"""The Celery application: `celery -A config worker` / `celery -A config beat`.

Without REDIS_URL, settings turn on eager mode so `make run` needs no broker.
"""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _flush_realtime(**kwargs: object) -> None:
    """A prefork child ends with os._exit, which skips atexit: publish what it still holds."""
    from inbox import realtime  # noqa: PLC0415  # needs Django's settings, set up by then

    realtime.flush()
