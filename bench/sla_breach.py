"""SLA breach detection latency at 100,000 open conversations, and the sweep's cost per run.

    DEBUG=1 DATABASE_URL=postgres://... REDIS_URL=redis://.../9 CELERY_QUEUE=bench-sla \\
        REALTIME_PREFIX=bench-sla python -m bench.sla_breach [--conversations 100000]
        [--duration 300] [--workers 2] [--sweep-runs 30]

Builds a fresh organization (organization_create: the default policy, first response in 15
minutes) with --conversations open conversations, each with a running first-response clock and
a running resolution clock, the first-response deadlines spread evenly over the next hour (the
first few minutes' warnings already given, as in a steady state). Then starts the production
shape with DEBUG=0 on the same database and Redis: uvicorn, a Celery worker and a separate
`celery beat` running settings.CELERY_BEAT_SCHEDULE (the timer sweep every second), and
connects a supervisor's websocket to the server.

Latency: for every deadline that passes during --duration seconds, the time from the deadline
to the `sla.breached` event arriving on that websocket (nothing else makes a request); p50,
p99, worst, and a check that each deadline was announced exactly once.

Sweep cost: beat and the worker are stopped, and this process runs the sweep
(inbox.services.timers.timers_run_due) once a second --sweep-runs times while the deadlines keep
coming due, timing each run and counting its queries; then an idle run (nothing due) and the
plans of the sweep's queries. Prints markdown; the organization is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp

import websockets
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import harness
from inbox.models import (
    Conversation,
    Customer,
    Organization,
    Role,
    SLAClock,
    SLAClockState,
    SLAMetric,
    User,
)
from inbox.selectors.timers import clocks_to_breach, clocks_to_warn
from inbox.services.organizations import member_create
from inbox.services.timers import timers_run_due
from inbox.tenancy import tenant_models

TARGET_P99_S = 2.0
FIRST_RESPONSE = timedelta(minutes=15)
WARN_BEFORE = FIRST_RESPONSE / 4  # warned at 75 %
SPREAD = timedelta(hours=1)
LEAD = timedelta(seconds=20)  # from the shift of the deadlines to the first one
FAR = timedelta(days=2)  # where deadlines wait while the processes start
BATCH = 5000


@dataclass
class Received:
    """Per `sla.breached` frame: its deadline (epoch seconds), its latency, its clock."""

    dues: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    clock_ids: list[int] = field(default_factory=list)
    warnings: int = 0

    def within(self, start: float, end: float) -> list[float]:
        """Latencies of the deadlines in [start, end)."""
        return [
            latency
            for due, latency in zip(self.dues, self.latencies, strict=True)
            if start <= due < end
        ]


# ---- data --------------------------------------------------------------------------------------


def build(organization: Organization, channel_id: int, count: int, base: datetime) -> None:
    """`count` open conversations, each with its clocks, first deadlines at base + [0, 1 h)."""
    step = SPREAD / count
    with transaction.atomic():
        customers = Customer.all_tenants.bulk_create(
            [Customer(organization=organization, display_name=f"Guest {n}") for n in range(count)],
            batch_size=BATCH,
        )
        conversations = Conversation.all_tenants.bulk_create(
            [
                Conversation(
                    organization=organization,
                    number=n + 1,
                    customer=customer,
                    channel_id=channel_id,
                    last_message_at=base - FIRST_RESPONSE + step * n,
                    last_message_preview="Hello?",
                    sla_cycle=1,
                    sla_due_at=base + step * n,
                    sla_state=SLAClockState.RUNNING,
                )
                for n, customer in enumerate(customers)
            ],
            batch_size=BATCH,
        )
        clocks = []
        for n, conversation in enumerate(conversations):
            due = base + step * n
            started = due - FIRST_RESPONSE
            for metric, target in (
                (SLAMetric.FIRST_RESPONSE, FIRST_RESPONSE),
                (SLAMetric.RESOLUTION, timedelta(hours=24)),
            ):
                clocks.append(
                    SLAClock(
                        organization=organization,
                        conversation=conversation,
                        metric=metric,
                        cycle=1,
                        target=target,
                        started_at=started,
                        running_since=started,
                        due_at=started + target,
                        warn_at=started + target * 3 / 4,
                    )
                )
        SLAClock.all_tenants.bulk_create(clocks, batch_size=BATCH)
        Organization.objects.filter(pk=organization.pk).update(last_conversation_number=count)


def shift(organization: Organization, delta: timedelta, now: datetime) -> None:
    """Move every deadline by `delta` at once; warnings already due count as given."""
    with transaction.atomic():
        clocks = SLAClock.all_tenants.filter(organization=organization)
        clocks.update(
            started_at=F("started_at") + delta,
            running_since=F("running_since") + delta,
            due_at=F("due_at") + delta,
            warn_at=F("warn_at") + delta,
        )
        clocks.filter(warn_at__lte=now + LEAD).update(state=SLAClockState.WARNING, warned_at=now)
        Conversation.all_tenants.filter(organization=organization).update(
            sla_due_at=F("sla_due_at") + delta, last_message_at=F("last_message_at") + delta
        )
        Conversation.all_tenants.filter(
            organization=organization, sla_due_at__lte=now + LEAD + WARN_BEFORE
        ).update(sla_state=SLAClockState.WARNING)
    with connection.cursor() as cursor:
        for table in ("inbox_slaclock", "inbox_conversation"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def cleanup(organization: Organization) -> None:
    with transaction.atomic():
        for model in tenant_models():
            model._base_manager.filter(organization_id=organization.pk)._raw_delete(
                connection.alias
            )
        users = list(
            User.objects.filter(memberships__organization=organization).values_list("pk", flat=True)
        )
        Organization.objects.filter(pk=organization.pk).delete()
        User.objects.filter(pk__in=users, memberships__isnull=True).delete()


# ---- the websocket -----------------------------------------------------------------------------


async def listen(url: str, cookie: str, origin: str, until: float, got: Received) -> None:
    async with websockets.connect(
        url,
        additional_headers={"Cookie": cookie, "Origin": origin},
        open_timeout=30,
        max_queue=None,
    ) as ws:
        while time.time() < until:
            try:
                raw = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            arrived = time.time()
            frame = json.loads(raw)
            if frame.get("type") != "event":
                continue
            if frame["event"] == "sla.warning":
                got.warnings += 1
            elif frame["event"] == "sla.breached":
                payload = frame["payload"]
                due = datetime.fromisoformat(payload["due_at"]).timestamp()
                got.dues.append(due)
                got.latencies.append(arrived - due)
                got.clock_ids.append(int(payload["clock_id"]))


async def connected(url: str, cookie: str, origin: str) -> None:
    """Wait until the server accepts the supervisor's socket and says hello."""
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=30
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if hello.get("type") != "hello":
            raise SystemExit(f"unexpected first frame {hello}")


