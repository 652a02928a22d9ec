"""Webhook ingest throughput and latency through the production server, on PostgreSQL.

    DEBUG=1 DATABASE_URL=postgres://... REDIS_URL=redis://.../9 CELERY_QUEUE=bench-ingest \\
        python -m bench.webhook_ingest [--duration 10] [--connections 16] [--runs 3]

Starts uvicorn (`config.asgi`, --workers N) and Celery workers with production settings
(DEBUG=0, the same database, Redis and queue), then drives them from a load generator in this
process: C keep-alive connections on loopback, each sending pre-built, correctly signed
Messenger bodies back to back for --duration seconds. Two cases, each on a fresh page:

- single: one message per POST (a conversation's usual traffic)
- batch: --batch-size messages per POST (Meta batches updates under load)

Per case: accepted events/s (messages in POSTs answered 200; a batch counts its messages), the
ack latency of every POST (p50, p99), and, once the workers have drained the backlog, fully
processed events/s over the processing window (first event received to last processed), with
a check that every acknowledged message id became exactly one message. A redelivery pass then
sends some bodies twice at once and checks that nothing doubled. In the same run, pgbench
measures PostgreSQL's raw single-row INSERT rate with the same number of connections; the
single-message case is reported as a fraction of it. Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import connection
from django.db.models import Max, Min, Q

from bench import harness
from connectors.simulation import messenger_messages, messenger_text, sign
from inbox.models import Channel, Message, Organization, WebhookEvent, WebhookEventStatus

TARGET_ACCEPTED = 1000.0
TARGET_ACK_P99_MS = 100.0
TARGET_PROCESSED = 400.0
# Bodies are built before the clock starts; these caps (requests/s) size the pool. A run that
# exhausts it says so: raise them for a faster machine.
POOL_RATE_SINGLE = 3000
PATH = "/webhooks/messenger/"
TEXTS = (
    "Hi, I booked a double room for next Friday and would like to add breakfast.",
    "Is late check-out possible on Sunday?",
    "My order #{n} has not arrived yet, can you check?",
    "Thanks!",
    "Can I bring my dog? She is small and very quiet, I promise. Reservation {n}.",
)


@dataclass(frozen=True)
class Body:
    """One POST ready for the wire (request line, headers, signed body) and its message ids."""

    request: bytes
    mids: tuple[str, ...]


@dataclass
class Load:
    """What the load generator saw for one case."""

    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    acked: list[int] = field(default_factory=list)  # pool indexes answered 200
    events: int = 0
    elapsed: float = 0.0
    exhausted: bool = False

    @property
    def requests(self) -> int:
        return len(self.latencies_ns)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")


@dataclass
class Processing:
    """The workers' side of one case, read from the database once they are done."""

    events: int = 0  # messages stored for the case's page
    webhook_rows: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    window: float = math.nan  # first received_at to last processed_at, seconds
    drain: float = math.nan  # load end to last processed_at, seconds
    timed_out: bool = False
    duplicates: int = 0
    lost: int = 0
    unexpected: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.window if self.window > 0 else math.nan


@dataclass
class Case:
    name: str
    batch: int
    load: Load
    processing: Processing


@dataclass
class Run:
    pgbench_tps: float
    cases: list[Case]
    redelivery: Redelivery


@dataclass(frozen=True)
class Redelivery:
    requests: int
    acked: int
    events: int
    messages_before: int
    messages_after: int
    duplicates: int
    lost: int
    pending: int


# ---- bodies ---------------------------------------------------------------------------------


