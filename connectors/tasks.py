"""Celery entry points for inbound webhooks (process one event, sweep what is due) and for the
platforms' webhook subscriptions."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db import connection
from django.utils import timezone

from connectors import ingest
from connectors.subscriptions import subscription_check
from inbox.models import WebhookEvent, WebhookEventStatus
from inbox.services.subscriptions import channels_claim_for_subscription_check
from inbox.services.webhooks import webhook_events_due, webhook_events_prune

logger = logging.getLogger(__name__)


@shared_task(name="connectors.process_webhook_event", ignore_result=True)
def process_webhook_event(event_id: int) -> int:
    """Process a stored event, with whatever other received events are waiting (one
    transaction, see ingest.process_pending); schedule each failure's next attempt with
    backoff. Returns how many events it processed: 0 when another worker took this one.

    Runs inline when Celery is eager (the embedded default); the periodic sweep re-drives any
    event whose scheduled retry was lost, so an acknowledged event is never dropped.
    """
    return process_batch(event_id)


def process_batch(event_id: int) -> int:
    """The task's body, also run by a web process's inline slot (connectors.receiver):
    process a batch, then hand its failures (with their retry time) and what it left to the
    workers."""
    batch = ingest.process_pending(event_id)
    for failed, status in batch.statuses.items():
        if status == WebhookEventStatus.FAILED:
            enqueue_retry(failed)
    for left in batch.left:
        enqueue(left)
    if len(batch.statuses) >= ingest.BATCH_SIZE and not batch.left:
        enqueue(event_id)  # a full batch: there may be more waiting than tasks on their way
    return len(batch.statuses)


def process_inline(event_id: int) -> None:
    """Process a freshly accepted event in the calling thread (a web process's inline slot,
    see connectors.receiver), keeping the thread's database connection for the next one.
    Whatever goes wrong, the event is handed to the workers instead (it is still received);
    a broken connection is dropped."""
    try:
        process_batch(event_id)
    except Exception:
        logger.exception("inline processing of webhook event %s failed; queued instead", event_id)
        connection.close()
        enqueue(event_id)


def enqueue_retry(event_id: int) -> None:
    event = WebhookEvent.all_tenants.only("next_attempt_at").get(pk=event_id)
    if event.next_attempt_at is None or process_webhook_event.app.conf.task_always_eager:
        return  # permanent failure, or no broker: the sweep will pick it up when due
    delay = max(0.0, (event.next_attempt_at - timezone.now()).total_seconds())
    process_webhook_event.apply_async((event_id,), countdown=delay)


def enqueue_many(event_ids: list[int]) -> None:
    """Hand freshly accepted events to the workers: one task per ingest.BATCH_SIZE of them
    (each task claims its event and the other received ones, up to a batch)."""
    for event_id in event_ids[:: ingest.BATCH_SIZE]:
        enqueue(event_id)


def enqueue(event_id: int) -> None:
    """Hand a freshly accepted event to the workers; never raises into the webhook response
    (the event is already durable and the sweep re-drives it if the broker is down)."""
    try:
        process_webhook_event.delay(event_id)
    except Exception:
        logger.exception("could not enqueue webhook event %s; the sweep will retry", event_id)


@shared_task(name="connectors.sweep_webhook_events", ignore_result=True)
def sweep_webhook_events() -> int:
    """Re-run failed events whose retry time has come and received ones never processed."""
    due = webhook_events_due(now=timezone.now())
    eager = bool(sweep_webhook_events.app.conf.task_always_eager)
    for event_id in due:
        if eager:
            process_webhook_event(event_id)
        else:
            process_webhook_event.delay(event_id)  # spread over the workers, never inline
    return len(due)


@shared_task(name="connectors.prune_webhook_events", ignore_result=True)
def prune_webhook_events() -> int:
    """Hourly: forget processed and ignored raw events past WEBHOOK_RETENTION_DAYS."""
    return webhook_events_prune(now=timezone.now())


@shared_task(name="connectors.check_channel_subscription", ignore_result=True)
def check_channel_subscription(organization_id: int, channel_id: int, lease: str) -> str:
    return subscription_check(organization_id, channel_id, datetime.fromisoformat(lease))


@shared_task(name="connectors.check_channel_subscriptions", ignore_result=True)
def check_channel_subscriptions() -> int:
    """Check every channel whose webhook subscription is due (see connectors.subscriptions);
    each is claimed for a lease first, so a backlog never queues a channel twice."""
    claims = channels_claim_for_subscription_check(now=timezone.now())
    eager = bool(check_channel_subscriptions.app.conf.task_always_eager)
    for claim in claims:
        if not eager:
            check_channel_subscription.apply_async(
                (claim.organization_id, claim.channel_id, claim.lease.isoformat()),
                expires=claim.lease,
            )
            continue
        try:
            subscription_check(claim.organization_id, claim.channel_id, claim.lease)
        except Exception:
            logger.exception("channel %s: subscription check failed", claim.channel_id)
    return len(claims)
