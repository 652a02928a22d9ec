"""The Celery application: `celery -A config worker` / `celery -A config beat`.

Without REDIS_URL, settings turn on eager mode so `make run` needs no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
