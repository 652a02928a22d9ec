"""From a verified POST to domain rows: store, route, process, retry.

`accept` runs inside the webhook request and must stay cheap: a parse decides 400 / ignored /
accepted, one INSERT makes the raw event durable with that verdict; the caller then enqueues
`process`.
`process` runs in a Celery worker (or inline when Celery is eager) and is idempotent: every
service it calls is keyed on platform ids, so a retry or a replay never doubles anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.base import (
    AccessRevoked,
    Attachment,
    ContentDeleted,
    CustomerAction,
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
from inbox.services.channels import channel_needs_reauthorization
from inbox.services.conversations import (
    conversation_record_customer_action,
    conversation_record_referral,
)
from inbox.services.customers import Profile
from inbox.services.delivery import messages_mark_watermark
from inbox.services.messages import (
    Incoming,
    message_delete_by_author,
    message_record_echo,
    messages_receive,
)
from inbox.services.webhooks import (
    EventOutcome,
    channel_routes,
    channel_touch,
    channels_for,
    commit_without_waiting_for_disk,
    messages_stored,
    people_lock,
    retry_delay,
    webhook_event_fail,
    webhook_event_record,
    webhook_events_claim,
    webhook_events_finish,
    webhook_events_scrub_post,
)
from inbox.untrusted import clean_json, clean_text, storable_profile

logger = logging.getLogger(__name__)

UNCLAIMED = "no channel claims it"


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
        channels = channel_routes(kind=kind, external_ids=channel_ids(parsed))
    except InvalidPayloadError as exc:
        failed = webhook_event_record(
            kind=kind,
            body=body,
            headers=headers,
            status=WebhookEventStatus.FAILED,
            error=invalid_payload_error(exc),
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
            error=UNCLAIMED,
        )
        return ignored, Outcome.IGNORED
    # The event belongs to a tenant when the whole POST is for one channel.
    only = next(iter(channels.values())) if len(channels) == 1 else None
    event = webhook_event_record(kind=kind, body=body, headers=headers, channel=only)
    return event, Outcome.ACCEPTED


def channel_ids(events: list[NormalizedEvent]) -> set[str]:
    """The platform ids (page, X account) a parsed POST is for: what routes it."""
    return {e.channel_id for e in events if e.channel_id is not None}


def invalid_payload_error(exc: InvalidPayloadError) -> str:
    return f"invalid payload: {exc}"


# How much one worker turns into rows in one transaction: up to BATCH_SIZE stored events, cut
# after the event that brings its customer messages to MESSAGE_BUDGET. Under a burst a batch
# shares BEGIN/COMMIT, the look-ups, the duplicate check and the status UPDATE among its
# events, and known customers' messages are stored in bulk; alone, an event is its own batch.
# Small enough that the locks taken on the way (conversations, the organization's numbering
# when a conversation starts) are held for tens of milliseconds, not seconds.
BATCH_SIZE = 20
MESSAGE_BUDGET = 50


def process(event_id: int) -> str:
    """Turn one stored event into domain rows, whatever its status (replay); returns the final
    status. A failure is recorded on the event with a retry time (exponential backoff); the
    caller (the Celery task, the sweep or replay_webhooks) decides when to run it again.
    """
    event = WebhookEvent.all_tenants.get(pk=event_id)
    return process_events([event])[event.pk]


@dataclass(frozen=True)
class Batch:
    statuses: dict[int, str]  # event id → final status
    left: list[int]  # claimed but over the budget: received still, for the next task


def process_pending(event_id: int, *, limit: int = BATCH_SIZE) -> Batch:
    """Process `event_id` (received, or failed and due again) with other received events,
    oldest first, in one transaction: up to `limit` events and MESSAGE_BUDGET messages.

    Events are claimed with FOR UPDATE SKIP LOCKED: two workers never take the same event, an
    event another worker holds is left to it, and an event processed meanwhile (its own task
    arriving after a batch took it) is skipped. The domain rows and the events' statuses
    commit together. Claimed events over the budget are returned in `left`, untouched; the
    caller hands them to a worker again (their own tasks may have passed already).

    Items fail alone (each service has its savepoint). Should the batch itself fail, one bad
    event must not hold back its neighbours: `event_id` is retried alone, and if it fails
    alone it is marked failed (out of the received pool, retried with backoff); the others
    go back in `left`.
    """
    claimed: list[int] = []
    try:
        return _process_batch(event_id, limit=limit, claimed=claimed)
    except Exception:
        logger.exception("webhook batch of event %s failed; retrying the event alone", event_id)
    others = [pk for pk in claimed if pk != event_id]
    try:
        alone = _process_batch(event_id, limit=1, claimed=[])
    except Exception as exc:
        logger.exception("webhook event %s failed alone", event_id)
        webhook_event_fail(event_id, error=repr(exc))
        return Batch({event_id: WebhookEventStatus.FAILED}, others)
    return Batch(alone.statuses, others + alone.left)


def _process_batch(event_id: int, *, limit: int, claimed: list[int]) -> Batch:
    with transaction.atomic():
        events = webhook_events_claim(event_id, limit=limit)
        claimed += [event.pk for event in events]
        parsed = _parse_events(events)
        taken: list[WebhookEvent] = []
        messages = 0
        for event in events:
            if taken and messages >= MESSAGE_BUDGET:
                break
            taken.append(event)
            items = parsed[event.pk]
            if not isinstance(items, Exception):
                messages += sum(isinstance(item, InboundMessage) for item in items)
        statuses = _apply_events(taken, parsed) if taken else {}
    return Batch(statuses, [event.pk for event in events[len(taken) :]])


Parsed = dict[int, list[NormalizedEvent] | Exception]


def _parse_events(events: list[WebhookEvent]) -> Parsed:
    """Each event's normalized items, or why its body could not be read: not the platform's
    envelope (permanent), or a parser that broke on it (retried: a fix may be deployed)."""
    parsed: Parsed = {}
    for event in events:
        try:
            parsed[event.pk] = connector_for(event.kind).parse(bytes(event.body))
        except Exception as exc:
            if not isinstance(exc, InvalidPayloadError):
                logger.exception("webhook event %s: the parser failed", event.pk)
            parsed[event.pk] = exc
    return parsed


def process_events(events: list[WebhookEvent]) -> dict[int, str]:
    """Apply stored events in one transaction; returns their final statuses.

    Items are applied in order. Consecutive customer messages are gathered per channel and
    stored together (`messages_receive`, in bulk for known customers); echoes, receipts and
    referrals go through their services one at a time. One bad item must not hold back the
    other customers' messages: each service runs in a savepoint, the item's event is marked
    failed with a retry time and the rest commit. Every service is idempotent, so the retry
    re-applies the whole event safely.
    """
    return _apply_events(events, _parse_events(events))


def _apply_events(events: list[WebhookEvent], parsed: Parsed) -> dict[int, str]:
    with transaction.atomic():
        work: list[tuple[WebhookEvent, list[NormalizedEvent]]] = []
        results = {event.pk: _Result() for event in events}
        for event in events:
            items = parsed[event.pk]
            if isinstance(items, InvalidPayloadError):
                results[event.pk].fail(str(items), retry=False)
            elif isinstance(items, Exception):
                results[event.pk].fail(repr(items))
            else:
                work.append((event, items))
        routes = _routes(work)
        commit_without_waiting_for_disk()
        people_lock(_lock_keys(work, routes))
        known = _Known(_stored_messages(work, routes))
        run = _MessageRun(results)
        for event, items in work:
            for item in items:
                channel = routes.get((event.kind, item.channel_id or ""))
                if channel is None or isinstance(item, IgnoredEvent):
                    continue
                results[event.pk].handled += 1
                _take(item, channel, event.pk, known, run)
        run.flush()
        known.scrub_events()
        now = timezone.now()
        for _, channel in sorted({c.pk: c for c in routes.values()}.items()):  # lock order
            channel_touch(channel, now)
        webhook_events_finish(
            [
                EventOutcome(
                    event=event,
                    status=result.status,
                    error="\n".join(result.errors),
                    retry_at=now + timedelta(seconds=retry_delay(event.attempts + 1))
                    if result.retry and result.errors
                    else None,
                )
                for event in events
                for result in (results[event.pk],)
            ],
            now=now,
        )
    return {pk: result.status for pk, result in results.items()}


@dataclass
class _Result:
    """How one event's items went."""

    handled: int = 0
    errors: list[str] = field(default_factory=list)
    retry: bool = True

    def fail(self, error: str, *, retry: bool = True) -> None:
        self.errors.append(error)
        self.retry = self.retry and retry

    @property
    def status(self) -> str:
        if self.errors:
            return WebhookEventStatus.FAILED
        return WebhookEventStatus.PROCESSED if self.handled else WebhookEventStatus.IGNORED


