"""Conversation lists and lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from inbox.access import visible_conversations
from inbox.models import (
    Conversation,
    ConversationRead,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Membership,
    Message,
    MessageDirection,
    MessageKind,
    Organization,
    SLAClock,
    SLAClockState,
)
from inbox.tenancy import scoped

ConversationOrder = Literal["recent", "waiting", "sla_due"]
SLAFilter = Literal["", "breached", "warning", "due_within"]

# Message text search on PostgreSQL: language-neutral, so that every customer's words match.
SEARCH_CONFIG = "simple"


@dataclass(frozen=True)
class ConversationFilters:
    """Validated list filters. `assignee` is "me", "unassigned", a user id, or None (any).

    `order` is "recent" (newest activity first, the API's keyset order), "waiting" (who has
    waited longest first, then newest activity: the inbox's order) or "sla_due" (the next SLA
    deadline first, overdue ones at the top, conversations without one last).

    `sla` keeps conversations whose current SLA cycle is "breached" or in "warning" (their
    most urgent clock), or "due_within" `sla_minutes` from now (a deadline not yet breached).
    """

    statuses: tuple[str, ...] = ()
    assignee: str | int | None = None
    channel_id: int | None = None
    customer_id: int | None = None
    q: str = ""
    order: ConversationOrder = "recent"
    sla: SLAFilter = ""
    sla_minutes: int = 0


def sla_condition(kind: SLAFilter, minutes: int, *, now: datetime | None = None) -> Q:
    """The `sla` filter on conversations, through their SLA summary (indexed)."""
    if kind == "due_within":
        horizon = (now or timezone.now()) + timedelta(minutes=minutes)
        return Q(sla_due_at__lte=horizon) & ~Q(sla_state=SLAClockState.BREACHED)
    if kind in ("breached", "warning"):
        return Q(sla_state=kind)
    return Q()


def current_clocks_prefetch(organization: Organization) -> Prefetch[Any]:
    """The clocks of each conversation's current SLA cycle, as `current_sla_clocks`."""
    clocks = SLAClock.objects.filter(
        organization=organization, cycle=F("conversation__sla_cycle")
    ).order_by("id")
    return Prefetch("sla_clocks", queryset=clocks, to_attr="current_sla_clocks")


@scoped
def current_sla_clocks(*, organization: Organization, conversation: Conversation) -> list[SLAClock]:
    """The clocks of the conversation's current SLA cycle (also set on it as
    `current_sla_clocks`, as the list prefetch does)."""
    clocks = list(
        SLAClock.objects.filter(
            organization=organization, conversation=conversation, cycle=conversation.sla_cycle
        ).order_by("id")
        if conversation.sla_cycle
        else []
    )
    conversation.current_sla_clocks = clocks  # type: ignore[attr-defined]  # like the prefetch
    return clocks


