"""Conversation lists and lookups."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from inbox.models import Conversation, Membership, Message, Organization, Role
from inbox.tenancy import scoped


@dataclass(frozen=True)
class ConversationFilters:
    """Validated list filters. `assignee` is "me", "unassigned", a user id, or None (any)."""

    statuses: tuple[str, ...] = ()
    assignee: str | int | None = None
    channel_id: int | None = None
    customer_id: int | None = None
    q: str = ""


@scoped
def conversation_list(
    *, organization: Organization, viewer: Membership, filters: ConversationFilters
) -> QuerySet[Conversation]:
    """Conversations the viewer may list, newest activity first, with what a row shows.

    Agents list their own and unassigned conversations; supervisors and admins list everyone's.
    The ordering (-last_message_at, -id) is served by the organization-leading indexes.
    """
    # A row shows the channel's kind and name, never its credentials: skip decrypting them
    # once per listed conversation.
    queryset = (
        Conversation.objects.filter(organization=organization)
        .select_related("customer", "channel")
        .defer("channel__credentials")
    )
    if filters.statuses:
        queryset = queryset.filter(status__in=filters.statuses)
    if filters.assignee == "me":
        queryset = queryset.filter(assignee_id=viewer.user_id)
    elif filters.assignee == "unassigned":
        queryset = queryset.filter(assignee__isnull=True)
    elif isinstance(filters.assignee, int):
        queryset = queryset.filter(assignee_id=filters.assignee)
    if not viewer.has_role(Role.SUPERVISOR) and filters.assignee not in ("me", "unassigned"):
        # Mirrors access.can_see_conversation: agents see theirs and the unassigned queue.
        queryset = queryset.filter(Q(assignee_id=viewer.user_id) | Q(assignee__isnull=True))
    if filters.channel_id is not None:
        queryset = queryset.filter(channel_id=filters.channel_id)
    if filters.customer_id is not None:
        queryset = queryset.filter(customer_id=filters.customer_id)
    if filters.q:
        matching_text = Message.objects.filter(
            organization=organization, conversation=OuterRef("pk"), text__icontains=filters.q
        )
        queryset = queryset.filter(
            Q(customer__display_name__icontains=filters.q) | Exists(matching_text)
        )
    return queryset.order_by("-last_message_at", "-id")


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