class _MessageRun:
    """Customer messages waiting to be stored together, per channel, with their events."""

    def __init__(self, results: dict[int, _Result]) -> None:
        self.results = results
        self.by_channel: dict[int, tuple[Channel, list[int], list[Incoming]]] = {}

    def add(self, event_id: int, channel: Channel, incoming: Incoming) -> None:
        _, event_ids, items = self.by_channel.setdefault(channel.pk, (channel, [], []))
        event_ids.append(event_id)
        items.append(incoming)

    def flush(self) -> None:
        for channel, event_ids, items in self.by_channel.values():
            try:
                failures = messages_receive(
                    organization=channel.organization, channel=channel, incoming=items
                )
            except Exception as broken:  # the service isolates items; this is a last resort
                logger.exception("webhook events %s: storing messages failed", event_ids)
                failures = dict.fromkeys(range(len(items)), broken)
            for index, error in failures.items():
                logger.error("webhook event %s: a message failed: %r", event_ids[index], error)
                self.results[event_ids[index]].fail(repr(error))
        self.by_channel = {}


def _routes(
    work: list[tuple[WebhookEvent, list[NormalizedEvent]]],
) -> dict[tuple[str, str], Channel]:
    """(kind, platform channel id) → channel, for every item of the batch, in one query per
    platform."""
    wanted: dict[str, set[str]] = {}
    for event, parsed in work:
        wanted.setdefault(event.kind, set()).update(channel_ids(parsed))
    return {
        (kind, external_id): channel
        for kind, ids in wanted.items()
        for external_id, channel in channels_for(kind=kind, external_ids=ids).items()
    }


