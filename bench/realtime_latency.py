"""Latency from a webhook POST to the websocket frame at connected agents, on PostgreSQL + Redis.

    DEBUG=1 DATABASE_URL=postgres://.../parley_bench_rt REDIS_URL=redis://.../11 \\
        CELERY_QUEUE=bench-rt python -m bench.realtime_latency [--messages 200] [--sockets 1,100]

Starts the production processes (uvicorn `config.asgi` --workers 2, a Celery worker, the fake
platforms for new customers' profiles) with DEBUG=0, the benchmark's database, Redis, queue and
SECRET_KEY (so that the sessions it creates are valid there) and a REALTIME_PREFIX of its own.
It creates an organization, a Messenger page and as many supervisors (who hear every event of
the organization) as the largest socket count, each with a Django session.

For each socket count N it opens N websockets on /ws/o/<slug>/, one per supervisor, then sends
--messages signed single-message webhooks one at a time, each from a new customer (so each
creates a conversation), --spacing apart. The clock starts just before a POST is written; a
socket's latency for that POST is the arrival of the `message.created` frame of the message
the POST carried (matched afterwards by the message id the database gave that platform id).
The next POST leaves once every socket has its frame (or after --frame-timeout).

In the same run, the baseline: a bare Redis PUBLISH to one SUBSCRIBEd client (redis-py asyncio,
both in this process), the same number of messages, the same spacing, before and after the
websocket cases. Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import websockets
from django.conf import settings
from django.test import Client

from bench import harness
from bench.webhook_ingest import Body, build_pool
from inbox.models import Channel, Message, Organization, Role, User, WebhookEvent
from inbox.services.organizations import member_create

TARGET_P50_MS = 25.0
TARGET_P99_MS = 100.0
TARGET_SOCKETS = 100
WARMUP = 5  # POSTs per case before the clock counts (connections, imports, caches)


@dataclass
class Case:
    sockets: int
    posts: int = 0
    ack_ns: list[int] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    missing: int = 0  # (socket, message) pairs whose frame never came
    # per POST, seconds: webhook received -> message row created, -> webhook processed
    hops: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Socket:
    """One connected agent: message id -> arrival (perf_counter_ns) of its message.created."""

    arrivals: dict[int, int] = field(default_factory=dict)


class Counter:
    """message.created frames seen by all sockets; wakes a waiter at a target count."""

    def __init__(self) -> None:
        self.value = 0
        self._target = math.inf
        self._reached = asyncio.Event()

    def add(self) -> None:
        self.value += 1
        if self.value >= self._target:
            self._reached.set()

    async def wait_for(self, target: int, timeout: float) -> None:
        self._target = target
        self._reached.clear()
        if self.value < target:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reached.wait(), timeout)
        self._target = math.inf


# ---- set-up ---------------------------------------------------------------------------------


def supervisors(organization: Organization, count: int) -> list[str]:
    """`count` supervisors with a session each: their `sessionid` cookies."""
    cookies = []
    stamp = organization.slug
    for number in range(count):
        email = f"sup{number}@{stamp}.bench.example.com"
        user = User.objects.create_user(email, None)  # unusable password: sessions only
        member_create(organization=organization, email=email, role=Role.SUPERVISOR)
        browser = Client()
        browser.force_login(user)
        cookies.append(f"sessionid={browser.cookies['sessionid'].value}")
    return cookies


# ---- the websocket case ---------------------------------------------------------------------


async def _reader(ws: Any, socket: Socket, counter: Counter) -> None:
    async for raw in ws:
        arrived = time.perf_counter_ns()
        frame = json.loads(raw)
        if frame.get("type") == "event" and frame.get("event") == "message.created":
            socket.arrivals[int(frame["payload"]["id"])] = arrived
            counter.add()


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: Body) -> int:
    writer.write(body.request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and int(value):
            await reader.readexactly(int(value))
    if status != 200:
        raise SystemExit(f"webhook POST answered {status}")
    return status


async def _run_case(
    args: argparse.Namespace, slug: str, cookies: Sequence[str], bodies: Sequence[Body]
) -> tuple[Case, list[int], list[Socket]]:
    """Returns the case (acks only), each counted POST's start, and what each socket saw."""
    base = f"127.0.0.1:{args.port}"
    case = Case(sockets=len(cookies))
    sockets = [Socket() for _ in cookies]
    counter = Counter()
    starts: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        connections = [
            await stack.enter_async_context(
                websockets.connect(
                    f"ws://{base}/ws/o/{slug}/",
                    additional_headers={"Cookie": cookie, "Origin": f"http://{base}"},
                    open_timeout=30,
                    max_size=2**20,
                )
            )
            for cookie in cookies
        ]
        for ws in connections:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise SystemExit(f"expected hello, got {hello}")
        readers = [
            asyncio.create_task(_reader(ws, socket, counter))
            for ws, socket in zip(connections, sockets, strict=True)
        ]
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        try:
            for index, body in enumerate(bodies):
                started = time.perf_counter_ns()
                await _post(reader, writer, body)
                acked = time.perf_counter_ns()
                if index >= WARMUP:
                    starts.append(started)
                    case.ack_ns.append(acked - started)
                await counter.wait_for((index + 1) * len(cookies), args.frame_timeout)
                await asyncio.sleep(args.spacing)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    case.posts = len(starts)
    return case, starts, sockets


