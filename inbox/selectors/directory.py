"""Channels, customers and members of an organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from inbox.models import Channel, Conversation, Customer, CustomerIdentity, Membership, Organization
from inbox.tenancy import scoped


@scoped
def channel_list(*, organization: Organization) -> QuerySet[Channel]:
    return Channel.objects.filter(organization=organization).order_by("id")


@scoped
def customer_list(*, organization: Organization, q: str = "") -> QuerySet[Customer]:
    """Customers with their identities (and each identity's channel), newest first."""
    queryset = Customer.objects.filter(organization=organization)
    if q:
        queryset = queryset.filter(display_name__icontains=q)
    return queryset.prefetch_related(
        Prefetch(
            "identities",
            queryset=CustomerIdentity.objects.filter(organization=organization)
            .select_related("channel")
            .order_by("id"),
        )
    ).order_by("-id")


@scoped
def customer_detail(*, organization: Organization, customer: Customer) -> Customer:
    """The customer with identities and every conversation prefetched (two queries)."""
    return (
        customer_list(organization=organization)
        .prefetch_related(
            Prefetch(
                "conversations",
                queryset=Conversation.objects.filter(organization=organization)
                .select_related("channel")
                .order_by("-last_message_at", "-id"),
            )
        )
        .get(pk=customer.pk)
    )


@scoped
def member_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
    )