# ---- the report ------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def sweep_costs(runs: int) -> tuple[list[float], list[int], list[int]]:
    """Run the sweep once a second in this process: (ms, rows, queries) of each run."""
    millis, rows, queries = [], [], []
    for _ in range(runs):
        started = time.monotonic()
        with CaptureQueriesContext(connection) as captured:
            result = timers_run_due()
        millis.append((time.monotonic() - started) * 1000)
        rows.append(result.total())
        queries.append(len(captured))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    return millis, rows, queries


def plans(now: datetime) -> list[str]:
    lines = []
    for name, queryset in (
        ("breach", clocks_to_breach(now=now)),
        ("warning", clocks_to_warn(now=now)),
    ):
        plan = queryset.values_list("pk", "conversation_id")[:500].explain(analyze=True)
        lines += [f"{name}:", "```", plan, "```"]
    return lines


@dataclass
class Run:
    """What one run measured."""

    conversations: int
    workers: int
    built_s: float = 0.0
    shifted_s: float = 0.0
    load_before: str = ""
    load_during: str = ""
    expected: int = 0
    got: Received = field(default_factory=Received)
    millis: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    idle_ms: float = 0.0
    idle_queries: int = 0
    plans: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)


def _session_cookie(organization: Organization) -> str:
    supervisor = member_create(
        organization=organization,
        email=f"supervisor@{organization.slug}.bench.example.com",
        password=secrets.token_urlsafe(16),
        role=Role.SUPERVISOR,
    )
    browser = Client()
    browser.force_login(supervisor.user)
    return f"sessionid={browser.cookies['sessionid'].value}"


def _beat_command() -> list[str]:
    schedule = Path(mkdtemp(prefix="parley-beat-")) / "schedule"
    return harness.python(
        "-m", "celery", "-A", "config", "beat", "--schedule", str(schedule), "--loglevel", "WARNING"
    )


