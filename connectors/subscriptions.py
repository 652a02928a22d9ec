"""Keeping each channel's webhook subscription alive: the job that asks the platform whether a
page / account still sends us its events, and subscribes it again when it does not.

Runs every minute (connectors.check_channel_subscriptions) over the channels that are due:
new ones, failures that may pass (a minute later), refusals and good ones (once per
CHANNEL_SUBSCRIPTION_CHECK_SECONDS). Connecting a channel never waits for it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from connectors.base import PermanentDeliveryError, RetryableDeliveryError
from connectors.registry import connector_for
from inbox.models import Channel, ChannelStatus, Organization, SubscriptionStatus
from inbox.services.channels import channel_needs_reauthorization
from inbox.services.subscriptions import channel_record_subscription
from inbox.tenancy import tenant_scope

logger = logging.getLogger(__name__)


def subscription_check(organization_id: int, channel_id: int, lease: datetime | None = None) -> str:
    """Check (and if needed make) one channel's subscription; returns the recorded status,
    "skipped" for a channel that is gone or not active, or "changed" when the channel changed
    while it was checked (the outcome is dropped; it is due again at once). Never raises for a
    platform error: it is recorded on the channel, where admins see it, and tried again.
    `lease`: the next-check time the claim set (None: whatever the channel holds now)."""
    with tenant_scope(organization_id):
        organization = Organization.objects.get(pk=organization_id)
        channel = Channel.objects.filter(organization=organization, pk=channel_id).first()
        if channel is None or channel.status != ChannelStatus.ACTIVE:
            return "skipped"
        if lease is None:
            lease = channel.subscription_next_check_at
        status, error, retry, reauthorize = SubscriptionStatus.SUBSCRIBED, "", True, False
        try:
            result = connector_for(channel.kind).ensure_subscribed(
                channel_external_id=channel.external_id, credentials=channel.credentials or {}
            )
        except RetryableDeliveryError as exc:
            status, error = SubscriptionStatus.FAILED, exc.reason
        except PermanentDeliveryError as exc:
            status, error, retry, reauthorize = (
                SubscriptionStatus.FAILED,
                exc.reason,
                False,
                exc.reauthorize,
            )
        else:
            if result.state == "not_configured":
                status = SubscriptionStatus.NOT_CONFIGURED
        recorded = channel_record_subscription(
            organization=organization,
            channel_id=channel.pk,
            lease=lease,
            status=status,
            error=error,
            retry=retry,
            at=timezone.now(),
        )
        if not recorded:
            return "changed"  # e.g. new credentials while the old ones were being checked
        if reauthorize:
            channel_needs_reauthorization(
                organization=organization, channel_id=channel.pk, reason=error
            )
        return str(status)
