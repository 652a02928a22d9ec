"""The only way views, consumers and tasks get an object by id.

Each function looks the object up inside the organization and checks the actor's role. A
missing object and another tenant's object raise the same NotFoundError (404, never 403).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from inbox.errors import ForbiddenError, NotFoundError
from inbox.models import (
    BusinessHours,
    Channel,
    Conversation,
    Customer,
    FollowUp,
    Membership,
    Message,
    Organization,
    Role,
    SLAPolicy,
    User,
)
from inbox.tenancy import scoped


def _pk(value: Any) -> int:
    """Ids arrive from URLs and JSON; anything that is not a positive integer cannot match."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFoundError() from None
    if pk <= 0 or isinstance(value, bool):
        raise NotFoundError()
    return pk


def membership_for(*, user: User | Any, organization_slug: str) -> Membership:
    """The user's membership in the organization named by the URL, or NotFoundError.

    Reads across tenants on purpose (the scope is not known yet): it only ever returns the
    requesting user's own membership.
    """
    if not getattr(user, "is_authenticated", False):
        raise NotFoundError()
    membership = (
        Membership.all_tenants.select_related("organization", "user")
        .filter(user_id=user.pk, organization__slug=organization_slug)
        .first()
    )
    if membership is None:
        raise NotFoundError()
    return membership


def memberships_of(*, user: User) -> list[Membership]:
    """Every organization the user belongs to (for the organization switcher)."""
    return list(
        Membership.all_tenants.select_related("organization")
        .filter(user_id=user.pk)
        .order_by("organization__name")
    )


def require_role(membership: Membership, role: Role | str) -> None:
    if not membership.has_role(role):
        raise ForbiddenError(f"This action needs the {role} role.")


def visible_conversations(viewer: Membership) -> Q:
    """The same rule as can_see_conversation, as a filter for querysets of conversations."""
    if viewer.has_role(Role.SUPERVISOR):
        return Q()
    return Q(assignee_id=viewer.user_id) | Q(assignee__isnull=True)


def can_see_conversation(viewer: Membership, conversation: Conversation) -> bool:
    """Agents see conversations assigned to them or to nobody; supervisors and admins see all.
    (A visible conversation shows its customer's whole history, whoever handled it.)"""
    return viewer.has_role(Role.SUPERVISOR) or conversation.assignee_id in (None, viewer.user_id)


@scoped
def conversation_get(
    *, organization: Organization, pk: Any, viewer: Membership | None, for_update: bool = False
) -> Conversation:
    """The conversation, if `viewer` may see it (None: a system caller such as a task)."""
    queryset = Conversation.objects.select_related("customer", "channel", "assignee")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    conversation = queryset.filter(organization=organization, pk=_pk(pk)).first()
    if conversation is None or (
        viewer is not None and not can_see_conversation(viewer, conversation)
    ):
        raise NotFoundError()
    return conversation


@scoped
def customer_get(*, organization: Organization, pk: Any) -> Customer:
    customer = Customer.objects.filter(organization=organization, pk=_pk(pk)).first()
    if customer is None:
        raise NotFoundError()
    return customer


@scoped
def channel_get(*, organization: Organization, pk: Any) -> Channel:
    channel = Channel.objects.filter(organization=organization, pk=_pk(pk)).first()
    if channel is None:
        raise NotFoundError()
    return channel


@scoped
def member_get(*, organization: Organization, user_id: Any) -> Membership:
    membership = (
        Membership.objects.select_related("user")
        .filter(organization=organization, user_id=_pk(user_id))
        .first()
    )
    if membership is None:
        raise NotFoundError()
    return membership


@scoped
def message_get(*, organization: Organization, conversation: Conversation, pk: Any) -> Message:
    message = Message.objects.filter(
        organization=organization, conversation=conversation, pk=_pk(pk)
    ).first()
    if message is None:
        raise NotFoundError()
    return message


@scoped
def sla_policy_get(*, organization: Organization, pk: Any) -> SLAPolicy:
    policy = SLAPolicy.objects.filter(organization=organization, pk=_pk(pk)).first()
    if policy is None:
        raise NotFoundError()
    return policy


@scoped
def business_hours_get(*, organization: Organization, pk: Any) -> BusinessHours:
    hours = BusinessHours.objects.filter(organization=organization, pk=_pk(pk)).first()
    if hours is None:
        raise NotFoundError()
    return hours


@scoped
def follow_up_get(*, organization: Organization, conversation: Conversation, pk: Any) -> FollowUp:
    follow_up = FollowUp.objects.filter(
        organization=organization, conversation=conversation, pk=_pk(pk)
    ).first()
    if follow_up is None:
        raise NotFoundError()
    return follow_up
