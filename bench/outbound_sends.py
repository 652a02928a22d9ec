"""Outbound delivery throughput against the local fake Send API, and no duplicates under failures.

    DEBUG=1 DATABASE_URL=postgres://... REDIS_URL=redis://.../9 CELERY_QUEUE=bench-outbound \\
        python -m bench.outbound_sends [--replies 1000] [--failure-replies 300] [--workers 2]

Runs the fake Graph and X APIs in this process and Celery workers with production settings
pointed at it: by default each worker with 8 threads (`--pool threads`) and a database
connection pool of the same size. Replies are queued through `message_send` (the agent's
path: message and outbox row in one transaction, the delivery task enqueued after commit) on
fresh conversations whose reply window is open, all before the workers start; the workers then
drain the queue.

- clean: every send answered 200. sends/s = replies / (first to last successful send at the
  fake); the wall time from starting the workers is shown too.
- failures: while the workers drain a second set, every --fail-every-th send is answered 500 or
  429 (alternately; the 429s with a short Retry-After). Each message must end `sent` after
  exactly one successful send, counted at the fake by the message id every send carries in its
  metadata (`parley:out:<id>`). Failed attempts wait for the app's retry backoff.

Prints markdown.
"""

from __future__ import annotations

import argparse
import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from bench import harness
from connectors.fake_platform import FakePlatform, RecordedRequest
from inbox.models import Channel, Conversation, Membership, Message, MessageStatus, Role
from inbox.services.messages import message_receive, message_send

TARGET_SENDS = 300.0
METADATA_PREFIX = "parley:out:"


@dataclass
class Recorder:
    """Timestamps every send the fake answers; can make every n-th send fail."""

    fail_every: int = 0
    retry_after: float = 1.0
    platform: FakePlatform | None = None
    sends: list[tuple[float, RecordedRequest]] = field(default_factory=list)
    injected: Counter[int] = field(default_factory=Counter)
    _count: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RecordedRequest) -> None:
        if request.method != "POST":
            return  # profile look-ups
        with self._lock:
            self.sends.append((time.monotonic(), request))
            number = next(self._count)
            if self.platform is None or not self.fail_every or number % self.fail_every:
                return
            # Queued now, answered to one of the next sends (the fake's failures are FIFO).
            if sum(self.injected.values()) % 2 == 0:
                self.platform.fail_next(1, status=500)
                self.injected[500] += 1
            else:
                self.platform.fail_next(1, status=429, retry_after=self.retry_after)
                self.injected[429] += 1

    def reset(self, *, fail_every: int) -> None:
        with self._lock:
            self.sends.clear()
            self.injected.clear()
            self._count = itertools.count(1)
            self.fail_every = fail_every


@dataclass(frozen=True)
class Phase:
    name: str
    replies: int
    queue_seconds: float
    send_window: float  # first to last successful send at the fake
    wall: float  # workers started to every message out of `queued`
    attempts: int
    answered: Counter[int]
    statuses: Counter[str]
    duplicates: int
    missing: int
    injected: Counter[int]
    timed_out: bool

    @property
    def rate(self) -> float:
        return self.replies / self.send_window if self.send_window > 0 else math.nan


def _message_id(request: RecordedRequest) -> int | None:
    body = request.json
    message = body.get("message") if isinstance(body, dict) else None
    metadata = message.get("metadata") if isinstance(message, dict) else None
    if isinstance(metadata, str) and metadata.startswith(METADATA_PREFIX):
        return int(metadata.removeprefix(METADATA_PREFIX))
    return None


def open_conversations(channel: Channel, count: int, tag: str) -> list[Conversation]:
    """`count` customers who each just wrote: their reply windows are open."""
    organization = channel.organization
    now = timezone.now()
    conversations = []
    for n in range(count):
        received = message_receive(
            organization=organization,
            channel=channel,
            platform_user_id=f"{channel.external_id}{tag}{n:06d}",
            external_id=f"m_{channel.external_id}_{tag}_{n}",
            text="Hello, can you help me?",
            sent_at=now - timedelta(seconds=1),
        )
        conversations.append(received.conversation)
    return conversations


def queue_replies(
    conversations: Sequence[Conversation], actor: Membership, tag: str
) -> tuple[list[int], float]:
    started = time.perf_counter()
    ids = []
    for n, conversation in enumerate(conversations):
        message, _ = message_send(
            organization=actor.organization,
            actor=actor,
            conversation=conversation,
            text=f"Thanks for writing! Reply {tag}-{n}: we are looking into it.",
        )
        ids.append(message.pk)
    return ids, time.perf_counter() - started


