"""Build the synthetic benchmark data set: `bench-<n>` organizations full of conversations.

Cross-tenant on purpose (it writes every organization at once), so it uses the `all_tenants`
managers and never the services: one row at a time through the services would take hours for
a million messages. On PostgreSQL rows are streamed with COPY (ids of parent rows reserved from
their sequences first); on other databases, meant for small sizes and tests, with bulk_create.

Organization sizes are skewed (a few large tenants, many small ones) and so is the work among
agents, so that the benchmark can pick a realistic busy organization and a busy agent.
Every database constraint holds by construction: one unresolved conversation per (customer,
channel), per-organization sequential numbers, platform message ids unique per channel.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from psycopg import sql

from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Membership,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Organization,
    Priority,
    Role,
    SLAPolicy,
    User,
    Visibility,
)
from inbox.services.sla_settings import (
    DEFAULT_FIRST_RESPONSE_MINUTES,
    DEFAULT_NEXT_RESPONSE_MINUTES,
    DEFAULT_POLICY_NAME,
    DEFAULT_RESOLUTION_MINUTES,
)
from inbox.tenancy import tenant_models

SLUG_PATTERN = r"^bench-[0-9]+$"
USER_DOMAIN = "bench.example.com"
# Every generated user signs in with this password (a development data set, never production).
PASSWORD = "bench-password"  # noqa: S105

HISTORY = timedelta(days=90)
# Organization n gets a share proportional to 1 / n**SKEW of the conversations.
DEFAULT_SKEW = 0.8
CONVERSATIONS_PER_AGENT = 1500
MIN_AGENTS, MAX_AGENTS = 3, 10
CUSTOMERS_PER_CONVERSATION = 0.6

# Plain strings, not the enum members: COPY sends values without Django's field conversion.
OPEN, PENDING, SNOOZED, RESOLVED = (
    ConversationStatus.OPEN.value,
    ConversationStatus.PENDING.value,
    ConversationStatus.SNOOZED.value,
    ConversationStatus.RESOLVED.value,
)
PUBLIC, PRIVATE = Visibility.PUBLIC.value, Visibility.PRIVATE.value
STATUSES = [OPEN, PENDING, SNOOZED, RESOLVED]
STATUS_WEIGHTS = [0.40, 0.10, 0.05, 0.45]
# Share of conversations with an assignee, by status (the rest wait in the unassigned queue).
ASSIGNED_SHARE = {OPEN: 0.65, PENDING: 0.90, SNOOZED: 0.90, RESOLVED: 0.95}
PRIORITIES = [p.value for p in (Priority.NORMAL, Priority.HIGH, Priority.LOW, Priority.URGENT)]
PRIORITY_WEIGHTS = [0.80, 0.12, 0.05, 0.03]
OUTBOUND_STATUSES = [
    s.value for s in (MessageStatus.READ, MessageStatus.DELIVERED, MessageStatus.SENT)
]
OUTBOUND_STATUS_WEIGHTS = [0.55, 0.35, 0.10]
INBOUND, OUTBOUND = MessageDirection.INBOUND.value, MessageDirection.OUTBOUND.value
MESSAGE, NOTE = MessageKind.MESSAGE.value, MessageKind.NOTE.value
RECEIVED, SENT = MessageStatus.RECEIVED.value, MessageStatus.SENT.value
# Customers: share on Messenger only, on X only; the rest write on both.
MESSENGER_ONLY, X_ONLY = 0.5, 0.3
# Share of X conversations that are public mentions rather than DMs.
X_PUBLIC = 0.2
# After the opening exchange: share of inbound messages and of internal notes.
INBOUND_SHARE, NOTE_SHARE = 0.55, 0.05

# fmt: off
FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemal",
    "Lea", "Mateo", "Nora", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Almeida", "Brown", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Ueda", "Varga", "Weber", "Yilmaz", "Zhang",
)
# fmt: on
INBOUND_TEXTS = (
    "Hi, is breakfast included in my booking?",
    "My order hasn't arrived yet, can you check?",
    "Can I change the date of my reservation?",
    "The app keeps logging me out.",
    "Thanks, that worked!",
    "Do you ship to Canada?",
    "I was charged twice for the same order.",
    "What are your opening hours on Sunday?",
    "Still waiting for an answer here...",
    "Can I get a refund for the cancelled flight?",
    "Where do I find my loyalty points?",
    "Is the offer from your post still valid?",
)
OUTBOUND_TEXTS = (
    "Hello! Let me check that for you.",
    "Could you send me your booking reference?",
    "Thanks for your patience, it is on its way.",
    "I have updated your reservation.",
    "Sorry about that, the refund is processed.",
    "Anything else I can help you with?",
    "You can find it in the app under Profile > Points.",
    "Our team is looking into it and will get back to you today.",
)
NOTE_TEXTS = (
    "Escalated to billing.",
    "VIP customer, handle with care.",
    "Waiting for the warehouse to confirm.",
    "Duplicate of an earlier thread.",
)


@dataclass
class _Org:
    pk: int
    slug: str
    conversations: int
    channel_ids: list[int] = field(default_factory=list)
    # Users who take conversations (agents and the supervisor), busiest first.
    assignable: list[int] = field(default_factory=list)
    # (customer id, channel id) pairs: each customer's identities.
    pairs: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Plan:
    """One conversation before it is written, with the skeleton of its messages."""

    organization_id: int
    channel_id: int
    assignee_id: int | None
    visibility: str
    fallback_author_id: int
    # Seconds since the start of the history window, ascending; kinds: "i"/"o" message in/out,
    # "n" internal note. The last one is never a note (notes do not move the conversation).
    times: list[float]
    kinds: str
    last_text: str


def _shares(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` in proportion to `weights` exactly (largest remainder)."""
    scale = sum(weights)
    raw = [total * w / scale for w in weights]
    counts = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _column(model_field: models.Field[Any, Any]) -> str:
    if model_field.column is None:
        raise CommandError(f"{model_field} has no column")
    return model_field.column


