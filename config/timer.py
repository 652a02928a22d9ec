"""The embedded stand-in for `celery beat`: runs CELERY_BEAT_SCHEDULE in a server thread.

Used when Celery is eager (no REDIS_URL, the `make run` default) so that retries, sweeps and
timers happen without a broker. With Redis configured, `celery -A config beat` does this job
and the timer stays off. The sweeps it runs are idempotent, so running one per server
process is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class EmbeddedTimer:
    def __init__(self, schedule: dict[str, dict[str, Any]], tick: float = 1.0) -> None:
        self.schedule = schedule
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Task modules are found lazily by the worker; the web process must import them here.
        current_app.loader.import_default_modules()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="parley-timer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        due = dict.fromkeys(self.schedule, time.monotonic())
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            for name, entry in self.schedule.items():
                if now < due[name]:
                    continue
                due[name] = now + float(entry["schedule"])
                self._run_task(name, str(entry["task"]))

    @staticmethod
    def _run_task(name: str, task_name: str) -> None:
        try:
            current_app.tasks[task_name].apply()
        except Exception:
            logger.exception("embedded timer: %s failed", name)
        finally:
            close_old_connections()


def with_embedded_timer(
    app: ASGIApp, on_shutdown: Sequence[Callable[[], Awaitable[None]]] = ()
) -> ASGIApp:
    """Wrap the ASGI app: answer lifespan events and run the timer between them; await
    `on_shutdown` (errors logged) before the server stops."""
    enabled = bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))
    timer = EmbeddedTimer(settings.CELERY_BEAT_SCHEDULE)

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if enabled:
                    timer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                timer.stop()
                for hook in on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        logger.exception("shutdown hook %s failed", hook)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application