def _text_matches(organization: Organization, q: str) -> QuerySet[Message]:
    """Messages (and notes) whose text matches `q`, correlated to the outer conversation.

    PostgreSQL: full-text search (served by the message_text_search GIN index). Elsewhere
    (the embedded SQLite): a case-insensitive substring match.
    """
    messages = Message.objects.filter(organization=organization, conversation=OuterRef("pk"))
    if connection.vendor == "postgresql":
        return messages.annotate(
            search=SearchVector("text", config=SEARCH_CONFIG),
        ).filter(search=SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch"))
    return messages.filter(text__icontains=q)


@scoped
def conversation_list(
    *, organization: Organization, viewer: Membership, filters: ConversationFilters
) -> QuerySet[Conversation]:
    """Conversations the viewer may list, in the filters' order, with what a row shows.

    Agents list their own and unassigned conversations; supervisors and admins list everyone's.
    The "recent" order (-last_message_at, -id) is served by the organization-leading indexes.
    Search (`q`) matches customer names, their screen names and message text.
    """
    # A row shows the channel's kind and name, never its credentials: skip decrypting them
    # once per listed conversation.
    queryset = (
        Conversation.objects.filter(organization=organization)
        .select_related("customer", "channel")
        .defer("channel__credentials")
        .prefetch_related(current_clocks_prefetch(organization))
    )
    if filters.statuses:
        queryset = queryset.filter(status__in=filters.statuses)
    if filters.assignee == "me":
        queryset = queryset.filter(assignee_id=viewer.user_id)
    elif filters.assignee == "unassigned":
        queryset = queryset.filter(assignee__isnull=True)
    elif isinstance(filters.assignee, int):
        queryset = queryset.filter(assignee_id=filters.assignee)
    if filters.assignee not in ("me", "unassigned"):
        queryset = queryset.filter(visible_conversations(viewer))
    if filters.channel_id is not None:
        queryset = queryset.filter(channel_id=filters.channel_id)
    if filters.customer_id is not None:
        queryset = queryset.filter(customer_id=filters.customer_id)
    if filters.q:
        screen_names = CustomerIdentity.objects.filter(
            organization=organization,
            customer_id=OuterRef("customer_id"),
            screen_name__icontains=filters.q,
        )
        queryset = queryset.filter(
            Q(customer__display_name__icontains=filters.q)
            | Exists(screen_names)
            | Exists(_text_matches(organization, filters.q))
        )
    if filters.sla:
        queryset = queryset.filter(sla_condition(filters.sla, filters.sla_minutes))
    if filters.order == "sla_due":
        return queryset.order_by(F("sla_due_at").asc(nulls_last=True), F("id").asc())
    if filters.order == "waiting":
        return queryset.order_by(
            F("waiting_since").asc(nulls_last=True), F("last_message_at").desc(), F("id").desc()
        )
    return queryset.order_by("-last_message_at", "-id")


@scoped
def conversation_rows(
    *, organization: Organization, viewer: Membership, filters: ConversationFilters
) -> QuerySet[Conversation]:
    """The inbox list: conversation_list plus the assignee and `unread_count`, the customer's
    messages after the viewer's read marker (one query, whatever the number of rows)."""
    read_marker = ConversationRead.objects.filter(
        organization=organization, user_id=viewer.user_id, conversation=OuterRef("pk")
    ).values("last_read_message_id")[:1]
    unread = (
        Message.objects.filter(
            organization=organization,
            conversation=OuterRef("pk"),
            direction=MessageDirection.INBOUND,
            kind=MessageKind.MESSAGE,
            id__gt=OuterRef("read_up_to"),
        )
        .order_by()
        .values("conversation")
        .annotate(count=Count("id"))
        .values("count")
    )
    return (
        conversation_list(organization=organization, viewer=viewer, filters=filters)
        .select_related("assignee")
        .annotate(read_up_to=Coalesce(Subquery(read_marker), Value(0)))
        .annotate(unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
    )


@scoped
def conversation_row(
    *, organization: Organization, viewer: Membership, pk: int
) -> Conversation | None:
    """One inbox row (as conversation_rows shows it), or None when the viewer may not list it."""
    return (
        conversation_rows(organization=organization, viewer=viewer, filters=ConversationFilters())
        .filter(pk=pk)
        .first()
    )


@dataclass(frozen=True)
class ViewCounts:
    """Open conversations per inbox view (what the view tabs show)."""

    mine: int
    unassigned: int
    all: int


@scoped
def conversation_view_counts(*, organization: Organization, viewer: Membership) -> ViewCounts:
    """Open conversations that are the viewer's, unassigned, and (supervisors) everyone's.
    One aggregate query."""
    counts = Conversation.objects.filter(
        organization=organization, status=ConversationStatus.OPEN
    ).aggregate(
        mine=Count("id", filter=Q(assignee_id=viewer.user_id)),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        all=Count("id"),
    )
    return ViewCounts(mine=counts["mine"], unassigned=counts["unassigned"], all=counts["all"])


@scoped
def customer_conversations(
    *, organization: Organization, customer_id: int
) -> QuerySet[Conversation]:
    """A customer's conversations across channels, newest first (their whole history)."""
    return (
        Conversation.objects.filter(organization=organization, customer_id=customer_id)
        .select_related("channel")
        .order_by("-last_message_at", "-id")
    )


@scoped
def customer_thread(*, organization: Organization, customer: Customer) -> list[Conversation]:
    """Every conversation (cycle) of the customer, oldest first, each with `messages`
    prefetched in thread order and their authors: the whole history in two queries."""
    messages = (
        Message.objects.filter(organization=organization)
        .select_related("author")
        .order_by("sent_at", "id")
    )
    return list(
        Conversation.objects.filter(organization=organization, customer=customer)
        .select_related("channel", "assignee")
        .defer("channel__credentials")
        .prefetch_related(Prefetch("messages", queryset=messages))
        .order_by("created_at", "id")
    )
