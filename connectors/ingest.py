"""From a verified POST to domain rows: store, route, process, retry.

`accept` runs inside the webhook request and must stay cheap: a parse decides 400 / ignored /
accepted, one INSERT makes the raw event durable with that verdict; the caller then enqueues
`process`.
`process` runs in a Celery worker (or inline when Celery is eager) and is idempotent: every
service it calls is keyed on platform ids, so a retry or a replay never doubles anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from datetime import timedelta
from enum import Enum
from typing import Any

from django.utils import timezone

from connectors.base import (
    Attachment,
    IgnoredEvent,
    InboundMessage,
    InvalidPayloadError,
    NormalizedEvent,
    OutboundEcho,
    PersonProfile,
    ReferralEvent,
    StatusWatermark,
)
from connectors.registry import connector_for
from inbox.models import Channel, WebhookEvent, WebhookEventStatus
from inbox.services.conversations import conversation_record_referral
from inbox.services.customers import Profile
from inbox.services.delivery import messages_mark_watermark
from inbox.services.messages import message_receive, message_record_echo
from inbox.services.webhooks import (
    channel_routes,
    channel_touch,
    channels_for,
    retry_delay,
    webhook_event_finish,
    webhook_event_record,
)
from inbox.untrusted import clean_json, clean_text, storable_profile

logger = logging.getLogger(__name__)


class Outcome(Enum):
    ACCEPTED = "accepted"
    IGNORED = "ignored"
    INVALID = "invalid"


def accept(*, kind: str, body: bytes, headers: Mapping[str, str]) -> tuple[WebhookEvent, Outcome]:
    """Decide what a verified POST is and store it with that verdict in one INSERT, committed
    on return. The caller answers 200 unless INVALID, and enqueues ACCEPTED events.

    Whatever fails while deciding, the raw POST is stored (unrouted, for the sweep or a replay)
    before the error is raised: an event is never lost, and the platform retries on a 500.
    """
    connector = connector_for(kind)
    try:
        parsed = connector.parse(body)
        channels = channel_routes(kind=kind, external_ids=_channel_ids(parsed))
    except InvalidPayloadError as exc:
        failed = webhook_event_record(
            kind=kind,
            body=body,
            headers=headers,
            status=WebhookEventStatus.FAILED,
            error=f"invalid payload: {exc}",
        )
        return failed, Outcome.INVALID
    except Exception:
        webhook_event_record(kind=kind, body=body, headers=headers)
        raise
    if not channels:
        ignored = webhook_event_record(
            kind=kind,
            body=body,
            headers=headers,
            status=WebhookEventStatus.IGNORED,
            error="no channel claims it",
        )
        return ignored, Outcome.IGNORED
    # The event belongs to a tenant when the whole POST is for one channel.
    only = next(iter(channels.values())) if len(channels) == 1 else None
    event = webhook_event_record(kind=kind, body=body, headers=headers, channel=only)
    return event, Outcome.ACCEPTED


def _channel_ids(events: list[NormalizedEvent]) -> set[str]:
    return {e.channel_id for e in events if e.channel_id is not None}


def process(event_id: int) -> str:
    """Turn a stored event into domain rows; returns the final status.

    A failure is recorded on the event with a retry time (exponential backoff); the caller
    (the Celery task, the sweep or replay_webhooks) decides when to run it again.
    """
    event = WebhookEvent.all_tenants.get(pk=event_id)
    connector = connector_for(event.kind)
    try:
        parsed = connector.parse(bytes(event.body))
    except InvalidPayloadError as exc:
        webhook_event_finish(event, status=WebhookEventStatus.FAILED, error=str(exc))
        return WebhookEventStatus.FAILED
    errors: list[str] = []
    handled = 0
    try:
        channels = channels_for(kind=event.kind, external_ids=_channel_ids(parsed))
        for item in parsed:
            channel = channels.get(item.channel_id or "")
            if channel is None or isinstance(item, IgnoredEvent):
                continue
            # One bad item must not hold back the other customers' messages of the batch;
            # every service is idempotent, so the retry re-applies the whole batch safely.
            try:
                _apply(item, channel)
                handled += 1
            except Exception as exc:
                logger.exception("webhook event %s: an item failed", event_id)
                errors.append(repr(exc))
        now = timezone.now()
        for channel in channels.values():
            channel_touch(channel, now)
    except Exception as exc:
        logger.exception("webhook event %s failed", event_id)
        errors.append(repr(exc))
    if errors:
        retry_at = timezone.now() + timedelta(seconds=retry_delay(event.attempts + 1))
        webhook_event_finish(
            event, status=WebhookEventStatus.FAILED, error="\n".join(errors), retry_at=retry_at
        )
        return WebhookEventStatus.FAILED
    status = WebhookEventStatus.PROCESSED if handled else WebhookEventStatus.IGNORED
    webhook_event_finish(event, status=status)
    return status


def _attachments(items: tuple[Attachment, ...]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = clean_json(
        [
            {"type": a.type, "url": a.url, **({"data": dict(a.data)} if a.data else {})}
            for a in items
        ]
    )
    return result


def _profile(profile: PersonProfile | None) -> Profile | None:
    return None if profile is None else storable_profile(profile)


def _apply(item: NormalizedEvent, channel: Channel) -> None:
    organization = channel.organization
    if isinstance(item, InboundMessage):
        metadata = clean_json(dict(item.metadata))
        if item.standby:
            metadata["standby"] = True
        referral = clean_json(asdict(item.referral)) if item.referral else None
        if referral is not None:
            metadata["referral"] = referral
        message_receive(
            organization=organization,
            channel=channel,
            platform_user_id=clean_text(item.customer_id),
            external_id=clean_text(item.external_id),
            text=clean_text(item.text),
            sent_at=item.sent_at,
            attachments=_attachments(item.attachments),
            visibility=item.visibility,
            metadata=metadata,
            profile=_profile(item.profile),
            referral=referral,
        )
    elif isinstance(item, OutboundEcho):
        message_record_echo(
            organization=organization,
            channel=channel,
            platform_user_id=clean_text(item.customer_id),
            external_id=clean_text(item.external_id),
            text=clean_text(item.text),
            sent_at=item.sent_at,
            our_message_id=item.our_message_id,
            from_our_app=item.from_our_app,
            visibility=item.visibility,
            attachments=_attachments(item.attachments),
            profile=_profile(item.profile),
            metadata={"standby": True} if item.standby else None,
        )
    elif isinstance(item, StatusWatermark):
        messages_mark_watermark(
            organization=organization,
            channel=channel,
            platform_user_id=clean_text(item.customer_id),
            status=item.status,
            watermark=item.watermark,
            external_ids=[clean_text(i) for i in item.external_ids],
        )
    elif isinstance(item, ReferralEvent):
        conversation_record_referral(
            organization=organization,
            channel=channel,
            platform_user_id=clean_text(item.customer_id),
            referral=clean_json(asdict(item.referral)),
            at=item.sent_at,
        )
