"""Conversation list API latency on the `bench_generate` data set.

    DEBUG=1 DATABASE_URL=postgres://... python -m bench.conversation_list [--iterations 300]

Picks the bench organization with the most conversations, its busiest agent and its supervisor,
and times four requests through the real API in-process (URL routing, middleware, token
authentication, tenant scope, selector, keyset pagination, serializers, JSON rendering; no
HTTP server and no connection set-up, as with persistent connections):

- mine, first page: an agent's `?assignee=me`
- mine, deep page: the same after following `next` --depth times
- all open, first page: a supervisor's `?status=open`
- all open, deep page: the same after following `next` --depth times

Next to each, the list's own SQL statement (captured from the request) is timed alone through
a cursor, so the ratio shows what the API adds around the query. Prints markdown.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import django_env  # noqa: F401  # sets Django up: must precede the model imports
from inbox.api.tokens import token_for
from inbox.management.commands.bench_generate import SLUG_PATTERN
from inbox.models import Conversation, ConversationStatus, Membership, Message, Organization, Role

TARGET_P99_MS = 50.0
LIST_TABLE = '"inbox_conversation"'


@dataclass(frozen=True)
class Stats:
    p50: float
    p99: float
    mean: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Stats:
        ordered = sorted(samples_ns)
        # Nearest rank: the smallest sample with at least q% of the samples at or below it.
        rank = max(1, math.ceil(0.99 * len(ordered)))
        return cls(
            p50=statistics.median(ordered) / 1e6,
            p99=ordered[rank - 1] / 1e6,
            mean=statistics.fmean(ordered) / 1e6,
        )


@dataclass
class Case:
    """One measured request, with the list query it runs and its samples (nanoseconds)."""

    name: str
    client: Client
    url: str
    rows: int = 0
    queries: int = 0
    list_sql: str = ""
    api_ns: list[int] = field(default_factory=list)
    sql_ns: list[int] = field(default_factory=list)

    def prepare(self) -> None:
        self.rows = len(cast("list[object]", _get(self.client, self.url)["results"]))
        with CaptureQueriesContext(connection) as captured:
            _get(self.client, self.url)
        # Read now: every request through the test client resets the query log.
        queries = [q["sql"] for q in captured.captured_queries]
        self.queries = len(queries)
        self.list_sql = next(sql for sql in queries if LIST_TABLE in sql)

    def api_call(self) -> int:
        started = time.perf_counter_ns()
        response = self.client.get(self.url)
        elapsed = time.perf_counter_ns() - started
        if response.status_code != 200:
            raise SystemExit(f"GET {self.url} answered {response.status_code}")
        return elapsed

    def sql_call(self) -> int:
        started = time.perf_counter_ns()
        with connection.cursor() as cursor:
            cursor.execute(self.list_sql)
            cursor.fetchall()
        return time.perf_counter_ns() - started

    @property
    def api(self) -> Stats:
        return Stats.of(self.api_ns)

    @property
    def sql(self) -> Stats:
        return Stats.of(self.sql_ns)


def _client(membership: Membership) -> Client:
    # 127.0.0.1 is in the default ALLOWED_HOSTS; the test client's "testserver" is not.
    return Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token_for(membership.user)}")


def _relative(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _get(client: Client, url: str) -> dict[str, object]:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:500]!r}")
    body: dict[str, object] = response.json()
    return body


def _deep(client: Client, url: str, depth: int) -> tuple[str, int]:
    """The URL of the page `depth` next-links after `url`, or of the last page if shallower."""
    reached = 0
    for _ in range(depth):
        link = _get(client, url)["next"]
        if not isinstance(link, str):
            break
        url = _relative(link)
        reached += 1
    return url, reached


def _measure(cases: list[Case], *, warmup: int, iterations: int) -> None:
    """Round-robin over the cases, so that noise from neighbours on a shared machine falls on
    every case alike instead of on whichever ran during a burst."""
    for case in cases:
        case.prepare()
    for _ in range(warmup):
        for case in cases:
            case.api_call()
            case.sql_call()
    for _ in range(iterations):
        for case in cases:
            case.api_ns.append(case.api_call())
            case.sql_ns.append(case.sql_call())


def _explain(list_sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {list_sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _memory() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            kilobytes = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return "unknown"
    return f"{kilobytes / 1024 / 1024:.1f} GiB"


def _environment() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {os.cpu_count()} logical cores ({platform.machine()}), RAM {_memory()}",
        f"- database: {connection.vendor} {server[0] if server else '?'}",
        f"- Python {platform.python_version()}, Django {django.get_version()}",
        f"- load average at the end (1, 5, 15 min): {_load()}",
    ]


def _load() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def run(args: argparse.Namespace) -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("Run this benchmark on PostgreSQL (DATABASE_URL); see bench/README.md.")
    # Production runs without DEBUG: no per-query logging in the measured path. Query counts
    # are captured explicitly.
    settings.DEBUG = False
    bench_orgs = Organization.objects.filter(slug__regex=SLUG_PATTERN)
    if args.org:
        bench_orgs = Organization.objects.filter(slug=args.org)
    organization = bench_orgs.annotate(size=Count("conversation")).order_by("-size").first()
    if organization is None:
        raise SystemExit("No bench organization: run `manage.py bench_generate` first.")
    agents = Membership.all_tenants.filter(organization=organization, role=Role.AGENT)
    load = {
        m.user_id: Conversation.all_tenants.filter(
            organization=organization, assignee_id=m.user_id
        ).count()
        for m in agents
    }
    if args.agent:
        agent = agents.select_related("user").get(user__email=args.agent)
    else:
        agent = max(agents.select_related("user"), key=lambda m: load[m.user_id])
    supervisor = (
        Membership.all_tenants.select_related("user")
        .filter(organization=organization, role=Role.SUPERVISOR)
        .first()
    )
    if supervisor is None:
        raise SystemExit(f"{organization.slug} has no supervisor.")
    conversations = Conversation.all_tenants.filter(organization=organization)
    open_count = conversations.filter(status=ConversationStatus.OPEN).count()

    base = f"/api/v1/orgs/{organization.slug}/conversations/"
    mine = f"{base}?assignee=me&page_size={args.page_size}"
    all_open = f"{base}?status=open&page_size={args.page_size}"
    agent_client, supervisor_client = _client(agent), _client(supervisor)
    mine_deep, mine_depth = _deep(agent_client, mine, args.depth)
    open_deep, open_depth = _deep(supervisor_client, all_open, args.depth)

    results = [
        Case("mine, first page", agent_client, mine),
        Case(f"mine, page {mine_depth + 1}", agent_client, mine_deep),
        Case("all open, first page", supervisor_client, all_open),
        Case(f"all open, page {open_depth + 1}", supervisor_client, open_deep),
    ]
    _measure(results, warmup=args.warmup, iterations=args.iterations)

    print("## Conversation list API latency\n")
    print(*_environment(), sep="\n")
    print(
        f"- data set: {Organization.objects.filter(slug__regex=SLUG_PATTERN).count()} bench "
        f"organizations, "
        f"{Conversation.all_tenants.count()} conversations, {Message.all_tenants.count()} messages"
    )
    print(
        f"- measured: {organization.slug} ({conversations.count()} conversations, {open_count} "
        f"open); agent {agent.user.email} ({load[agent.user_id]} assigned); supervisor "
        f"{supervisor.user.email}"
    )
    print(
        f"- {args.iterations} timed requests per case after {args.warmup} warm-up rounds, cases "
        f"interleaved, page_size={args.page_size}; SQL = the list query alone through a cursor\n"
    )
    print(
        "| case | rows | queries/request | API p50 ms | API p99 ms | API mean ms "
        "| SQL p50 ms | SQL p99 ms | API/SQL p50 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.rows} | {r.queries} | {r.api.p50:.2f} | {r.api.p99:.2f} "
            f"| {r.api.mean:.2f} | {r.sql.p50:.2f} | {r.sql.p99:.2f} "
            f"| {r.api.p50 / r.sql.p50:.1f}x |"
        )
    worst = max(r.api.p99 for r in results)
    verdict = "met" if worst < TARGET_P99_MS else "NOT met"
    print(f"\nTarget p99 < {TARGET_P99_MS:.0f} ms: {verdict} (worst p99 {worst:.2f} ms).")
    if args.explain:
        for r in results:
            print(f"\n### EXPLAIN ANALYZE: {r.name}\n\n`GET {r.url[:120]}...`\n")
            print("```")
            print(_explain(r.list_sql))
            print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--depth", type=int, default=20, help="next links followed for deep")
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument("--org", help="bench organization slug (default: the largest)")
    parser.add_argument("--agent", help="the agent's email (default: the busiest in --org)")
    parser.add_argument("--no-explain", dest="explain", action="store_false")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