def run_case(
    args: argparse.Namespace,
    organization: Organization,
    channel: Channel,
    cookies: Sequence[str],
    bodies: Sequence[Body],
) -> Case:
    case, starts, sockets = asyncio.run(_run_case(args, organization.slug, cookies, bodies))
    counted = bodies[WARMUP:]
    mids = [body.mids[0] for body in counted]
    ids = dict(
        Message.all_tenants.filter(channel=channel, external_id__in=mids).values_list(
            "external_id", "pk"
        )
    )
    for mid, started in zip(mids, starts, strict=True):
        pk = ids.get(mid)
        for socket in sockets:
            arrived = socket.arrivals.get(pk) if pk is not None else None
            if arrived is None:
                case.missing += 1
            else:
                case.latencies_ns.append(arrived - started)
    # Where the time goes, from the database's stamps (one clock, every process on this host):
    # the webhook event's received_at (server, before its commit), the message's created_at
    # (worker, before its commit and publish), the event's processed_at (worker, after the
    # publish). POSTs are sequential, so events and messages pair up in order.
    received = WebhookEvent.all_tenants.filter(channel=channel).order_by("received_at")
    created = Message.all_tenants.filter(channel=channel).order_by("pk")
    case.hops = [
        ((made - got).total_seconds(), ((done or made) - got).total_seconds())
        for (got, done), made in zip(
            received.values_list("received_at", "processed_at"),
            created.values_list("created_at", flat=True),
            strict=False,
        )
    ]
    return case


# ---- the Redis baseline ---------------------------------------------------------------------


async def _redis_round_trips(url: str, count: int, spacing: float) -> list[int]:
    channel = f"bench-rt-baseline-{secrets.token_hex(4)}"
    subscriber = aioredis.Redis.from_url(url)
    publisher = aioredis.Redis.from_url(url)
    pubsub = subscriber.pubsub()
    await pubsub.subscribe(channel)
    arrivals: dict[int, int] = {}
    got = asyncio.Event()

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                arrivals[int(message["data"])] = time.perf_counter_ns()
                got.set()

    listener = asyncio.create_task(listen())
    samples: list[int] = []
    try:
        for index in range(-WARMUP, count):
            got.clear()
            started = time.perf_counter_ns()
            await publisher.publish(channel, str(index))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(got.wait(), 5)
            if index >= 0 and index in arrivals:
                samples.append(arrivals[index] - started)
            await asyncio.sleep(spacing)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()
    return samples


def redis_baseline(count: int, spacing: float) -> list[int]:
    return asyncio.run(_redis_round_trips(settings.REDIS_URL, count, spacing))


# ---- report ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}" if not math.isnan(value) else "-"