def wait_sent(ids: Sequence[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Message.all_tenants.filter(pk__in=ids, status=MessageStatus.QUEUED).exists():
            return True
        time.sleep(0.1)
    return False


def run_phase(
    name: str,
    *,
    ids: list[int],
    queue_seconds: float,
    recorder: Recorder,
    args: argparse.Namespace,
    env: dict[str, str],
) -> Phase:
    """Start the workers on the queued deliveries, wait until all are out, stop them."""
    names = [f"bench-outbound-{n}" for n in range(1, args.workers + 1)]
    with harness.Processes() as processes:
        started = time.monotonic()
        for worker in names:
            command = harness.celery_command(worker, args.concurrency, args.pool)
            processes.start(worker, command, env)
        finished = wait_sent(ids, args.timeout)
        wall = time.monotonic() - started
        processes.check()
    sends = list(recorder.sends)
    answered = Counter(request.status for _, request in sends)
    ok = [(at, request) for at, request in sends if request.status == 200]
    window = ok[-1][0] - ok[0][0] if len(ok) > 1 else math.nan
    per_message = Counter(_message_id(request) for _, request in ok)
    wanted = set(ids)
    statuses = Counter(
        Message.all_tenants.filter(pk__in=ids).values_list("status", flat=True).iterator()
    )
    return Phase(
        name=name,
        replies=len(ids),
        queue_seconds=queue_seconds,
        send_window=window,
        wall=wall,
        attempts=len(sends),
        answered=answered,
        statuses=statuses,
        duplicates=sum(n - 1 for mid, n in per_message.items() if mid in wanted and n > 1),
        missing=len(wanted - per_message.keys()),
        injected=Counter(recorder.injected),
        timed_out=not finished,
    )


def report(phases: Sequence[Phase], args: argparse.Namespace, started_load: str) -> None:
    print("## Outbound sends\n")
    print(*harness.environment(), sep="\n")
    print(
        f"- Celery: {args.workers} worker process(es) x --concurrency {args.concurrency} "
        f"({args.pool}), DATABASE_POOL_SIZE={worker_db_pool(args)}, "
        f"DATABASE_CONN_MAX_AGE={args.worker_conn_max_age}; the fake Send API in "
        "the benchmark process (a thread per connection)"
    )
    print(
        f"- failures: every {args.fail_every}th send answered 500 or 429 in turn (Retry-After "
        f"{args.retry_after:g} s)"
    )
    print(
        f"- load average before / after (1, 5, 15 min): {started_load} / {harness.load_average()}\n"
    )
    print(
        "| phase | replies | queued/s | sends/s | send window s | wall s | attempts "
        "| answers | injected | final statuses | duplicates | never sent |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|")
    for p in phases:
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(p.answered.items()))
        injected = ", ".join(f"{status}: {n}" for status, n in sorted(p.injected.items())) or "-"
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(p.statuses.items()))
        note = " (timed out)" if p.timed_out else ""
        print(
            f"| {p.name}{note} | {p.replies} | {p.replies / p.queue_seconds:,.0f} "
            f"| {p.rate:,.0f} | {p.send_window:.1f} | {p.wall:.1f} | {p.attempts} | {answers} "
            f"| {injected} | {statuses} | {p.duplicates} | {p.missing} |"
        )
    print()
    clean = phases[0]
    verdict = "met" if clean.rate >= TARGET_SENDS else "NOT met"
    print(
        f"- sends/s with {args.workers} worker(s): {clean.rate:,.0f}: {verdict} "
        f"(>= {TARGET_SENDS:.0f}/s)"
    )
    duplicates = sum(p.duplicates for p in phases)
    replies = sum(p.replies for p in phases)
    not_sent = sum(p.replies - p.statuses.get(MessageStatus.SENT, 0) for p in phases)
    print(
        f"- duplicates: {duplicates}/{replies}; messages not `sent` at the end: {not_sent}; "
        f"never sent: {sum(p.missing for p in phases)}"
    )


def worker_db_pool(args: argparse.Namespace) -> int:
    """Connections in each worker's pool: by default one per thread (none under prefork, where
    Celery would discard the pool after every task)."""
    if args.worker_db_pool >= 0:
        return int(args.worker_db_pool)
    return 0 if args.pool == "prefork" else int(args.concurrency)


def run(args: argparse.Namespace) -> None:
    harness.require_services()
    harness.migrate()
    started_load = harness.load_average()
    recorder = Recorder(retry_after=args.retry_after)
    platform = FakePlatform(on_request=recorder)
    platform.start()
    recorder.platform = platform
    try:
        env = harness.production_env(
            META_GRAPH_URL=platform.graph_url,
            TWITTER_API_URL=platform.url,
            DATABASE_CONN_MAX_AGE=str(args.worker_conn_max_age),
            DATABASE_POOL_SIZE=str(worker_db_pool(args)),
        )
        organization = harness.bench_organization("outbound")
        actor = Membership.all_tenants.select_related("organization", "user").get(
            organization=organization, role=Role.ADMIN
        )
        channel = harness.bench_channel(organization)
        channel = Channel.all_tenants.select_related("organization").get(pk=channel.pk)
        clean = open_conversations(channel, args.replies, "c")
        failing = open_conversations(channel, args.failure_replies, "f")
        phases = []
        for name, conversations, fail_every in (
            ("clean", clean, 0),
            ("500s and 429s", failing, args.fail_every),
        ):
            harness.purge_queue()  # the new customers' profile look-ups: not measured here
            recorder.reset(fail_every=0)
            ids, queue_seconds = queue_replies(conversations, actor, name[:1])
            recorder.reset(fail_every=fail_every)
            phases.append(
                run_phase(
                    name,
                    ids=ids,
                    queue_seconds=queue_seconds,
                    recorder=recorder,
                    args=args,
                    env=env,
                )
            )
            print(f"phase {name} done", flush=True)
    finally:
        platform.stop()
    print()
    report(phases, args, started_load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replies", type=int, default=1000, help="replies in the clean phase")
    parser.add_argument("--failure-replies", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--pool",
        choices=("threads", "prefork", "solo"),
        default="threads",
        help="Celery pool of each worker process (sends wait on the network: threads)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="per worker process")
    parser.add_argument("--fail-every", type=int, default=10)
    parser.add_argument("--retry-after", type=float, default=1.0, help="seconds, on the 429s")
    parser.add_argument("--worker-conn-max-age", type=int, default=0)
    parser.add_argument(
        "--worker-db-pool",
        type=int,
        default=-1,
        help="DATABASE_POOL_SIZE of each worker (default: --concurrency, 0 under prefork)",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    harness.stop_on_sigterm()
    run(parser.parse_args())


if __name__ == "__main__":
    main()
