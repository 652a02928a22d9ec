"""Delivery state of outbound messages: sent, delivered, read, failed; each change published."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from celery import current_app
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Exists, F, Q
from django.utils import timezone

from inbox import events
from inbox.errors import ChannelPausedError, ConflictError
from inbox.models import (
    Channel,
    ChannelStatus,
    Conversation,
    CustomerIdentity,
    Delivery,
    DeliveryStatus,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Organization,
)
from inbox.selectors.messages import delivery_for_attempt
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)

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
    channel_status = (
        Channel.objects.filter(organization=organization, pk=locked.channel_id)
        .values_list("status", flat=True)
        .get()
    )
    if channel_status == ChannelStatus.PAUSED:
        raise ChannelPausedError()
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
    worker holds it. A single UPDATE decides, so concurrent workers cannot both win, and it
    commits (the attempt is counted) before the caller calls the platform.

    Returns the delivery with its organization, message, conversation and channel loaded and
    the customer's platform id as `recipient_id` (None when the identity is gone). On
    PostgreSQL the claim and the load are one statement.
    """
    until = now + timedelta(seconds=CLAIM_SECONDS)
    due = now + timedelta(seconds=1)
    if connection.vendor == "postgresql":
        return _claim_and_load(organization_id, delivery_id, now=now, due=due, until=until)
    claimed = (
        Delivery.all_tenants.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            pk=delivery_id,
            organization_id=organization_id,
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=due,
        ).update(claimed_until=until, attempts=F("attempts") + 1)
        == 1
    )
    if not claimed:
        return None
    return delivery_for_attempt(organization_id=organization_id, delivery_id=delivery_id)


# The hot path of every send, as few statements as possible: the ORM spends more time building
# these queries than PostgreSQL spends running them. Identifiers come from the models' metadata;
# every value is a bound parameter.
_LOADED: tuple[type[models.Model], ...] = (Delivery, Organization, Message, Conversation, Channel)


