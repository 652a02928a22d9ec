"""What the end-to-end benchmarks share: production-like child processes, the tenant they
write into, percentiles and the machine description.

The benchmark process itself runs with Django set up from its environment (DEBUG=1 spares a
SECRET_KEY, as for the other benchmarks); the servers and workers it starts run with DEBUG=0
and the same database, Redis, queue, app secret and field encryption keys, so that bodies the
benchmark signs verify and channel credentials it stores decrypt.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench import django_env  # noqa: F401  # sets Django up: must precede the model imports
from config.celery import app as celery_app
from connectors.fake_platform import GRAPH_VERSION
from inbox.models import Channel, Organization
from inbox.services.channels import channel_create
from inbox.services.organizations import organization_create

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class Stats:
    """Latency summary in milliseconds (nearest-rank percentiles)."""

    count: int
    p50: float
    p99: float
    mean: float
    worst: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Stats:
        if not samples_ns:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(samples_ns)
        rank = max(1, math.ceil(0.99 * len(ordered)))
        return cls(
            count=len(ordered),
            p50=statistics.median(ordered) / 1e6,
            p99=ordered[rank - 1] / 1e6,
            mean=statistics.fmean(ordered) / 1e6,
            worst=ordered[-1] / 1e6,
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def require_services() -> None:
    """Refuse to run where the figures would mean nothing (SQLite, eager Celery)."""
    if connection.vendor != "postgresql":
        raise SystemExit("Run this benchmark on PostgreSQL (DATABASE_URL); see bench/README.md.")
    if not settings.REDIS_URL or celery_app.conf.task_always_eager:
        raise SystemExit("Set REDIS_URL (and CELERY_QUEUE): the benchmark needs real workers.")


def production_env(**extra: str) -> dict[str, str]:
    """The environment of the servers and workers: production settings, our services."""
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "META_APP_SECRET": settings.META_APP_SECRET,
            "TWITTER_CONSUMER_SECRET": settings.TWITTER_CONSUMER_SECRET
            or secrets.token_urlsafe(32),
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("Set DATABASE_URL to the benchmark's PostgreSQL database.")
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Processes:
    """Child processes started for one benchmark, each in its own session (process group), so
    that stopping one also stops the workers it forked. Output goes to log files, shown when a
    process dies early and kept when the run fails. Use as a context manager: everything
    started is stopped on exit."""

    def __init__(self) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self._logs = Path(tempfile.mkdtemp(prefix="parley-bench-"))

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self._logs / f"{name}.log"
        with log.open("wb") as output:
            child = subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
                command,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children.append((name, child, log))
        return child

    def check(self) -> None:
        """Raise SystemExit with its log when a child has died."""
        for name, child, log in self._children:
            if child.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited with {child.returncode}:\n{tail}")

    def stop(self, name: str | None = None) -> None:
        """Stop one child by name, or all of them: SIGTERM to its group, SIGKILL if it lingers."""
        chosen = [c for c in self._children if name is None or c[0] == name]
        for _, child, _ in chosen:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for _, child, _ in chosen:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self._children = [c for c in self._children if c not in chosen]

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None:  # keep the logs of a failed run for reading
            shutil.rmtree(self._logs, ignore_errors=True)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def uvicorn_command(port: int, workers: int) -> list[str]:
    return python(
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--ws-per-message-deflate",
        "false",
    )


def celery_command(name: str, concurrency: int, pool: str = "prefork") -> list[str]:
    """A Celery worker on our queue: `concurrency` prefork children, threads or (solo) none."""
    return python(
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        settings.CELERY_TASK_DEFAULT_QUEUE,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
    )


def fake_platforms_command(port: int) -> list[str]:
    return python("manage.py", "fake_platforms", "--port", str(port))


def fake_platform_urls(port: int) -> dict[str, str]:
    """Settings that send every platform call to the fake platforms on `port`."""
    return {
        "META_GRAPH_URL": f"http://127.0.0.1:{port}/{GRAPH_VERSION}",
        "TWITTER_API_URL": f"http://127.0.0.1:{port}",
    }


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that the children are stopped on the way out."""

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def wait_for_port(port: int, processes: Processes, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def wait_for_workers(names: Sequence[str], processes: Processes, timeout: float = 60.0) -> None:
    """Block until every named Celery worker answers a ping (it consumes the queue then)."""
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        replies = celery_app.control.ping(timeout=0.5) or []
        answered = {node.split("@", 1)[0] for reply in replies for node in reply}
        if wanted <= answered:
            return
    raise SystemExit(f"Celery workers {sorted(wanted)} did not answer within {timeout:.0f} s")


def purge_queue() -> int:
    """Drop tasks a previous, interrupted run left in our queue."""
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        purged: int = channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE) or 0  # type: ignore[attr-defined]  # kombu's virtual channels have it; the stubs' base class does not
        return purged


def migrate() -> None:
    call_command("migrate", interactive=False, verbosity=0)


# The tables an ingest or realtime run churns (every event inserted, then updated).
CHURNED = ("inbox_webhookevent", "inbox_conversation", "inbox_message", "inbox_slaclock")


def vacuum() -> None:
    """VACUUM ANALYZE what earlier runs churned, so that a run does not step over their dead
    rows, whether or not the server's autovacuum (off on some benchmark machines) got to it."""
    with connection.cursor() as cursor:
        for table in CHURNED:
            cursor.execute(f"VACUUM ANALYZE {table}")


def bench_organization(prefix: str) -> Organization:
    """A fresh organization for one run, so that runs never see each other's rows."""
    stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    organization, _ = organization_create(
        slug=f"{prefix}-{stamp}",
        name=f"{prefix} {stamp}",
        admin_email=f"admin-{stamp}@{prefix}.bench.example.com",
        admin_password=secrets.token_urlsafe(16),
    )
    return organization


def bench_channel(organization: Organization) -> Channel:
    """A Messenger channel with a page id no other run used."""
    page_id = unique_page_id()
    return channel_create(
        organization=organization,
        kind="messenger",
        name=f"Bench page {page_id}",
        external_id=page_id,
        credentials={"page_access_token": f"bench-token-{page_id}"},
    )


def unique_page_id() -> str:
    """A page id no other run used: 15 digits like Meta's, from the clock."""
    return str(10**14 + time.time_ns() // 1000 % 10**14)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as elapsed:` leaves the block's duration in seconds in elapsed[0]."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            kilobytes = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return "unknown"
    return f"{kilobytes / 1024 / 1024:.1f} GiB"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def environment() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()
        cursor.execute("SHOW synchronous_commit")
        sync = cursor.fetchone()
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {os.cpu_count()} logical cores ({_cpu_model()}), RAM {_memory()}",
        f"- database: PostgreSQL {server[0] if server else '?'} on loopback "
        f"(synchronous_commit={sync[0] if sync else '?'})",
        f"- Python {platform.python_version()}, Django {django.get_version()}",
    ]
