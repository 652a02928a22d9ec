"""Customers and their platform identities."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from inbox import events
from inbox.errors import InvalidError
from inbox.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Organization,
)
from inbox.services.sla import sla_recompute
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """What a platform tells us about a person; empty strings mean "not known"."""

    display_name: str = ""
    screen_name: str = ""
    avatar_url: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@scoped
@transaction.atomic(savepoint=False)  # its create has its own savepoint; callers have theirs
def customer_identify(
    *,
    organization: Organization,
    channel: Channel,
    platform_user_id: str,
    profile: Profile | None = None,
) -> tuple[CustomerIdentity, bool]:
    """Find the person behind (channel, platform user id), creating customer and identity once.

    Safe under concurrent deliveries: the unique (channel, platform_user_id) index decides and
    the loser reads the winner's row. Known profile fields refresh what we had. Returns
    (identity, created).
    """
    profile = profile or Profile()
    identity = (
        CustomerIdentity.objects.select_related("customer")
        .filter(organization=organization, channel=channel, platform_user_id=platform_user_id)
        .first()
    )
    created = False
    if identity is None:
        try:
            with transaction.atomic():
                customer = Customer.objects.create(
                    organization=organization,
                    display_name=profile.display_name or profile.screen_name,
                    avatar_url=profile.avatar_url,
                )
                identity = CustomerIdentity.objects.create(
                    organization=organization,
                    customer=customer,
                    channel=channel,
                    platform_user_id=platform_user_id,
                    screen_name=profile.screen_name,
                    profile=profile.data,
                )
                created = True
        except IntegrityError:
            identity = CustomerIdentity.objects.select_related("customer").get(
                organization=organization, channel=channel, platform_user_id=platform_user_id
            )
    if not created:
        _refresh_profile(identity, profile)
    return identity, created


def _refresh_profile(identity: CustomerIdentity, profile: Profile) -> None:
    identity_fields: list[str] = []
    if profile.screen_name and identity.screen_name != profile.screen_name:
        identity.screen_name = profile.screen_name
        identity_fields.append("screen_name")
    if profile.data and identity.profile != {**identity.profile, **profile.data}:
        identity.profile = {**identity.profile, **profile.data}
        identity_fields.append("profile")
    if identity_fields:
        identity.save(update_fields=identity_fields)
    customer = identity.customer
    customer_fields: list[str] = []
    name = profile.display_name or profile.screen_name
    if name and customer.display_name != name:
        customer.display_name = name
        customer_fields.append("display_name")
    if profile.avatar_url and customer.avatar_url != profile.avatar_url:
        customer.avatar_url = profile.avatar_url
        customer_fields.append("avatar_url")
    if customer_fields:
        customer.save(update_fields=[*customer_fields, "updated_at"])


def profile_fetch_later(*, organization: Organization, identity: CustomerIdentity) -> None:
    """Ask the platform who this new person is, after commit, off the request path: a slow or
    failing profile API never delays or blocks the message."""
    identity_id, organization_id = identity.pk, organization.pk

    def enqueue() -> None:
        from inbox.tasks import fetch_customer_profile  # noqa: PLC0415  # tasks import services

        try:
            fetch_customer_profile.delay(organization_id, identity_id)
        except Exception:
            logger.exception("could not enqueue the profile fetch of identity %s", identity_id)

    transaction.on_commit(enqueue)


@scoped
@transaction.atomic
def customer_update(
    *,
    organization: Organization,
    customer: Customer,
    display_name: str | None = None,
    notes: str | None = None,
    tier: str | None = None,
) -> Customer:
    """Edit what agents know about the customer (name, notes, loyalty tier). A new tier selects
    the SLA policy of the customer's unresolved conversations again."""
    fields: list[str] = []
    tier_changed = False
    if display_name is not None:
        if not display_name.strip():
            raise InvalidError("A name is needed.", field_errors={"display_name": ["Required."]})
        customer.display_name = display_name.strip()
        fields.append("display_name")
    if notes is not None:
        customer.notes = notes
        fields.append("notes")
    if tier is not None:
        tier_changed = customer.tier != tier.strip()
        customer.tier = tier.strip()
        fields.append("tier")
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    if tier_changed:
        _recompute_sla(organization, customer)
    return customer


def _recompute_sla(organization: Organization, customer: Customer) -> None:
    conversations = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(organization=organization, customer=customer, sla_cycle__gt=0)
        .exclude(status=ConversationStatus.RESOLVED)
        .order_by("pk")
    )
    for conversation in conversations:
        conversation.customer = customer
        if sla_recompute(organization=organization, conversation=conversation):
            events.emit(events.conversation_updated(conversation, ["sla"]))