class _Writer:
    """Inserts many rows of one model: COPY on PostgreSQL, bulk_create elsewhere.

    `fields` are attnames (`organization_id`); every other concrete field gets its model
    default, computed once per call, because COPY bypasses Django's defaults.
    """

    def __init__(self, using: str, batch_size: int) -> None:
        self.connection: BaseDatabaseWrapper = connections[using]
        self.batch_size = batch_size
        self.copy = self.connection.vendor == "postgresql"

    def insert(
        self,
        manager: models.Manager[Any],
        fields: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        *,
        with_ids: bool = False,
    ) -> list[int]:
        """Insert `rows`; with `with_ids`, return their primary keys in order (rows must then
        be a list). Without it, return an empty list and stream the rows."""
        model = manager.model
        if not self.copy:
            pks: list[int] = []
            for chunk in _chunks(rows, self.batch_size):
                objs = manager.bulk_create(
                    [model(**dict(zip(fields, row, strict=True))) for row in chunk]
                )
                if with_ids:
                    pks.extend(obj.pk for obj in objs)
            return pks
        if with_ids:
            if not isinstance(rows, list):
                raise TypeError("with_ids needs the rows as a list")
            pks = self._reserve_ids(model, len(rows))
            self._copy(
                model, ["id", *fields], ((pk, *row) for pk, row in zip(pks, rows, strict=True))
            )
            return pks
        self._copy(model, fields, rows)
        return []

    def _reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [model._meta.db_table, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def _defaults(self, model: type[models.Model], given: Sequence[str]) -> list[tuple[str, Any]]:
        now = timezone.now()
        defaults: list[tuple[str, Any]] = []
        for model_field in model._meta.concrete_fields:
            if model_field.primary_key or model_field.attname in given:
                continue
            value = model_field.get_default()
            if value is None and (
                getattr(model_field, "auto_now", False)
                or getattr(model_field, "auto_now_add", False)
            ):
                value = now
            if value is None and not model_field.null:
                raise CommandError(f"{model.__name__}.{model_field.name} needs a generated value")
            defaults.append(
                (_column(model_field), model_field.get_db_prep_save(value, self.connection))
            )
        return defaults

    def _copy(
        self, model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        defaults = self._defaults(model, fields)
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        columns = [_column(by_attname[name]) for name in fields]
        columns += [column for column, _ in defaults]
        constant = tuple(value for _, value in defaults)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(model._meta.db_table),
            sql.SQL(", ").join([sql.Identifier(column) for column in columns]),
        )
        with self.connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row + constant)


