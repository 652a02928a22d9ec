"""Webhook subscriptions: which channels are due a check, and what a check found.

A page or account only sends us its events while the platform keeps it subscribed to our
webhook. Meta drops a page's subscription after about an hour of failed deliveries, and a new
channel has none until one is made, so a job (connectors.subscriptions) checks every active
channel now and then and subscribes it again when needed. No platform call here.

Each channel carries when it is next due (`subscription_next_check_at`, None: now). Claiming
a check moves that a lease ahead, so a backlogged queue never piles up copies; the outcome
sets the real next time, unless the channel changed meanwhile (new credentials, resumed): then
the outcome, about the old credentials, is dropped and the channel is due again at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from inbox.models import Channel, ChannelStatus, Organization, SubscriptionStatus
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

# After a failure that may pass (network, 5xx, throttling); a refusal waits the full interval.
RETRY_AFTER = timedelta(seconds=60)
# How long a claimed check may take before the channel is due again anyway (a lost task).
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class SubscriptionClaim:
    organization_id: int
    channel_id: int
    lease: datetime  # the channel's next-check time while this check runs


def channels_claim_for_subscription_check(*, now: datetime) -> list[SubscriptionClaim]:
    """Every active channel whose subscription is due a check, across tenants (the job's one
    cross-tenant step; each check is then scoped), each claimed for LEASE."""
    lease = now + LEASE
    with transaction.atomic():
        due = list(
            Channel.all_tenants.select_for_update(skip_locked=True)
            .filter(status=ChannelStatus.ACTIVE)
            .filter(
                Q(subscription_next_check_at__isnull=True) | Q(subscription_next_check_at__lte=now)
            )
            .order_by("pk")
            .values_list("organization_id", "pk")
        )
        Channel.all_tenants.filter(pk__in=[pk for _, pk in due]).update(
            subscription_next_check_at=lease
        )
    return [SubscriptionClaim(organization_id, pk, lease) for organization_id, pk in due]


@scoped
def channel_record_subscription(
    *,
    organization: Organization,
    channel_id: int,
    lease: datetime | None,
    status: str,
    at: datetime,
    error: str = "",
    retry: bool = True,
) -> bool:
    """What a check found: subscribed, not configured, or failed with a readable reason
    (`retry`: it may pass soon). False, recording nothing, when the channel changed while it
    was checked (its next-check time is no longer `lease`)."""
    if status == SubscriptionStatus.FAILED:
        logger.warning("channel %s webhook subscription failed: %s", channel_id, error)
        wait = (
            RETRY_AFTER if retry else timedelta(seconds=settings.CHANNEL_SUBSCRIPTION_CHECK_SECONDS)
        )
    else:
        wait = timedelta(seconds=settings.CHANNEL_SUBSCRIPTION_CHECK_SECONDS)
    unchanged = (
        Q(subscription_next_check_at=lease) if lease else Q(subscription_next_check_at__isnull=True)
    )
    return bool(
        Channel.objects.filter(organization=organization, pk=channel_id)
        .filter(unchanged)
        .update(
            subscription_status=status,
            subscription_checked_at=at,
            subscription_error=error,
            subscription_next_check_at=at + wait,
        )
    )
