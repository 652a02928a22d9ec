"""What happens when a time comes: SLA warnings and breaches, snoozes waking, follow-ups,
auto-resolve. The periodic sweep (inbox.tasks.sweep_timers) calls `timers_run_due`.

Each item is claimed under a row lock and re-checked there, so overlapping sweeps, a sweep
racing an agent, and a sweep restarted after a crash all act once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from inbox.errors import ConflictError, DomainError
from inbox.models import (
    Conversation,
    ConversationStatus,
    FollowUp,
    Membership,
    Organization,
)
from inbox.selectors.timers import auto_resolves_due, follow_ups_due, snoozes_to_wake
from inbox.services.conversations import conversation_update
from inbox.services.messages import message_send, note_add, reply_window
from inbox.services.sla import SWEEP_BATCH, sla_clocks_breach_due, sla_clocks_warn_due
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

BATCH = 200
FOLLOW_UP_PREFIX = "Follow-up"


@scoped
@transaction.atomic
def conversation_wake(
    *, organization: Organization, conversation_id: int, now: datetime
) -> Conversation | None:
    """Reopen a snoozed conversation whose time has come; None when it no longer is (woken
    already, re-snoozed, or the customer wrote)."""
    locked = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(
            organization=organization,
            pk=conversation_id,
            status=ConversationStatus.SNOOZED,
            snoozed_until__lte=now,
        )
        .first()
    )
    if locked is None:
        return None
    return conversation_update(
        organization=organization,
        actor=None,
        conversation=locked,
        status=ConversationStatus.OPEN,
    )


@scoped
@transaction.atomic
def follow_up_fire(
    *, organization: Organization, follow_up_id: int, now: datetime
) -> FollowUp | None:
    """A follow-up's time came: reopen its conversation (from resolved, pending or snoozed),
    assign it back to the agent who set it if they are still a member, and post the note as
    an internal note. None when it was done or cancelled meanwhile.

    When a resolved conversation cannot reopen because the customer has a newer one open on
    the same channel, it stays resolved; the note is still posted on it.
    """
    follow_up = (
        FollowUp.objects.select_for_update()
        .filter(
            organization=organization,
            pk=follow_up_id,
            done_at__isnull=True,
            cancelled_at__isnull=True,
            at__lte=now,
        )
        .first()
    )
    if follow_up is None:
        return None
    follow_up.done_at = now
    follow_up.save(update_fields=["done_at"])
    conversation = Conversation.objects.get(organization=organization, pk=follow_up.conversation_id)
    setter = (
        Membership.objects.select_related("user")
        .filter(organization=organization, user_id=follow_up.assign_back_to_id)
        .first()
        if follow_up.assign_back_to_id
        else None
    )
    changes: dict[str, Any] = {}
    if conversation.status != ConversationStatus.OPEN:
        changes["status"] = ConversationStatus.OPEN
    if setter is not None:
        changes["assignee_id"] = setter.user_id
    if changes:
        try:
            conversation = conversation_update(
                organization=organization, actor=None, conversation=conversation, **changes
            )
        except ConflictError:
            changes.pop("status", None)
            if changes:
                conversation = conversation_update(
                    organization=organization, actor=None, conversation=conversation, **changes
                )
    text = f"{FOLLOW_UP_PREFIX}: {follow_up.note}" if follow_up.note else FOLLOW_UP_PREFIX
    note_add(
        organization=organization,
        actor=setter,
        conversation=conversation,
        text=text,
        idempotency_key=f"follow-up-{follow_up.pk}",
    )
    return follow_up


@scoped
@transaction.atomic
def conversation_auto_resolve(
    *, organization: Organization, conversation_id: int, now: datetime
) -> Conversation | None:
    """Resolve a conversation left pending past the organization's delay, after sending its
    closing message when there is one and the reply window is fully open (no message tag is
    meant for automated messages). None when it is no longer due."""
    locked = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(
            organization=organization,
            pk=conversation_id,
            status=ConversationStatus.PENDING,
            auto_resolve_at__lte=now,
        )
        .first()
    )
    if locked is None:
        return None
    closing = organization.auto_resolve_message.strip()
    if closing and reply_window(locked, now=now).state == "open":
        try:
            message_send(
                organization=organization,
                actor=None,
                conversation=locked,
                text=closing,
                idempotency_key=f"auto-resolve-{locked.pk}-{_stamp(locked.pending_since)}",
            )
        except DomainError as exc:
            logger.info("auto-resolve of %s: closing message not sent (%s)", locked.pk, exc)
    return conversation_update(
        organization=organization,
        actor=None,
        conversation=locked,
        status=ConversationStatus.RESOLVED,
    )


def _stamp(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


@dataclass
class SweepResult:
    breached: int = 0
    warned: int = 0
    woken: int = 0
    followed_up: int = 0
    auto_resolved: int = 0

    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def _each(
    due: list[tuple[int, int]],
    action: Callable[..., object | None],
    id_name: str,
    now: datetime,
) -> int:
    """Run `action` for each (row id, organization id), one transaction each; a failure is
    logged and left for the next sweep."""
    if not due:
        return 0
    organizations = Organization.objects.in_bulk({org for _, org in due})
    done = 0
    for pk, organization_id in due:
        try:
            if action(organization=organizations[organization_id], now=now, **{id_name: pk}):
                done += 1
        except Exception:
            logger.exception("timer %s failed for %s %s", action.__name__, id_name, pk)
    return done


def _round(now: datetime) -> tuple[SweepResult, bool]:
    """One pass over everything due at `now`; True when a batch was full (more may be due)."""
    snoozes = list(snoozes_to_wake(now=now).values_list("pk", "organization_id")[:BATCH])
    follow_ups = list(follow_ups_due(now=now).values_list("pk", "organization_id")[:BATCH])
    resolves = list(auto_resolves_due(now=now).values_list("pk", "organization_id")[:BATCH])
    result = SweepResult(
        breached=sla_clocks_breach_due(now=now, limit=SWEEP_BATCH),
        warned=sla_clocks_warn_due(now=now, limit=SWEEP_BATCH),
        woken=_each(snoozes, conversation_wake, "conversation_id", now),
        followed_up=_each(follow_ups, follow_up_fire, "follow_up_id", now),
        auto_resolved=_each(resolves, conversation_auto_resolve, "conversation_id", now),
    )
    full = max(result.breached, result.warned) >= SWEEP_BATCH or BATCH in (
        len(snoozes),
        len(follow_ups),
        len(resolves),
    )
    return result, full


def timers_run_due(*, now: datetime | None = None, budget: float = 3.0) -> SweepResult:
    """Everything whose time has come. One pass reads each kind once, breaches first (the
    most urgent news); it goes on only while batches come back full (a backlog, after an
    outage) and for at most `budget` seconds: the next sweep carries on."""
    total = SweepResult()
    started = time.monotonic()
    while True:
        result, full = _round(now or timezone.now())
        for f in fields(SweepResult):
            setattr(total, f.name, getattr(total, f.name) + getattr(result, f.name))
        if not full or time.monotonic() - started > budget:
            return total
        now = None  # a fresh "now" for the next round
