"""Webhook subscriptions: which channels are due a check, and what a check found.

A page or account only sends us its events while the platform keeps it subscribed to our
webhook. Meta drops a page's subscription after about an hour of failed deliveries, and a new
channel has none until one is made, so a job (connectors.subscriptions) checks every active
channel now and then and subscribes it again when needed. No platform call here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from inbox.models import Channel, ChannelStatus, Organization, SubscriptionStatus
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

# A failed or never-made check is tried again this soon; a good one is re-checked after
# settings.CHANNEL_SUBSCRIPTION_CHECK_SECONDS.
RETRY_AFTER = timedelta(seconds=60)


def channels_due_for_subscription_check(*, now: datetime) -> list[tuple[int, int]]:
    """(organization id, channel id) of every active channel whose subscription is due a
    check, across tenants (the job's one cross-tenant read; each check is then scoped)."""
    recheck = timedelta(seconds=settings.CHANNEL_SUBSCRIPTION_CHECK_SECONDS)
    unsettled = [SubscriptionStatus.PENDING, SubscriptionStatus.FAILED]
    return list(
        Channel.all_tenants.filter(status=ChannelStatus.ACTIVE)
        .filter(
            Q(subscription_checked_at__isnull=True)
            | Q(subscription_checked_at__lt=now - recheck)
            | Q(subscription_status__in=unsettled, subscription_checked_at__lt=now - RETRY_AFTER)
        )
        .order_by("pk")
        .values_list("organization_id", "pk")
    )


@scoped
def channel_record_subscription(
    *,
    organization: Organization,
    channel_id: int,
    status: str,
    at: datetime,
    error: str = "",
) -> None:
    """What a check found: subscribed, not configured, or failed with a readable reason."""
    if status == SubscriptionStatus.FAILED:
        logger.warning("channel %s webhook subscription failed: %s", channel_id, error)
    Channel.objects.filter(organization=organization, pk=channel_id).update(
        subscription_status=status, subscription_checked_at=at, subscription_error=error
    )
