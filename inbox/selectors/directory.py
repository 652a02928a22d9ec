"""Channels, customers and members of an organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from inbox.access import visible_conversations
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
def channel_choices(*, organization: Organization) -> QuerySet[Channel]:
    """Channels for a filter menu: id, kind and name only (credentials stay encrypted)."""
    return (
        Channel.objects.filter(organization=organization)
        .only("id", "kind", "name")
        .order_by("name", "id")
    )


@scoped
def customer_identities(
    *, organization: Organization, customer: Customer
) -> QuerySet[CustomerIdentity]:
    """Who the customer is on each channel (with the channel's kind and name)."""
    return (
        CustomerIdentity.objects.filter(organization=organization, customer=customer)
        .select_related("channel")
        .defer("channel__credentials")
        .order_by("id")
    )


@scoped
def customer_detail(
    *, organization: Organization, customer: Customer, viewer: Membership
) -> Customer:
    """The customer with identities and the conversations `viewer` may see (two queries)."""
    return (
        customer_list(organization=organization)
        .prefetch_related(
            Prefetch(
                "conversations",
                queryset=Conversation.objects.filter(organization=organization)
                .filter(visible_conversations(viewer))
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