def report(
    args: argparse.Namespace,
    cases: Sequence[Case],
    baseline: list[int],
    loads: tuple[str, str],
) -> None:
    base = harness.Stats.of(baseline)
    print("## Realtime latency: webhook POST → websocket frame\n")
    print(*harness.environment(), sep="\n")
    print(
        f"- server: uvicorn config.asgi --workers {args.server_workers}, DEBUG=0; Celery: 1 "
        f"worker x --concurrency {args.celery_concurrency} (prefork); Redis {settings.REDIS_URL} "
        "(broker, channel layer, event log)"
    )
    print(
        f"- load: {args.messages} single-message POSTs per case (+{WARMUP} warm-up), one at a "
        f"time, {args.spacing * 1000:.0f} ms apart, a new customer each; sockets are supervisors "
        "of the same organization"
    )
    print(f"- load average before / after (1, 5, 15 min): {loads[0]} / {loads[1]}")
    print()
    print(
        "| case | samples | p50 ms | p99 ms | max ms | missing frames | ack p50 ms | ack p99 ms "
        "| received → message row p50 ms | received → processed p50 ms | p50 / Redis "
        "| p99 / Redis |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        lat = harness.Stats.of(case.latencies_ns)
        ack = harness.Stats.of(case.ack_ns)
        to_row = harness.median([hop[0] for hop in case.hops]) * 1000
        to_done = harness.median([hop[1] for hop in case.hops]) * 1000
        print(
            f"| {case.sockets} socket{'s' if case.sockets != 1 else ''} | {lat.count} "
            f"| {_ms(lat.p50)} | {_ms(lat.p99)} | {_ms(lat.worst)} | {case.missing} "
            f"| {_ms(ack.p50)} | {_ms(ack.p99)} | {_ms(to_row)} | {_ms(to_done)} "
            f"| {lat.p50 / base.p50:,.0f}x | {lat.p99 / base.p99:,.0f}x |"
        )
    print(
        f"| Redis PUBLISH → SUBSCRIBE (baseline) | {base.count} | {base.p50:.2f} | {base.p99:.2f} "
        f"| {base.worst:.2f} | - | - | - | - | - | 1x | 1x |"
    )
    print()
    for case in cases:
        if case.sockets != TARGET_SOCKETS:
            continue
        lat = harness.Stats.of(case.latencies_ns)
        met = lat.p50 <= TARGET_P50_MS and lat.p99 <= TARGET_P99_MS and case.missing == 0
        print(
            f"- {case.sockets} sockets: p50 {lat.p50:.1f} ms (target ≤ {TARGET_P50_MS:.0f}), "
            f"p99 {lat.p99:.1f} ms (target ≤ {TARGET_P99_MS:.0f}): "
            f"{'met' if met else 'NOT met'}"
        )


# ---- main -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    harness.require_services()
    harness.migrate()
    harness.vacuum()
    loads_start = harness.load_average()
    counts = sorted({int(n) for n in args.sockets.split(",")})
    organization = harness.bench_organization("rt")
    channel = harness.bench_channel(organization)
    cookies = supervisors(organization, max(counts))
    per_case = WARMUP + args.messages
    pool = build_pool(
        channel,
        count=per_case * len(counts),
        batch=1,
        customers=per_case * len(counts),
        port=args.port,
    )
    fake_port = harness.free_port()
    env = harness.production_env(
        SECRET_KEY=settings.SECRET_KEY,  # the sessions created here must verify there
        REALTIME_PREFIX=f"parley-bench-rt-{secrets.token_hex(4)}",
        **harness.fake_platform_urls(fake_port),
    )
    baseline = redis_baseline(args.messages, args.spacing)
    cases: list[Case] = []
    with harness.Processes() as processes:
        harness.purge_queue()
        processes.start("fake-platforms", harness.fake_platforms_command(fake_port), env)
        processes.start("uvicorn", harness.uvicorn_command(args.port, args.server_workers), env)
        processes.start(
            "bench-rt", harness.celery_command("bench-rt", args.celery_concurrency), env
        )
        harness.wait_for_port(fake_port, processes)
        harness.wait_for_port(args.port, processes)
        harness.wait_for_workers(["bench-rt"], processes)
        for number, count in enumerate(counts):
            bodies = pool[number * per_case : (number + 1) * per_case]
            cases.append(run_case(args, organization, channel, cookies[:count], bodies))
            processes.check()
            print(f"{count} socket(s) done", flush=True)
    baseline += redis_baseline(args.messages, args.spacing)
    # Each case's own rows (the channel is shared, rows accumulate), without its warm-up.
    seen = 0
    for case in cases:
        case.hops, seen = case.hops[seen + WARMUP :], len(case.hops)
    print()
    report(args, cases, baseline, (loads_start, harness.load_average()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200, help="counted POSTs per case")
    parser.add_argument("--sockets", default="1,100", help="socket counts, comma-separated")
    parser.add_argument("--spacing", type=float, default=0.075, help="seconds between POSTs")
    parser.add_argument("--frame-timeout", type=float, default=5.0)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args()
    args.port = args.port or harness.free_port()
    harness.stop_on_sigterm()
    run(args)


if __name__ == "__main__":
    main()