@dataclass
class _Known:
    """What the batch must not store again: (channel id, platform id) -> whether it is a post
    its author deleted; and the raw events found holding such a post, to scrub."""

    keys: dict[tuple[int, str], bool]
    scrub: list[tuple[int, Channel, str]] = field(default_factory=list)

    def scrub_events(self) -> None:
        """Leave the deleted posts out of the raw events that still carried them."""
        for event_pk, channel, post_id in self.scrub:
            webhook_events_scrub_post(
                organization=channel.organization,
                channel=channel,
                post_id=post_id,
                without_post=connector_for(channel.kind).without_post,
                event_ids=[event_pk],
            )


def _take(
    item: NormalizedEvent,
    channel: Channel,
    event_pk: int,
    known: _Known,
    run: _MessageRun,
) -> None:
    """One routed item of the batch: customer messages join the run (stored in bulk), the
    rest apply one by one, in payload order."""
    key = (channel.pk, clean_text(getattr(item, "external_id", "")))
    if isinstance(item, InboundMessage | OutboundEcho) and key in known.keys:
        # A redelivery, twice in this batch, or a post deleted before it came (a replay):
        # then not even the raw event keeps it.
        if known.keys[key]:
            known.scrub.append((event_pk, channel, key[1]))
        return
    if isinstance(item, InboundMessage):
        known.keys[key] = False
        run.add(event_pk, channel, _incoming(item))
        return
    run.flush()
    try:
        _apply(item, channel)
    except Exception as exc:
        logger.exception("webhook event %s: an item failed", event_pk)
        run.results[event_pk].fail(repr(exc))
        return
    if isinstance(item, ContentDeleted):  # the post, later in this batch, stays out
        known.keys[key] = True


def _lock_keys(
    work: list[tuple[WebhookEvent, list[NormalizedEvent]]],
    routes: dict[tuple[str, str], Channel],
) -> Iterator[tuple[int, str]]:
    """What the batch locks (inbox.services.webhooks.people_lock): every person it touches,
    and every public post it stores or deletes, since a post and its deletion may arrive in
    two batches on two workers, filed under two people (the customer, and the brand that
    deleted its own reply): one must commit before the other reads what is stored."""
    for event, parsed in work:
        for item in parsed:
            if isinstance(item, IgnoredEvent | AccessRevoked):
                continue
            channel = routes.get((event.kind, item.channel_id or ""))
            if channel is None:
                continue
            yield channel.pk, item.customer_id
            if isinstance(item, ContentDeleted) or (
                isinstance(item, InboundMessage | OutboundEcho) and item.visibility == "public"
            ):
                yield channel.pk, f"post:{clean_text(item.external_id)}"


def _stored_messages(
    work: list[tuple[WebhookEvent, list[NormalizedEvent]]],
    routes: dict[tuple[str, str], Channel],
) -> dict[tuple[int, str], bool]:
    """(channel id, platform message id) of the batch's messages (the customers', and the
    brand's echoes) already stored, or deleted by their author, in one query: a redelivery (or
    a post delivered after its deletion) is skipped without touching its conversation."""
    keys = {
        (channel.pk, clean_text(item.external_id))
        for event, parsed in work
        for item in parsed
        if isinstance(item, InboundMessage | OutboundEcho)
        for channel in [routes.get((event.kind, item.channel_id or ""))]
        if channel is not None
    }
    return messages_stored(keys)


def _incoming(item: InboundMessage) -> Incoming:
    metadata = clean_json(dict(item.metadata))
    if item.standby:
        metadata["standby"] = True
    referral = clean_json(asdict(item.referral)) if item.referral else None
    if referral is not None:
        metadata["referral"] = referral
    return Incoming(
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
    """One echo, receipt, referral, reaction or revocation (customer messages go through
    _MessageRun)."""
    organization = channel.organization
    if isinstance(item, OutboundEcho):
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
            metadata=clean_json(dict(item.metadata)) | ({"standby": True} if item.standby else {}),
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
    elif isinstance(item, CustomerAction):
        conversation_record_customer_action(
            organization=organization,
            channel=channel,
            platform_user_id=clean_text(item.customer_id),
            at=item.sent_at,
        )
    elif isinstance(item, ContentDeleted):
        post_id = clean_text(item.external_id)
        message_delete_by_author(
            organization=organization,
            channel=channel,
            external_id=post_id,
            deleted_at=item.deleted_at,
        )
        webhook_events_scrub_post(  # and from the raw events we keep
            organization=organization,
            channel=channel,
            post_id=post_id,
            without_post=connector_for(channel.kind).without_post,
            posted_at=item.posted_at,
        )
    elif isinstance(item, AccessRevoked):
        channel_needs_reauthorization(
            organization=organization,
            channel_id=channel.pk,
            reason="The account removed Parley's access: reconnect the channel.",
        )
