"""SLA policies, business hours and follow-ups of an organization."""

from __future__ import annotations

from django.db.models import QuerySet

from inbox.models import BusinessHours, Conversation, FollowUp, Organization, SLAPolicy
from inbox.tenancy import scoped


@scoped
def sla_policy_list(*, organization: Organization) -> QuerySet[SLAPolicy]:
    """In the order they are tried (the default, tried last, is listed with them)."""
    return SLAPolicy.objects.filter(organization=organization).order_by("position", "id")


@scoped
def business_hours_list(*, organization: Organization) -> QuerySet[BusinessHours]:
    """The organization's hours first, then each channel's."""
    return (
        BusinessHours.objects.filter(organization=organization)
        .select_related("channel")
        .defer("channel__credentials")
        .order_by("channel_id", "id")
    )


@scoped
def follow_up_list(
    *, organization: Organization, conversation: Conversation, include_closed: bool = True
) -> QuerySet[FollowUp]:
    """The conversation's follow-ups by time; `include_closed=False` keeps the scheduled ones."""
    queryset = FollowUp.objects.filter(organization=organization, conversation=conversation)
    if not include_closed:
        queryset = queryset.filter(done_at__isnull=True, cancelled_at__isnull=True)
    return queryset.order_by("at", "id")
