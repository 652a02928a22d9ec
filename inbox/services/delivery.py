"""Delivery state of outbound messages: sent, delivered, read, failed; each change published."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from celery import current_app
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inbox import events
from inbox.errors import ConflictError
from inbox.models import (
    Channel,
    CustomerIdentity,
    Delivery,
    DeliveryStatus,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Organization,
)
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

# Statuses only move forward; `failed` is terminal unless an echo proves the message went out.
RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


def _locked(organization: Organization, message: Message) -> Message:
    """The message, row-locked, with its conversation (the event's audience) loaded."""
    return (
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation")
        .get(organization=organization, pk=message.pk)
    )


def _publish(message: Message, changed: list[str]) -> None:
    events.emit(events.message_updated(message, changed))


@scoped
@transaction.atomic
def message_mark_sent(
    *, organization: Organization, message: Message, external_id: str, sent_at: datetime | None
) -> Message:
    """The platform accepted the message and gave it an id.

    When the platform's echo of this send arrived first and was stored as a separate row
    (X echoes can overtake the HTTP response), that row is merged into this one.
    """
    locked = _locked(organization, message)
    twin = (
        Message.objects.filter(
            organization=organization, channel_id=locked.channel_id, external_id=external_id
        )
        .exclude(pk=locked.pk)
        .first()
    )
    if twin is not None and twin.sent_outside:
        twin.delete()
    locked.external_id = external_id
    if RANK.get(locked.status, -1) < RANK[MessageStatus.SENT]:
        locked.status = MessageStatus.SENT
    if sent_at is not None:
        locked.sent_at = sent_at
    locked.failure_code = ""
    locked.failure_reason = ""
    locked.save(
        update_fields=["external_id", "status", "sent_at", "failure_code", "failure_reason"]
    )
    _publish(locked, ["status", "external_id"])
    return locked


@scoped
@transaction.atomic
def message_mark_failed(
    *, organization: Organization, message: Message, code: str, reason: str
) -> Message:
    locked = _locked(organization, message)
    if locked.status != MessageStatus.QUEUED:
        return locked  # an echo or receipt already proved it went out
    locked.status = MessageStatus.FAILED
    locked.failure_code = code[:64]
    locked.failure_reason = reason[:2000]
    locked.save(update_fields=["status", "failure_code", "failure_reason"])
    _publish(locked, ["status", "failure_code", "failure_reason"])
    return locked


@scoped
@transaction.atomic
def message_retry(*, organization: Organization, message: Message) -> Message:
    """The agent pressed retry on a failed reply: queue it again with a fresh outbox record.

    Raises ConflictError unless the message is a failed outbound reply. The reply window is
    checked again when the task runs (a closed window fails it with a readable reason).
    """
    locked = _locked(organization, message)
    if (
        locked.status != MessageStatus.FAILED
        or locked.kind != MessageKind.MESSAGE
        or locked.direction != MessageDirection.OUTBOUND
    ):
        raise ConflictError("Only a failed reply can be retried.")
    locked.status = MessageStatus.QUEUED
    locked.failure_code = ""
    locked.failure_reason = ""
    locked.save(update_fields=["status", "failure_code", "failure_reason"])
    Delivery.objects.filter(organization=organization, message=locked).delete()
    delivery_create(organization=organization, message=locked)
    _publish(locked, ["status"])
    return locked


@scoped
@transaction.atomic
def messages_mark_watermark(
    *,
    organization: Organization,
    channel: Channel,
    platform_user_id: str,
    status: str,
    watermark: datetime,
    external_ids: Sequence[str] = (),
) -> int:
    """Every outbound message to this customer up to `watermark` becomes delivered / read.

    Idempotent: a watermark only ever raises statuses. Returns how many messages changed.
    """
    target = MessageStatus(status)
    identity = CustomerIdentity.objects.filter(
        organization=organization, channel=channel, platform_user_id=platform_user_id
    ).first()
    if identity is None:
        return 0
    lower = [s for s, rank in RANK.items() if rank < RANK[target] and s != MessageStatus.QUEUED]
    covered = Q(sent_at__lte=watermark, status__in=lower)
    if external_ids:
        covered |= Q(external_id__in=list(external_ids), status__in=[*lower, MessageStatus.QUEUED])
    changed = list(
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation")
        .filter(
            covered,
            organization=organization,
            channel=channel,
            conversation__customer_id=identity.customer_id,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.MESSAGE,
        )
        .order_by("pk")
    )
    for message in changed:
        message.status = target
    Message.objects.bulk_update(changed, ["status"])
    for message in changed:
        _publish(message, ["status"])
    return len(changed)


# ---- the outbox ----------------------------------------------------------------------------

CLAIM_SECONDS = 60
MAX_ATTEMPTS = 8


def delivery_backoff(attempts: int) -> float:
    """2 s, 6 s, 18 s, 54 s, ... capped at five minutes, plus up to a second of jitter."""
    base: float = min(300.0, 2.0 * 3.0 ** max(0, attempts - 1))
    return base + random.random()  # noqa: S311  # jitter, not cryptography


def delivery_create(*, organization: Organization, message: Message) -> Delivery:
    """The outbox row; call inside the transaction that stores the message."""
    delivery = Delivery.objects.create(organization=organization, message=message)
    transaction.on_commit(lambda: _enqueue(delivery.pk, organization.pk))
    return delivery


def _enqueue(delivery_id: int, organization_id: int, countdown: float = 0) -> None:
    from inbox.tasks import deliver_message  # noqa: PLC0415  # tasks import the services

    try:
        deliver_message.apply_async((organization_id, delivery_id), countdown=countdown)
    except Exception:
        logger.exception("could not enqueue delivery %s; the sweep will retry", delivery_id)


def delivery_claim(*, organization_id: int, delivery_id: int, now: datetime) -> Delivery | None:
    """Take the delivery for one attempt, or None when it is done, not due, or another
    worker holds it. A single UPDATE decides, so concurrent workers cannot both win."""
    claimed = (
        Delivery.all_tenants.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            pk=delivery_id,
            organization_id=organization_id,
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now + timedelta(seconds=1),
        ).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
        == 1
    )
    if not claimed:
        return None
    return Delivery.all_tenants.select_related("message", "organization").get(pk=delivery_id)


def delivery_finish(delivery: Delivery, *, status: str, error: str = "") -> None:
    Delivery.all_tenants.filter(pk=delivery.pk).update(
        status=status, claimed_until=None, last_error=error[:2000]
    )


def delivery_retry_later(delivery: Delivery, *, error: str, retry_after: float | None) -> float:
    """Schedule the next attempt; returns the delay in seconds."""
    delay = max(delivery_backoff(delivery.attempts), retry_after or 0.0)
    Delivery.all_tenants.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        claimed_until=None,
        last_error=error[:2000],
    )
    if not _eager():
        _enqueue(delivery.pk, delivery.organization_id, countdown=delay)
    return delay


def deliveries_due(*, now: datetime, limit: int = 500) -> list[tuple[int, int]]:
    """(organization_id, delivery_id) of pending deliveries whose time has come."""
    rows = (
        Delivery.all_tenants.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("organization_id", "pk")[:limit]
    )
    return list(rows)


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)