def measure(organization: Organization, run: Run, duration: float, sweep_runs: int) -> None:
    channel = harness.bench_channel(organization)
    cookie = _session_cookie(organization)
    far = datetime.now(UTC) + FAR
    with harness.timed() as built:
        build(organization, channel.pk, run.conversations, far)
    run.built_s = built[0]
    harness.purge_queue()
    port = harness.free_port()
    env = harness.production_env(
        SECRET_KEY=settings.SECRET_KEY,  # the session cookie made here must verify there
        REALTIME_PREFIX=settings.REALTIME_PREFIX,
    )
    with harness.Processes() as processes:
        processes.start("server", harness.uvicorn_command(port, 1), env)
        processes.start("worker", harness.celery_command("sla", run.workers), env)
        processes.start("beat", _beat_command(), env)
        harness.wait_for_port(port, processes)
        harness.wait_for_workers(["sla"], processes)
        origin = f"http://127.0.0.1:{port}"
        ws_url = f"ws://127.0.0.1:{port}/ws/o/{organization.slug}/"
        asyncio.run(connected(ws_url, cookie, origin))
        now = datetime.now(UTC)
        start = now + LEAD
        with harness.timed() as shifted:
            shift(organization, start - far, now)
        run.shifted_s = shifted[0]
        window_end = start + timedelta(seconds=duration)
        run.window = (start.timestamp(), window_end.timestamp())
        run.load_before = harness.load_average()
        asyncio.run(listen(ws_url, cookie, origin, window_end.timestamp() + 10, run.got))
        run.load_during = harness.load_average()
        processes.check()
        processes.stop("beat")
        processes.stop("worker")
    run.expected = SLAClock.all_tenants.filter(
        organization=organization,
        metric=SLAMetric.FIRST_RESPONSE,
        due_at__gte=start,
        due_at__lt=window_end,
    ).count()
    run.millis, run.rows, run.queries = sweep_costs(sweep_runs)
    # Idle: a second run at the same moment as the first finds nothing due.
    moment = datetime.now(UTC)
    timers_run_due(now=moment)
    with CaptureQueriesContext(connection) as idle:
        idle_started = time.monotonic()
        timers_run_due(now=moment)
        run.idle_ms = (time.monotonic() - idle_started) * 1000
    run.idle_queries = len(idle)
    run.plans = plans(datetime.now(UTC))


def render(run: Run) -> list[str]:
    latencies = run.got.within(*run.window)
    duplicates = len(run.got.clock_ids) - len(set(run.got.clock_ids))
    p99 = percentile(latencies, 0.99)
    met = "Met" if p99 <= TARGET_P99_S else "Not met"
    p50 = statistics.median(latencies) if latencies else math.nan
    mean = statistics.fmean(latencies) if latencies else math.nan
    return [
        f"## SLA breach detection, {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"**Target: p99 ≤ {TARGET_P99_S:.0f} s from a deadline to `sla.breached` on a "
        f"browser's websocket. {met}: p99 {p99:.2f} s** over {len(latencies)} breaches.",
        "",
        "### Set-up",
        "",
        *harness.environment(),
        f"- load average before / after the latency run: {run.load_before} / {run.load_during}",
        f"- {run.conversations:,} open conversations in one organization, each with a running "
        f"first-response clock (15 min) and resolution clock (24 h): {2 * run.conversations:,} "
        "clocks; first-response deadlines spread evenly over one hour "
        f"({run.conversations / 3600:.1f} per second), warnings at 75 %",
        f"- built in {run.built_s:.1f} s; deadlines moved into place in {run.shifted_s:.1f} s",
        f"- uvicorn (1 worker), a Celery worker (concurrency {run.workers}) and `celery beat` "
        "(the settings' schedule: the timer sweep every second), DEBUG=0, on this machine",
        "",
        "### Latency: deadline → `sla.breached` on the websocket",
        "",
        "| breaches | deadlines in the window | duplicates | p50 s | p99 s | worst s | mean s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {len(latencies)} | {run.expected} | {duplicates} | {p50:.2f} | {p99:.2f} | "
        f"{max(latencies, default=math.nan):.2f} | {mean:.2f} |",
        "",
        f"Warnings received in the same run: {run.got.warnings}.",
        "",
        "### Sweep cost at this size",
        "",
        f"{len(run.millis)} runs of the sweep, one a second, in the benchmark process while "
        "deadlines keep coming due (rows: clocks breached or warned, snoozes, follow-ups):",
        "",
        "| | p50 | p99 | worst |",
        "|---|---:|---:|---:|",
        f"| ms per run | {statistics.median(run.millis):.1f} | "
        f"{percentile(run.millis, 0.99):.1f} | {max(run.millis):.1f} |",
        f"| rows per run | {statistics.median(run.rows):.0f} | "
        f"{percentile([float(r) for r in run.rows], 0.99):.0f} | {max(run.rows)} |",
        f"| queries per run | {statistics.median(run.queries):.0f} | "
        f"{percentile([float(q) for q in run.queries], 0.99):.0f} | {max(run.queries)} |",
        "",
        f"An idle run (nothing due): {run.idle_ms:.1f} ms, {run.idle_queries} queries.",
        "",
        "Plans of the sweep's reads:",
        "",
        *run.plans,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")
    parser.add_argument("--sweep-runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the organization afterwards")
    args = parser.parse_args()
    harness.require_services()
    harness.migrate()
    settings.DEBUG = False  # no query log in this process
    organization = harness.bench_organization("sla")
    run = Run(conversations=args.conversations, workers=args.workers)
    try:
        measure(organization, run, args.duration, args.sweep_runs)
    finally:
        if not args.keep:
            cleanup(organization)
    print("\n".join(render(run)))


if __name__ == "__main__":
    main()