class Command(BaseCommand):
    help = (
        "Generate the benchmark data set: bench-<n> organizations with agents, channels, "
        "customers, conversations and messages (development databases only)."
    )

    rng: random.Random
    writer: _Writer
    now: datetime
    start: datetime

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orgs", type=int, default=50)
        parser.add_argument("--conversations", type=int, default=100_000)
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--skew",
            type=float,
            default=DEFAULT_SKEW,
            help="Organization n gets a share of 1/n**skew of the conversations (0: equal).",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete existing bench-* organizations first."
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="bulk_create only")

    def handle(self, *args: Any, **options: Any) -> None:
        orgs: int = options["orgs"]
        conversations: int = options["conversations"]
        messages: int = options["messages"]
        if orgs < 1 or conversations < 1:
            raise CommandError("--orgs and --conversations must be at least 1.")
        if messages < conversations:
            raise CommandError("--messages must be at least --conversations (one per thread).")
        using = DEFAULT_DB_ALIAS
        self.rng = random.Random(options["seed"])
        self.writer = _Writer(using, options["batch_size"])
        self.now = timezone.now()
        self.start = self.now - HISTORY
        started = time.perf_counter()

        existing = Organization.objects.using(using).filter(slug__regex=SLUG_PATTERN)
        if existing.exists():
            if not options["reset"]:
                raise CommandError(
                    "bench-* organizations exist already; pass --reset to replace them."
                )
            with self._step("delete the previous bench organizations"), transaction.atomic(using):
                self._delete_bench(using, list(existing.values_list("pk", flat=True)))

        sizes = _shares(conversations, [1 / n ** options["skew"] for n in range(1, orgs + 1)])
        with transaction.atomic(using):
            with self._step(f"{orgs} organizations, members and channels"):
                org_rows = self._organizations(sizes)
            with self._step("customers and identities"):
                customer_count, identity_count = self._customers(org_rows)
            with self._step(f"{conversations} conversations"):
                plans = self._conversations(org_rows, messages)
            with self._step(f"{messages} messages"):
                self._messages(plans)
            commit_started = time.perf_counter()
        # Django's foreign keys are deferred: PostgreSQL checks them all here.
        self.stdout.write(f"commit: {time.perf_counter() - commit_started:.1f} s")
        if self.writer.copy:
            with self._step("VACUUM ANALYZE"):
                self._analyze(using)
        self.stdout.write(
            f"{orgs} organizations, {customer_count} customers, {identity_count} identities, "
            f"{conversations} conversations, {messages} messages "
            f"in {time.perf_counter() - started:.1f} s; every bench user's password: {PASSWORD}"
        )

    # ---- steps ---------------------------------------------------------------------------

    @contextmanager
    def _step(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.stdout.write(f"{label}: {time.perf_counter() - started:.1f} s")

    def _delete_bench(self, using: str, org_ids: list[int]) -> None:
        """Remove the bench organizations' rows: one DELETE per tenant table instead of
        Django's collector loading a million objects. Django's foreign keys are deferred, so
        the order of the tables does not matter within the transaction."""
        for model in tenant_models():
            # The base manager is unscoped, like all_tenants, and every model has it.
            rows = model._base_manager.using(using).filter(organization_id__in=org_ids)
            rows._raw_delete(using)
        # The few users go through the collector (tokens, group links, SET_NULL references).
        User.objects.using(using).filter(email__endswith=f"@{USER_DOMAIN}").exclude(
            memberships__isnull=False
        ).delete()
        Organization.objects.using(using).filter(pk__in=org_ids).delete()

    def _organizations(self, sizes: list[int]) -> list[_Org]:
        organizations = Organization.objects.bulk_create(
            [
                Organization(
                    slug=f"bench-{n}",
                    name=f"Bench {n}",
                    last_conversation_number=size,
                    created_at=self.start - timedelta(days=30),
                )
                for n, size in enumerate(sizes, start=1)
            ]
        )
        # The default SLA policy organization_create gives every tenant. The generated
        # conversations carry no clocks: they are history, not live deadlines.
        self._bulk(
            SLAPolicy.all_tenants,
            [
                SLAPolicy(
                    organization=org,
                    name=DEFAULT_POLICY_NAME,
                    is_default=True,
                    first_response_minutes=DEFAULT_FIRST_RESPONSE_MINUTES,
                    next_response_minutes=DEFAULT_NEXT_RESPONSE_MINUTES,
                    resolution_minutes=DEFAULT_RESOLUTION_MINUTES,
                )
                for org in organizations
            ],
        )
        password = make_password(PASSWORD)  # hashed once: the hasher is slow on purpose
        users: list[User] = []
        roles: list[tuple[int, str]] = []
        for org, size in zip(organizations, sizes, strict=True):
            agents = min(MAX_AGENTS, max(MIN_AGENTS, round(size / CONVERSATIONS_PER_AGENT)))
            staff = [(Role.ADMIN, 1), (Role.SUPERVISOR, 1), (Role.AGENT, agents)]
            for role, count in staff:
                for k in range(1, count + 1):
                    users.append(
                        User(
                            email=f"{org.slug}.{role.value}{k}@{USER_DOMAIN}",
                            name=f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}",
                            password=password,
                        )
                    )
                    roles.append((org.pk, role))
        users = self._bulk(User.objects, users)
        memberships = [
            Membership(organization_id=org_id, user_id=user.pk, role=role)
            for user, (org_id, role) in zip(users, roles, strict=True)
        ]
        self._bulk(Membership.all_tenants, memberships)
        channels = self._bulk(
            Channel.all_tenants,
            [
                Channel(
                    organization=org,
                    kind=kind,
                    name=f"{org.name} {label}",
                    external_id=f"{org.slug}-{kind}",
                    credentials={key: f"{org.slug}-token"},
                )
                for org in organizations
                for kind, label, key in (
                    (ChannelKind.MESSENGER, "page", "page_access_token"),
                    (ChannelKind.TWITTER, "on X", "access_token"),
                )
            ],
        )
        result = {
            org.pk: _Org(pk=org.pk, slug=org.slug, conversations=size)
            for org, size in zip(organizations, sizes, strict=True)
        }
        for channel in channels:
            result[channel.organization_id].channel_ids.append(channel.pk)
        for membership in memberships:
            if membership.role != Role.ADMIN:
                result[membership.organization_id].assignable.append(membership.user_id)
        for org_data in result.values():
            # The first agent is the busiest, the supervisor takes a share too.
            self.rng.shuffle(org_data.assignable)
        return list(result.values())

    def _bulk(self, manager: models.Manager[Any], objs: list[Any]) -> list[Any]:
        created: list[Any] = manager.bulk_create(objs, batch_size=self.writer.batch_size)
        return created

    def _customers(self, orgs: list[_Org]) -> tuple[int, int]:
        customer_rows: list[tuple[Any, ...]] = []
        owners: list[_Org] = []
        for org in orgs:
            for _ in range(math.ceil(org.conversations * CUSTOMERS_PER_CONVERSATION) + 1):
                created = self.start - timedelta(days=self.rng.uniform(1, 365))
                name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
                customer_rows.append((org.pk, name, created, created))
                owners.append(org)
        customer_ids = self.writer.insert(
            Customer.all_tenants,
            ["organization_id", "display_name", "created_at", "updated_at"],
            customer_rows,
            with_ids=True,
        )
        identity_rows: list[tuple[Any, ...]] = []
        for customer_id, org, (_, name, created, _) in zip(
            customer_ids, owners, customer_rows, strict=True
        ):
            messenger, twitter = org.channel_ids
            draw = self.rng.random()
            if draw < MESSENGER_ONLY:
                channels = [messenger]
            elif draw < MESSENGER_ONLY + X_ONLY:
                channels = [twitter]
            else:
                channels = [messenger, twitter]
            for channel_id in channels:
                is_x = channel_id == twitter
                identity_rows.append(
                    (
                        org.pk,
                        customer_id,
                        channel_id,
                        str(customer_id) if is_x else str(10**15 + customer_id),
                        name.replace(" ", "_").lower() if is_x else "",
                        created,
                    )
                )
                org.pairs.append((customer_id, channel_id))
        self.writer.insert(
            CustomerIdentity.all_tenants,
            [
                "organization_id",
                "customer_id",
                "channel_id",
                "platform_user_id",
                "screen_name",
                "created_at",
            ],
            identity_rows,
        )
        return len(customer_rows), len(identity_rows)

    def _conversations(self, orgs: list[_Org], messages: int) -> list[tuple[int, _Plan]]:
        total = sum(org.conversations for org in orgs)
        # One message each, the rest spread at random (about Poisson around the mean).
        counts = [1] * total
        for i in self.rng.choices(range(total), k=messages - total):
            counts[i] += 1
        rows: list[tuple[Any, ...]] = []
        plans: list[_Plan] = []
        for org in orgs:
            free_pairs = org.pairs.copy()
            self.rng.shuffle(free_pairs)
            agent_weights = [1 / math.sqrt(k) for k in range(1, len(org.assignable) + 1)]
            drafts = [
                self._conversation(org, free_pairs, agent_weights, counts[len(plans) + i])
                for i in range(org.conversations)
            ]
            # Numbers follow creation order, as they would in production.
            drafts.sort(key=lambda draft: draft[1])
            for number, (plan, _, row) in enumerate(drafts, start=1):
                rows.append((org.pk, number, *row))
                plans.append(plan)
        ids = self.writer.insert(
            Conversation.all_tenants,
            [
                "organization_id",
                "number",
                "customer_id",
                "channel_id",
                "status",
                "snoozed_until",
                "assignee_id",
                "priority",
                "default_visibility",
                "last_message_at",
                "last_message_preview",
                "last_inbound_at",
                "waiting_since",
                "first_response_at",
                "resolved_at",
                "created_at",
                "updated_at",
            ],
            rows,
            with_ids=True,
        )
        return list(zip(ids, plans, strict=True))

    def _conversation(
        self,
        org: _Org,
        free_pairs: list[tuple[int, int]],
        agent_weights: list[float],
        message_count: int,
    ) -> tuple[_Plan, float, tuple[Any, ...]]:
        """A conversation's plan, its creation time (seconds into the history) and its row
        from `customer_id` on."""
        rng = self.rng
        status = rng.choices(STATUSES, weights=STATUS_WEIGHTS)[0]
        if status != RESOLVED and free_pairs:
            customer_id, channel_id = free_pairs.pop()
        else:
            # Only resolved conversations may share a (customer, channel): history cycles.
            status = RESOLVED
            customer_id, channel_id = rng.choice(org.pairs)
        assignee_id = (
            rng.choices(org.assignable, weights=agent_weights)[0]
            if rng.random() < ASSIGNED_SHARE[status]
            else None
        )
        is_x = channel_id == org.channel_ids[1]
        visibility = PUBLIC if is_x and rng.random() < X_PUBLIC else PRIVATE

        span = HISTORY.total_seconds()
        created = rng.uniform(0, span)
        # Threads last hours (mean 6 h), a few up to a week.
        last = min(span, created + min(rng.expovariate(1 / 21600), 7 * 86400))
        times, kinds = self._skeleton(created, last, message_count)
        last = times[-1]  # a single message is the whole thread
        last_text = rng.choice(INBOUND_TEXTS if kinds[-1] == "i" else OUTBOUND_TEXTS)

        def at(seconds: float) -> datetime:
            return self.start + timedelta(seconds=seconds)

        inbound = [t for t, k in zip(times, kinds, strict=True) if k == "i"]
        outbound = [t for t, k in zip(times, kinds, strict=True) if k == "o"]
        waiting_since = None
        if status != RESOLVED and kinds[-1] == "i":
            waiting_since = at(next(t for t in inbound if not outbound or t > outbound[-1]))
        snoozed_until = (
            self.now + timedelta(hours=rng.uniform(1, 168)) if status == SNOOZED else None
        )
        resolved_at = at(min(span, last + rng.uniform(60, 86400))) if status == RESOLVED else None
        plan = _Plan(
            organization_id=org.pk,
            channel_id=channel_id,
            assignee_id=assignee_id,
            visibility=visibility,
            fallback_author_id=org.assignable[0],
            times=times,
            kinds=kinds,
            last_text=last_text,
        )
        row = (
            customer_id,
            channel_id,
            status,
            snoozed_until,
            assignee_id,
            rng.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0],
            visibility,
            at(last),
            last_text,
            at(inbound[-1]),
            waiting_since,
            at(outbound[0]) if outbound else None,
            resolved_at,
            at(created),
            at(last),
        )
        return plan, created, row

    def _skeleton(self, created: float, last: float, count: int) -> tuple[list[float], str]:
        """Message times and kinds: the customer opens, an agent answers, then a mix."""
        rng = self.rng
        if count == 1:
            return [created], "i"
        middle = sorted(rng.uniform(created, last) for _ in range(count - 2))
        kinds = ["i", "o"]
        for _ in range(count - 2):
            draw = rng.random()
            kinds.append(
                "i" if draw < INBOUND_SHARE else "n" if draw < INBOUND_SHARE + NOTE_SHARE else "o"
            )
        if kinds[-1] == "n":
            kinds[-1] = "o"
        return [created, *middle, last], "".join(kinds)

    def _messages(self, plans: list[tuple[int, _Plan]]) -> None:
        rng = self.rng
        start = self.start

        def rows() -> Iterator[tuple[Any, ...]]:
            for conversation_id, plan in plans:
                last_index = len(plan.kinds) - 1
                author = plan.assignee_id or plan.fallback_author_id
                for j, (seconds, kind) in enumerate(zip(plan.times, plan.kinds, strict=True)):
                    sent_at = start + timedelta(seconds=seconds)
                    if kind == "i":
                        text = plan.last_text if j == last_index else rng.choice(INBOUND_TEXTS)
                        yield (
                            plan.organization_id,
                            conversation_id,
                            plan.channel_id,
                            INBOUND,
                            MESSAGE,
                            plan.visibility,
                            text,
                            f"bench.{conversation_id}.{j}",
                            RECEIVED,
                            None,
                            sent_at,
                            sent_at,
                        )
                    elif kind == "o":
                        text = plan.last_text if j == last_index else rng.choice(OUTBOUND_TEXTS)
                        yield (
                            plan.organization_id,
                            conversation_id,
                            plan.channel_id,
                            OUTBOUND,
                            MESSAGE,
                            plan.visibility,
                            text,
                            f"bench.{conversation_id}.{j}",
                            rng.choices(OUTBOUND_STATUSES, weights=OUTBOUND_STATUS_WEIGHTS)[0],
                            author,
                            sent_at,
                            sent_at,
                        )
                    else:
                        yield (
                            plan.organization_id,
                            conversation_id,
                            plan.channel_id,
                            OUTBOUND,
                            NOTE,
                            PRIVATE,
                            rng.choice(NOTE_TEXTS),
                            None,
                            SENT,
                            author,
                            sent_at,
                            sent_at,
                        )

        self.writer.insert(
            Message.all_tenants,
            [
                "organization_id",
                "conversation_id",
                "channel_id",
                "direction",
                "kind",
                "visibility",
                "text",
                "external_id",
                "status",
                "author_id",
                "sent_at",
                "created_at",
            ],
            rows(),
        )

    def _analyze(self, using: str) -> None:
        tables = [
            model._meta.db_table
            for model in (
                Organization,
                User,
                Membership,
                Channel,
                Customer,
                CustomerIdentity,
                Conversation,
                Message,
            )
        ]
        connection = connections[using]
        # VACUUM cannot run inside a transaction (tests wrap everything in one).
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"{command} {connection.ops.quote_name(table)}")