def build_pool(
    channel: Channel, *, count: int, batch: int, customers: int, port: int
) -> list[Body]:
    """`count` signed POSTs of `batch` messages each, message ids unique, customers in turn."""
    page_id = channel.external_id
    head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    psid_base = int(page_id) * 10**6
    pool = []
    serial = itertools.count()
    for _ in range(count):
        numbers = [next(serial) for _ in range(batch)]
        items = [
            messenger_text(
                page_id,
                str(psid_base + n % customers),
                TEXTS[n % len(TEXTS)].format(n=n),
                mid=f"m_{page_id}_{n}",
            )
            for n in numbers
        ]
        body = messenger_messages(page_id, items)
        headers = "".join(f"{k}: {v}\r\n" for k, v in sign("messenger", body).items())
        request = f"{head}Content-Length: {len(body)}\r\n{headers}\r\n".encode() + body
        pool.append(Body(request, tuple(item["message"]["mid"] for item in items)))
    return pool


# ---- load generator -------------------------------------------------------------------------


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not expected from the webhook endpoint")
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    port: int, pool: Sequence[Body], order: Iterator[int], deadline: float, load: Load
) -> None:
    """One keep-alive connection sending the next body as soon as the last one is answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for index in order:
            if time.monotonic() >= deadline:
                return
            body = pool[index]
            started = time.perf_counter_ns()
            try:
                writer.write(body.request)
                status = await _response(reader)
            except (OSError, asyncio.IncompleteReadError) as exc:
                load.latencies_ns.append(time.perf_counter_ns() - started)
                load.statuses[type(exc).__name__] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            load.latencies_ns.append(time.perf_counter_ns() - started)
            load.statuses[str(status)] += 1
            if status == 200:
                load.acked.append(index)
                load.events += len(body.mids)
        load.exhausted = True
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _drive(
    port: int, pool: Sequence[Body], order: Sequence[int], connections: int, duration: float
) -> Load:
    load = Load()
    shared = iter(order)  # one iterator: each body goes out once, whichever connection is free
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(
        *(_connection(port, pool, shared, deadline, load) for _ in range(connections))
    )
    load.elapsed = time.monotonic() - started
    return load


def drive(
    port: int,
    pool: Sequence[Body],
    *,
    connections: int,
    duration: float,
    order: Sequence[int] | None = None,
) -> Load:
    return asyncio.run(
        _drive(port, pool, range(len(pool)) if order is None else order, connections, duration)
    )


# ---- the database side ----------------------------------------------------------------------


def _pending(channels: Sequence[Channel], floor: int) -> int:
    """Events of these pages still to be processed: received, or failed with a retry due."""
    return (
        WebhookEvent.all_tenants.filter(pk__gt=floor, channel__in=channels)
        .filter(
            Q(status=WebhookEventStatus.RECEIVED)
            | Q(status=WebhookEventStatus.FAILED, next_attempt_at__isnull=False)
        )
        .count()
    )


def wait_processed(channels: Sequence[Channel], floor: int, timeout: float) -> bool:
    """Poll until no event after `floor` is left to process; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _pending(channels, floor) == 0:
            return True
        time.sleep(0.25)
    return False


def _messages(channel: Channel) -> Counter[str]:
    ids = Message.all_tenants.filter(channel=channel).values_list("external_id", flat=True)
    return Counter(i for i in ids if i is not None)


def measure_processing(
    channel: Channel,
    *,
    floor: int,
    load_end: datetime,
    pool: Sequence[Body],
    load: Load,
    timeout: float,
) -> Processing:
    result = Processing(timed_out=not wait_processed([channel], floor, timeout))
    events = WebhookEvent.all_tenants.filter(pk__gt=floor, channel=channel)
    result.webhook_rows = events.count()
    result.statuses = dict(Counter(events.values_list("status", flat=True)))
    bounds = events.aggregate(first=Min("received_at"), last=Max("processed_at"))
    if bounds["first"] is not None and bounds["last"] is not None:
        result.window = (bounds["last"] - bounds["first"]).total_seconds()
        result.drain = max(0.0, (bounds["last"] - load_end).total_seconds())
    found = _messages(channel)
    result.events = sum(found.values())
    acked = {mid for index in load.acked for mid in pool[index].mids}
    sent = {mid for index in range(len(pool)) for mid in pool[index].mids}
    result.duplicates = sum(n - 1 for n in found.values() if n > 1)
    result.lost = len(acked - found.keys())
    result.unexpected = len(found.keys() - sent)
    return result


