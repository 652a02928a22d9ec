"""Celery entry points of the inbox: deliver replies, fetch profiles, sweep what is due.

Tasks take primitive ids, run inside the organization's tenant scope, are idempotent, and
retry only what can succeed later.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from connectors.base import (
    OutboundRequest,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)
from connectors.registry import connector_for
from inbox.models import (
    ChannelStatus,
    CustomerIdentity,
    Delivery,
    DeliveryStatus,
    Message,
    MessageStatus,
    Organization,
    Visibility,
)
from inbox.selectors.messages import delivery_context
from inbox.services.channels import channel_needs_reauthorization
from inbox.services.customers import customer_identify
from inbox.services.delivery import (
    MAX_ATTEMPTS,
    deliveries_due,
    delivery_claim,
    delivery_finish,
    delivery_retry_later,
    delivery_sent,
    message_mark_failed,
)
from inbox.services.messages import reply_window
from inbox.services.sla import sla_recompute_organization as recompute_organization
from inbox.services.timers import timers_run_due
from inbox.tenancy import tenant_scope
from inbox.untrusted import storable_profile

logger = logging.getLogger(__name__)


@shared_task(name="inbox.deliver_message", ignore_result=True, acks_late=True)
def deliver_message(organization_id: int, delivery_id: int) -> str:
    """One delivery attempt of one outbound message. Returns what happened (for logs/tests).

    The claim makes concurrent or repeated tasks harmless: only one attempt runs at a time
    and a message that left `queued` (sent, failed, or matched by its echo) is never re-sent.
    """
    with tenant_scope(organization_id):
        delivery = delivery_claim(
            organization_id=organization_id, delivery_id=delivery_id, now=timezone.now()
        )
        if delivery is None:
            return "skipped"
        return _attempt(delivery)


# A timeout or an unreadable answer may hide a send that worked: wait for its echo (which
# marks the message sent) before trying again, instead of risking a second copy.
AMBIGUOUS = frozenset({"timeout", "bad_response"})
AMBIGUOUS_WAIT = 60.0


def _attempt(delivery: Delivery) -> str:
    organization = delivery.organization
    message = delivery.message
    if message.status != MessageStatus.QUEUED:
        delivery_finish(delivery, status=DeliveryStatus.DONE)
        return "already-done"
    try:
        result = _send(delivery, message)
    except RetryableDeliveryError as exc:
        return _retry_or_give_up(delivery, exc)
    except PermanentDeliveryError as exc:
        message_mark_failed(
            organization=organization, message=message, code=exc.code, reason=exc.reason
        )
        if exc.reauthorize:
            channel_needs_reauthorization(
                organization=organization, channel_id=message.channel_id, reason=exc.reason
            )
        delivery_finish(delivery, status=DeliveryStatus.FAILED, error=str(exc))
        return "failed"
    except Exception as exc:
        # A bug or a missing row must not hold the claim and block the sweep: back off.
        logger.exception("delivery %s failed unexpectedly", delivery.pk)
        return _retry_or_give_up(delivery, RetryableDeliveryError("internal", repr(exc)))
    try:
        delivery_sent(
            organization=organization,
            delivery=delivery,
            external_id=result.external_id,
            sent_at=timezone.now(),
        )
    except Exception:
        # The platform has it: never send again, whatever went wrong recording it.
        logger.exception("delivery %s was sent but could not be recorded", delivery.pk)
        delivery_finish(delivery, status=DeliveryStatus.DONE)
    return "sent"


def _send(delivery: Delivery, message: Message) -> SendResult:
    context = delivery_context(organization=delivery.organization, delivery=delivery)
    if context.channel.status == ChannelStatus.PAUSED:
        raise PermanentDeliveryError(
            "channel_paused",
            "The channel was paused before the message went out: retry once it is resumed.",
        )
    if message.visibility == Visibility.PUBLIC:
        # Never a public post that answers nobody, nor a reply to a post its author deleted.
        if context.in_reply_to is None:
            raise PermanentDeliveryError(
                "no_post", "There is no post of the customer's to answer: reply privately."
            )
        if context.in_reply_to_deleted:
            raise PermanentDeliveryError(
                "post_deleted", "The customer deleted the post this answers: reply privately."
            )
    window = reply_window(context.conversation)
    if not window.can_send:
        raise PermanentDeliveryError(
            "window_closed", "The reply window closed before the message could be sent."
        )
    return connector_for(context.channel.kind).send(
        OutboundRequest(
            message_id=message.pk,
            channel_external_id=context.channel.external_id,
            credentials=context.channel.credentials or {},
            recipient_id=context.recipient_id,
            text=message.text,
            visibility="public" if message.visibility == "public" else "private",
            window=window.state,
            in_reply_to=context.in_reply_to,
        )
    )


def _retry_or_give_up(delivery: Delivery, exc: RetryableDeliveryError) -> str:
    if delivery.attempts >= MAX_ATTEMPTS:
        message_mark_failed(
            organization=delivery.organization,
            message=delivery.message,
            code=exc.code,
            reason=f"{exc.reason} (gave up after {delivery.attempts} attempts)",
        )
        delivery_finish(delivery, status=DeliveryStatus.FAILED, error=str(exc))
        return "gave-up"
    wait = max(exc.retry_after or 0.0, AMBIGUOUS_WAIT if exc.code in AMBIGUOUS else 0.0)
    delay = delivery_retry_later(delivery, error=str(exc), retry_after=wait or None)
    logger.info("delivery %s: %s; retry in %.1fs", delivery.pk, exc, delay)
    return "retry"


@shared_task(name="inbox.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> int:
    """Run deliveries whose retry time has come or whose task was lost."""
    due = deliveries_due(now=timezone.now())
    eager = bool(sweep_deliveries.app.conf.task_always_eager)
    for organization_id, delivery_id in due:
        if not eager:
            deliver_message.delay(organization_id, delivery_id)  # the workers share the load
            continue
        try:
            deliver_message(organization_id, delivery_id)
        except Exception:
            logger.exception("delivery %s could not be attempted", delivery_id)
    return len(due)


@shared_task(name="inbox.fetch_customer_profile", ignore_result=True)
def fetch_customer_profile(organization_id: int, identity_id: int) -> bool:
    """Fill a new customer's name and picture from the platform. Best effort: any failure
    leaves the customer as they are (Meta has no profile for some accounts)."""
    with tenant_scope(organization_id):
        identity = (
            CustomerIdentity.objects.select_related("channel", "customer")
            .filter(organization_id=organization_id, pk=identity_id)
            .first()
        )
        if identity is None:
            return False
        channel = identity.channel
        found = connector_for(channel.kind).fetch_profile(
            channel.credentials or {}, identity.platform_user_id
        )
        if found is None:
            return False
        customer_identify(
            organization=channel.organization,
            channel=channel,
            platform_user_id=identity.platform_user_id,
            profile=storable_profile(found),
        )
        return True


@shared_task(name="inbox.sweep_timers", ignore_result=True)
def sweep_timers() -> dict[str, int]:
    """Everything whose time has come: SLA breaches (with their escalation) and warnings,
    snoozes, follow-ups, auto-resolve. Beat runs it every second; it reads only due rows
    through partial indexes, and each item is claimed once, so overlapping runs are harmless.
    """
    result = timers_run_due()
    if result.total():
        logger.info("timers: %s", result)
    return {
        "breached": result.breached,
        "warned": result.warned,
        "woken": result.woken,
        "followed_up": result.followed_up,
        "auto_resolved": result.auto_resolved,
    }


@shared_task(name="inbox.sla_recompute_organization", ignore_result=True)
def sla_recompute_organization(organization_id: int) -> int:
    """Re-time the organization's running SLA clocks after its policies or hours changed."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    return recompute_organization(organization=organization)