def _columns(model: type[models.Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


_CLAIM_AND_LOAD = f"""
WITH claimed AS (
    UPDATE inbox_delivery
    SET claimed_until = %(until)s, attempts = attempts + 1
    WHERE id = %(delivery)s AND organization_id = %(organization)s AND status = %(pending)s
        AND next_attempt_at <= %(due)s AND (claimed_until IS NULL OR claimed_until < %(now)s)
    RETURNING *
)
SELECT {_columns(Delivery, "d")}, {_columns(Organization, "o")}, {_columns(Message, "m")},
    {_columns(Conversation, "c")}, {_columns(Channel, "ch")},
    (SELECT i.platform_user_id FROM inbox_customeridentity i
        WHERE i.organization_id = c.organization_id AND i.customer_id = c.customer_id
            AND i.channel_id = c.channel_id LIMIT 1)
FROM claimed d
JOIN inbox_organization o ON o.id = d.organization_id
JOIN inbox_message m ON m.id = d.message_id
JOIN inbox_conversation c ON c.id = m.conversation_id
JOIN inbox_channel ch ON ch.id = c.channel_id
"""  # noqa: S608  # identifiers from our models, values bound


def _instance(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from its concrete columns, converted as the ORM converts them."""
    fields = model._meta.concrete_fields
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def _claim_and_load(
    organization_id: int, delivery_id: int, *, now: datetime, due: datetime, until: datetime
) -> Delivery | None:
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_AND_LOAD,
            {
                "delivery": delivery_id,
                "organization": organization_id,
                "pending": DeliveryStatus.PENDING.value,
                "now": now,
                "due": due,
                "until": until,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    parts: list[models.Model] = []
    offset = 0
    for model in _LOADED:
        width = len(model._meta.concrete_fields)
        parts.append(_instance(model, row[offset : offset + width]))
        offset += width
    delivery, organization, message, conversation, channel = parts
    assert isinstance(delivery, Delivery)  # noqa: S101  # narrows the types for mypy
    assert isinstance(message, Message)  # noqa: S101
    assert isinstance(conversation, Conversation)  # noqa: S101
    assert isinstance(channel, Channel)  # noqa: S101
    assert isinstance(organization, Organization)  # noqa: S101
    conversation.channel = channel
    message.conversation = conversation
    delivery.message = message
    delivery.organization = organization
    delivery.recipient_id = row[offset]  # type: ignore[attr-defined]  # as the ORM's annotate()
    return delivery


_SENT_AND_DONE = """
WITH sent AS (
    UPDATE inbox_message
    SET external_id = %(external_id)s, status = %(sent)s, sent_at = %(sent_at)s,
        failure_code = '', failure_reason = ''
    WHERE id = %(message)s AND organization_id = %(organization)s
        AND status IN (%(queued)s, %(failed)s)
        AND NOT EXISTS (
            SELECT 1 FROM inbox_message holder
            WHERE holder.channel_id = %(channel)s AND holder.external_id = %(external_id)s
                AND holder.id <> %(message)s
        )
    RETURNING conversation_id
), done AS (
    UPDATE inbox_delivery
    SET status = %(done)s, claimed_until = NULL, last_error = ''
    WHERE id = %(delivery)s AND EXISTS (SELECT 1 FROM sent)
)
SELECT c.assignee_id FROM sent JOIN inbox_conversation c ON c.id = sent.conversation_id
"""


@scoped
def delivery_sent(
    *, organization: Organization, delivery: Delivery, external_id: str, sent_at: datetime
) -> Message:
    """The platform accepted the delivery's message and gave it an id: record the message
    `sent` and the delivery done. Publishes `message.updated`.

    The common case is one statement on PostgreSQL (two UPDATEs and the read of the
    conversation's assignee for the event's audience), three elsewhere: it moves the message
    from queued (or failed) to sent unless another row already holds the platform id. When it
    matches nothing (an echo or a receipt got there first, or the echo was stored as a row of
    its own), `message_mark_sent` locks the row and merges. Raises what the database raises;
    the caller must never send again.
    """
    message = delivery.message
    try:
        if connection.vendor == "postgresql":
            moved, assignee_id = _sent_and_done(organization, delivery, external_id, sent_at)
        else:
            moved, assignee_id = _sent_and_done_orm(organization, delivery, external_id, sent_at)
    except IntegrityError:
        moved, assignee_id = False, None  # an echo stored as its own row meanwhile: merge it
    if not moved:
        merged = message_mark_sent(
            organization=organization, message=message, external_id=external_id, sent_at=sent_at
        )
        delivery_finish(delivery, status=DeliveryStatus.DONE)
        return merged
    message.external_id = external_id
    message.status = MessageStatus.SENT
    message.sent_at = sent_at
    message.failure_code = message.failure_reason = ""
    message.conversation.assignee_id = assignee_id
    _publish(message, ["status", "external_id"])
    return message


def _sent_and_done(
    organization: Organization, delivery: Delivery, external_id: str, sent_at: datetime
) -> tuple[bool, int | None]:
    message = delivery.message
    with connection.cursor() as cursor:
        cursor.execute(
            _SENT_AND_DONE,
            {
                "external_id": external_id,
                "sent_at": sent_at,
                "message": message.pk,
                "organization": organization.pk,
                "channel": message.channel_id,
                "delivery": delivery.pk,
                "sent": MessageStatus.SENT.value,
                "queued": MessageStatus.QUEUED.value,
                "failed": MessageStatus.FAILED.value,
                "done": DeliveryStatus.DONE.value,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return False, None
    assignee_id: int | None = row[0]
    return True, assignee_id


def _sent_and_done_orm(
    organization: Organization, delivery: Delivery, external_id: str, sent_at: datetime
) -> tuple[bool, int | None]:
    message = delivery.message
    holder = Message.objects.filter(
        organization=organization, channel_id=message.channel_id, external_id=external_id
    ).exclude(pk=message.pk)
    moved = (
        Message.objects.filter(
            organization=organization,
            pk=message.pk,
            status__in=(MessageStatus.QUEUED, MessageStatus.FAILED),
        )
        .exclude(Exists(holder))
        .update(
            external_id=external_id,
            status=MessageStatus.SENT,
            sent_at=sent_at,
            failure_code="",
            failure_reason="",
        )
    )
    if not moved:
        return False, None
    delivery_finish(delivery, status=DeliveryStatus.DONE)
    assignee_id = (
        Conversation.objects.filter(organization=organization, pk=message.conversation_id)
        .values_list("assignee_id", flat=True)
        .first()
    )
    return True, assignee_id


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