def _floor() -> int:
    return WebhookEvent.all_tenants.aggregate(top=Max("pk"))["top"] or 0


def _now() -> datetime:
    with connection.cursor() as cursor:  # the database clock, which stamped received_at
        cursor.execute("SELECT now()")
        row = cursor.fetchone()
    assert row is not None
    now: datetime = row[0]
    return now


# ---- cases ----------------------------------------------------------------------------------


def run_case(
    name: str, organization: Organization, args: argparse.Namespace, *, batch: int, requests: int
) -> tuple[Case, Channel, list[Body]]:
    channel = harness.bench_channel(organization)
    pool = build_pool(
        channel, count=requests, batch=batch, customers=args.customers, port=args.port
    )
    floor = _floor()
    load = drive(args.port, pool, connections=args.connections, duration=args.duration)
    load_end = _now()
    processing = measure_processing(
        channel,
        floor=floor,
        load_end=load_end,
        pool=pool,
        load=load,
        timeout=args.processing_timeout,
    )
    return Case(name, batch, load, processing), channel, pool


def redeliver(
    targets: Sequence[tuple[Channel, list[Body], Load]], args: argparse.Namespace
) -> Redelivery:
    """Send acknowledged bodies again, each twice at the same moment on two connections (Meta
    retries a POST it thinks failed; two retries may cross). Nothing may double."""
    channels = [channel for channel, _, _ in targets]
    before = [_messages(channel) for channel in channels]
    pool: list[Body] = []
    for _, bodies, load in targets:
        share = max(1, args.redeliver // len(targets))
        pool.extend(bodies[index] for index in load.acked[:share])
    order = [index for index in range(len(pool)) for _ in range(2)]
    floor = _floor()
    load = drive(args.port, pool, connections=args.connections, duration=3600, order=order)
    finished = wait_processed(channels, floor, args.processing_timeout)
    after = [_messages(channel) for channel in channels]
    expected = {mid for found in before for mid in found}
    seen: Counter[str] = Counter()
    for found in after:
        seen.update(found)
    return Redelivery(
        requests=load.requests,
        acked=len(load.acked),
        events=load.events,
        messages_before=sum(sum(found.values()) for found in before),
        messages_after=sum(seen.values()),
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        lost=len(expected - seen.keys()),
        pending=0 if finished else _pending(channels, floor),
    )


# ---- pgbench --------------------------------------------------------------------------------

_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def pgbench(*, connections: int, seconds: int, body_size: int) -> float:
    """PostgreSQL's raw rate of single-row INSERTs, one per transaction, with `connections`
    clients: the ceiling for an endpoint that must make each event durable before answering."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_insert")
        cursor.execute(
            "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, body bytea NOT NULL, "
            "received_at timestamptz NOT NULL DEFAULT now())"
        )
    db = connection.settings_dict
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "insert.sql"
        script.write_text(
            # A literal of random bytes: nothing here comes from outside.
            f"INSERT INTO bench_insert (body) VALUES ('\\x{os.urandom(body_size).hex()}');\n"  # noqa: S608
        )
        command = [
            "pgbench",
            "-n",
            "-c",
            str(connections),
            "-j",
            str(min(2, connections)),
            "-T",
            str(seconds),
            "-f",
            str(script),
            "-h",
            str(db["HOST"] or "127.0.0.1"),
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            str(db["USER"] or "postgres"),
            str(db["NAME"]),
        ]
        env = dict(os.environ)
        if db["PASSWORD"]:
            env["PGPASSWORD"] = str(db["PASSWORD"])
        try:
            done = subprocess.run(  # noqa: S603  # fixed arguments
                command, capture_output=True, text=True, env=env, check=True
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_insert")
    match = _TPS.search(done.stdout)
    if match is None:
        raise SystemExit(f"could not read pgbench's tps:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))


# ---- report ---------------------------------------------------------------------------------


def _rate(load: Load) -> float:
    return load.events / load.elapsed if load.elapsed else math.nan


def _case_row(run: int, case: Case, tps: float) -> str:
    load, processing = case.load, case.processing
    ack = harness.Stats.of(load.latencies_ns)
    ratio = f"{_rate(load) / tps:.3f}" if case.batch == 1 else "-"
    notes = []
    if load.exhausted:
        notes.append(f"all {load.requests} POSTs sent in {load.elapsed:.1f} s")
    if processing.timed_out:
        notes.append("processing timed out")
    failed = processing.statuses.get(WebhookEventStatus.FAILED, 0)
    if failed:
        notes.append(f"{failed} events failed")
    return (
        f"| {run} | {case.name} | {load.requests} | {load.events} | {_rate(load):,.0f} "
        f"| {ack.p50:.1f} | {ack.p99:.1f} | {ack.worst:.0f} | {load.errors} "
        f"| {processing.rate:,.0f} | {processing.drain:.1f} "
        f"| {processing.duplicates}/{processing.events} | {processing.lost} | {ratio} "
        f"| {', '.join(notes)} |"
    )


def report(runs: Sequence[Run], args: argparse.Namespace, started_load: str) -> None:
    print("## Webhook ingest\n")
    print(*harness.environment(), sep="\n")
    print(
        f"- server: uvicorn config.asgi, --workers {args.server_workers}, DEBUG=0, "
        f"DATABASE_CONN_MAX_AGE={args.server_conn_max_age}; Celery: {args.celery_workers} "
        f"worker(s) x --concurrency {args.celery_concurrency} (prefork), "
        f"DATABASE_CONN_MAX_AGE={args.worker_conn_max_age}"
    )
    print(
        f"- load: {args.connections} keep-alive connections on loopback, {args.duration:g} s per "
        f"case, {args.customers} customers in turn, batch = {args.batch_size} messages; pgbench "
        f"-c {args.connections} -T {args.pgbench_seconds}, one {args.body_size}-byte row per "
        "transaction"
    )
    print(
        f"- load average before / after (1, 5, 15 min): {started_load} / {harness.load_average()}"
    )
    print()
    print(
        "| run | case | POSTs | events acked | accepted events/s | ack p50 ms | ack p99 ms "
        "| ack max ms | errors | processed events/s | drain s | duplicates/messages | lost "
        "| ratio to pgbench | notes |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for number, run in enumerate(runs, 1):
        for case in run.cases:
            print(_case_row(number, case, run.pgbench_tps))
    print()
    print(
        "| run | pgbench INSERT tps | redelivered POSTs (acked) | events | messages before → after "
        "| duplicates | lost | left unprocessed |"
    )
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    for number, run in enumerate(runs, 1):
        r = run.redelivery
        print(
            f"| {number} | {run.pgbench_tps:,.0f} | {r.requests} ({r.acked}) | {r.events} "
            f"| {r.messages_before} → {r.messages_after} | {r.duplicates} | {r.lost} "
            f"| {r.pending} |"
        )
    _verdicts(runs)


def _verdicts(runs: Sequence[Run]) -> None:
    print()
    names = [case.name for case in runs[0].cases]
    for index, name in enumerate(names):
        cases = [run.cases[index] for run in runs]
        accepted = harness.median([_rate(c.load) for c in cases])
        p99 = harness.median([harness.Stats.of(c.load.latencies_ns).p99 for c in cases])
        processed = harness.median([c.processing.rate for c in cases])
        ok_accept = accepted >= TARGET_ACCEPTED and p99 <= TARGET_ACK_P99_MS
        ok_process = processed >= TARGET_PROCESSED
        print(
            f"- {name} (median of {len(cases)}): accepted {accepted:,.0f} events/s with ack p99 "
            f"{p99:.1f} ms: {'met' if ok_accept else 'NOT met'} (>= {TARGET_ACCEPTED:,.0f}/s, "
            f"p99 <= {TARGET_ACK_P99_MS:.0f} ms); processed {processed:,.0f} events/s: "
            f"{'met' if ok_process else 'NOT met'} (>= {TARGET_PROCESSED:.0f}/s)"
        )
    tps = harness.median([run.pgbench_tps for run in runs])
    single = harness.median([_rate(run.cases[0].load) for run in runs])
    print(
        f"- pgbench single-row INSERT (median): {tps:,.0f} tps; single-message ingest is "
        f"{single / tps:.3f} of it"
    )
    problems = sum(
        c.processing.duplicates + c.processing.lost + c.processing.unexpected
        for run in runs
        for c in run.cases
    ) + sum(run.redelivery.duplicates + run.redelivery.lost for run in runs)
    print(f"- duplicates, lost or unexpected messages over all runs: {problems}")


# ---- main -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    harness.require_services()
    harness.migrate()
    started_load = harness.load_average()
    fake_port = harness.free_port()
    env = harness.production_env(**harness.fake_platform_urls(fake_port))
    worker_names = [f"bench-ingest-{n}" for n in range(1, args.celery_workers + 1)]
    runs: list[Run] = []
    with harness.Processes() as processes:
        harness.purge_queue()
        # New customers' profiles are fetched from the platform: from a local fake here.
        processes.start("fake-platforms", harness.fake_platforms_command(fake_port), env)
        processes.start(
            "uvicorn",
            harness.uvicorn_command(args.port, args.server_workers),
            {**env, "DATABASE_CONN_MAX_AGE": str(args.server_conn_max_age)},
        )
        worker_env = {**env, "DATABASE_CONN_MAX_AGE": str(args.worker_conn_max_age)}
        for name in worker_names:
            processes.start(name, harness.celery_command(name, args.celery_concurrency), worker_env)
        harness.wait_for_port(fake_port, processes)
        harness.wait_for_port(args.port, processes)
        harness.wait_for_workers(worker_names, processes)
        for number in range(1, args.runs + 1):
            harness.vacuum()
            tps = pgbench(
                connections=args.connections,
                seconds=args.pgbench_seconds,
                body_size=args.body_size,
            )
            organization = harness.bench_organization("ingest")
            single, single_channel, single_pool = run_case(
                "single",
                organization,
                args,
                batch=1,
                requests=math.ceil(args.duration * POOL_RATE_SINGLE),
            )
            processes.check()
            batch, batch_channel, batch_pool = run_case(
                f"batch of {args.batch_size}",
                organization,
                args,
                batch=args.batch_size,
                requests=args.batch_requests,
            )
            processes.check()
            redelivery = redeliver(
                [
                    (single_channel, single_pool, single.load),
                    (batch_channel, batch_pool, batch.load),
                ],
                args,
            )
            runs.append(Run(tps, [single, batch], redelivery))
            print(f"run {number}/{args.runs} done", flush=True)
    print()
    report(runs, args, started_load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per case")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--batch-requests",
        type=int,
        default=60,
        help="POSTs in the batch case's pool: it ends when they are sent (or at --duration)",
    )
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--celery-workers", type=int, default=1)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    default_age = int(os.environ.get("DATABASE_CONN_MAX_AGE", "0"))
    parser.add_argument(
        "--server-conn-max-age",
        type=int,
        default=default_age,
        help="DATABASE_CONN_MAX_AGE of the server processes (default: as in the environment)",
    )
    parser.add_argument(
        "--worker-conn-max-age",
        type=int,
        default=default_age,
        help="DATABASE_CONN_MAX_AGE of the Celery workers (default: as in the environment)",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--redeliver", type=int, default=100, help="bodies sent twice again")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--body-size", type=int, default=300, help="bytes per pgbench row")
    parser.add_argument("--processing-timeout", type=float, default=600.0)
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args()
    args.port = args.port or harness.free_port()
    harness.stop_on_sigterm()
    run(args)


if __name__ == "__main__":
    main()
