"""Raw webhook events: stored before anything is parsed, then routed and processed.

These functions cross tenants on purpose (a POST is not yet anyone's until its page id is
mapped), so they use the `all_tenants` managers; nothing here reads domain rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from inbox.models import (
    Channel,
    DeletedPost,
    Message,
    Organization,
    WebhookEvent,
    WebhookEventStatus,
)

# Backoff between processing attempts: 5 s, 20 s, 80 s, ... capped at one hour.
RETRY_BASE_SECONDS = 5
RETRY_CAP_SECONDS = 3600
# A "received" event older than this was never picked up (lost enqueue, crash): re-drive it.
STALE_AFTER = timedelta(seconds=60)
# How fresh `Channel.last_event_at` is kept: a watchdog counts in minutes.
TOUCH_RESOLUTION = timedelta(seconds=10)


def retry_delay(attempts: int) -> float:
    return float(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 4 ** max(0, attempts - 1)))


def webhook_event_record(
    *,
    kind: str,
    body: bytes,
    headers: Mapping[str, str],
    status: str = WebhookEventStatus.RECEIVED,
    error: str = "",
    channel: Channel | None = None,
) -> WebhookEvent:
    """Durably store a verified POST exactly as received (one INSERT, committed on return),
    with what routing decided: its status and, when one channel claims the whole POST, that
    channel and its organization (the event's tenant)."""
    return WebhookEvent.all_tenants.create(
        kind=kind,
        body=body,
        headers=dict(headers),
        status=status,
        error=error[:10_000],
        channel=channel,
        organization_id=channel.organization_id if channel is not None else None,
    )


def channels_for(*, kind: str, external_ids: Iterable[str]) -> dict[str, Channel]:
    """Map platform ids (page id, X user id) to their channels, across tenants."""
    ids = set(external_ids)
    if not ids:
        return {}
    channels = Channel.all_tenants.select_related("organization").filter(
        kind=kind, external_id__in=ids
    )
    return {channel.external_id: channel for channel in channels}


def channel_routes(*, kind: str, external_ids: Iterable[str]) -> dict[str, Channel]:
    """Like channels_for, for routing a POST while the platform waits: only the ids are loaded
    (no organization, no credentials to decrypt)."""
    ids = set(external_ids)
    if not ids:
        return {}
    channels = Channel.all_tenants.filter(kind=kind, external_id__in=ids).only(
        "id", "organization_id", "external_id"
    )
    return {channel.external_id: channel for channel in channels}


@dataclass(frozen=True)
class EventOutcome:
    """What one processing attempt of `event` came to; `retry_at` set for a retryable failure."""

    event: WebhookEvent
    status: str
    error: str = ""
    retry_at: datetime | None = None


def webhook_events_finish(outcomes: Iterable[EventOutcome], *, now: datetime) -> None:
    """Record processing attempts: one UPDATE per status for the clean outcomes (the usual
    case, whatever the batch size), one per failed event."""
    clean: dict[str, list[int]] = {}
    for outcome in outcomes:
        if outcome.error or outcome.status == WebhookEventStatus.FAILED:
            WebhookEvent.all_tenants.filter(pk=outcome.event.pk).update(
                status=outcome.status,
                error=outcome.error[:10_000],
                attempts=F("attempts") + 1,
                next_attempt_at=outcome.retry_at,
                processed_at=None,
            )
        else:
            clean.setdefault(outcome.status, []).append(outcome.event.pk)
    for status, ids in clean.items():
        WebhookEvent.all_tenants.filter(pk__in=ids).update(
            status=status,
            error="",
            attempts=F("attempts") + 1,
            next_attempt_at=None,
            processed_at=now if status == WebhookEventStatus.PROCESSED else None,
        )


def webhook_event_fail(event_id: int, *, error: str) -> None:
    """Record a failed processing attempt of one event outside any batch (its batch and its
    retry alone both failed): failed, retried with backoff, out of the received pool that
    every batch draws from."""
    event = WebhookEvent.all_tenants.only("attempts").filter(pk=event_id).first()
    if event is None:
        return
    retry_at = timezone.now() + timedelta(seconds=retry_delay(event.attempts + 1))
    WebhookEvent.all_tenants.filter(pk=event_id).update(
        status=WebhookEventStatus.FAILED,
        error=error[:10_000],
        attempts=F("attempts") + 1,
        next_attempt_at=retry_at,
        processed_at=None,
    )


def webhook_events_claim(event_id: int, *, limit: int) -> list[WebhookEvent]:
    """Lock `event_id` (when received, or failed: its retry) and up to `limit - 1` other
    received events, oldest first, skipping rows other workers hold. Call inside a
    transaction; the locks last until it ends. Two index look-ups, whatever the backlog."""
    statuses = [WebhookEventStatus.RECEIVED, WebhookEventStatus.FAILED]
    own = _lockable(WebhookEvent.all_tenants.filter(pk=event_id, status__in=statuses))
    others = _lockable(
        WebhookEvent.all_tenants.filter(status=WebhookEventStatus.RECEIVED).exclude(pk=event_id)
    ).order_by("received_at")
    claimed = list(own)
    return claimed + list(others[: limit - len(claimed)])


def _lockable(events: QuerySet[WebhookEvent]) -> QuerySet[WebhookEvent]:
    if connection.features.has_select_for_update_skip_locked:
        return events.select_for_update(skip_locked=True)
    return events  # SQLite: one writer at a time anyway


def commit_without_waiting_for_disk() -> None:
    """Let the current transaction's COMMIT return before its WAL reaches the disk
    (PostgreSQL's synchronous_commit = off, this transaction only): a few milliseconds per
    batch, most of a quiet inbox's processing time. Safe for processing stored events only:
    a crash may forget the last fraction of a second of commits, rows and the events' status
    together, and the sweep processes those events again from their raw bodies, which the
    receiver committed durably before answering the platform."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def people_lock(people: Iterable[tuple[int, str]]) -> None:
    """Serialise batches per person until the caller's transaction ends (PostgreSQL; SQLite
    has one writer anyway). Two workers' batches with the same (channel id, platform user id)
    would lock that person's conversation, insert their new identity and take the
    organization's numbering in different orders, and deadlock; taking every person's
    advisory lock up front, in key order, in one statement, makes the later batch wait for
    the earlier one instead. Batches about different people run side by side: what they
    share (the organization's numbering row) is taken last, while holding nothing the other
    waits for. Keys are 64-bit hashes, so two people may share one: they just wait."""
    keys = sorted({f"{channel_id}:{person}" for channel_id, person in people})
    if not keys or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM "
            "(SELECT DISTINCT hashtextextended(p, 0) AS k FROM unnest(%s::text[]) AS p) AS s "
            "ORDER BY k",
            [keys],
        )


def messages_stored(keys: Collection[tuple[int, str]]) -> dict[tuple[int, str], bool]:
    """Which (channel id, platform message id) pairs are stored messages already, or posts
    their author deleted (DeletedPost: True), in one query (the unique index on each table's
    pair answers it)."""
    if not keys:
        return {}
    by_channel: dict[int, list[str]] = {}
    for channel_id, external_id in keys:
        by_channel.setdefault(channel_id, []).append(external_id)
    wanted = Q()
    for channel_id, external_ids in by_channel.items():
        wanted |= Q(channel_id=channel_id, external_id__in=external_ids)
    rows = (
        Message.all_tenants.filter(wanted)
        .values_list("channel_id", "external_id", Value(False))
        .union(
            DeletedPost.all_tenants.filter(wanted).values_list(
                "channel_id", "external_id", Value(True)
            )
        )
    )
    stored: dict[tuple[int, str], bool] = {}
    for channel_id, external_id, deleted in rows:
        if external_id:
            key = (channel_id, external_id)
            stored[key] = stored.get(key, False) or bool(deleted)
    return stored


def channel_touch(channel: Channel, at: datetime) -> None:
    """Remember when the channel last heard from its platform (a watchdog reads it).

    Skipped when the loaded row is already within TOUCH_RESOLUTION of `at`: under load every
    event of a page would otherwise update that one hot row.
    """
    if channel.last_event_at is not None and channel.last_event_at >= at - TOUCH_RESOLUTION:
        return
    Channel.all_tenants.filter(pk=channel.pk).filter(
        Q(last_event_at__isnull=True) | Q(last_event_at__lt=at)
    ).update(last_event_at=at)


def webhook_events_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Ids of failed events whose retry time has come, and received ones left stale."""
    due: QuerySet[WebhookEvent] = WebhookEvent.all_tenants.filter(
        Q(status=WebhookEventStatus.FAILED, next_attempt_at__lte=now)
        | Q(status=WebhookEventStatus.RECEIVED, received_at__lte=now - STALE_AFTER)
    )
    return list(due.order_by("received_at").values_list("pk", flat=True)[:limit])


def webhook_events_for_replay(
    *, failed_only: bool, since: datetime | None, ids: Iterable[int] = ()
) -> QuerySet[WebhookEvent]:
    queryset = WebhookEvent.all_tenants.exclude(status=WebhookEventStatus.IGNORED)
    wanted = list(ids)
    if wanted:
        queryset = WebhookEvent.all_tenants.filter(pk__in=wanted)
    if failed_only:
        queryset = queryset.filter(status=WebhookEventStatus.FAILED)
    if since is not None:
        queryset = queryset.filter(received_at__gte=since)
    return queryset.order_by("received_at", "pk")


# ---- what is kept, and for how long -----------------------------------------------------------

PRUNE_CHUNK = 5000


def webhook_events_prune(*, now: datetime) -> int:
    """Delete processed and ignored raw events done with WEBHOOK_RETENTION_DAYS ago, a chunk per
    statement so that no delete holds many locks for long; failed ones stay for
    `replay_webhooks --failed`. Returns how many went."""
    cutoff = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    done = WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED
    # Counted from when processing finished (a replayed event starts again), else receipt.
    old = Q(processed_at__lt=cutoff) | Q(processed_at__isnull=True, received_at__lt=cutoff)
    pruned = 0
    while True:
        ids = list(
            WebhookEvent.all_tenants.filter(old, status__in=done).values_list("pk", flat=True)[
                :PRUNE_CHUNK
            ]
        )
        if not ids:
            return pruned
        pruned += WebhookEvent.all_tenants.filter(pk__in=ids).delete()[0]


def webhook_events_scrub_post(
    *,
    organization: Organization,
    channel: Channel,
    post_id: str,
    without_post: Callable[[bytes, str], bytes | None],
    event_ids: Collection[int] | None = None,
    posted_at: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Leave a post its author deleted out of the raw events we keep: the events given (a
    batch's own), or every kept event of the channel (or of no tenant yet) whose body mentions
    the post's id, received since the post was made (`posted_at`, when known). `without_post`
    is the connector's: it knows where a post sits in a body. Returns how many bodies changed.

    The search skips events a worker holds (they are being processed; finding the tombstone,
    that worker scrubs them as its own) and events still waiting (the same, later), so it
    never waits on, or deadlocks with, another batch.
    """
    if event_ids is not None:
        events = WebhookEvent.all_tenants.filter(pk__in=event_ids)
    else:
        now = now or timezone.now()
        since = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
        if posted_at is not None and posted_at <= now:
            since = max(since, posted_at - timedelta(hours=1))  # clocks differ a little
        done = WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED
        events = (
            WebhookEvent.all_tenants.filter(
                Q(organization=organization, channel=channel)
                | Q(organization__isnull=True, kind=channel.kind)
            )
            .filter(
                Q(status__in=done, received_at__gte=since)
                | Q(status=WebhookEventStatus.FAILED)  # kept until replayed, whatever its age
            )
            .select_for_update(skip_locked=True)
        )
        events = _mentioning(events, post_id.encode())
    changed = 0
    for event in events.only("pk", "body"):
        body = without_post(bytes(event.body), post_id)
        if body is not None:
            WebhookEvent.all_tenants.filter(pk=event.pk).update(body=body)
            changed += 1
    return changed


def _mentioning(events: QuerySet[WebhookEvent], needle: bytes) -> QuerySet[WebhookEvent]:
    """The events whose raw body contains `needle`, searched by the database."""
    function = (
        "position(%s::bytea in body)" if connection.vendor == "postgresql" else ("instr(body, %s)")
    )
    # A bound parameter, not text pasted into SQL.
    found = RawSQL(function, (needle,))  # noqa: S611
    return events.annotate(found=found).filter(found__gt=0)
