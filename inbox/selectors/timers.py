"""What the timer sweep reads: only rows whose time has come, through partial indexes.

Cross-tenant on purpose (one sweep serves every organization), hence `all_tenants`. Each
query is a range scan of a partial index that holds only rows that can still come due, so a
sweep costs the same whether there are a hundred or a million conversations; a PostgreSQL
test checks the plans (tests/inbox/test_sla_postgres.py).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from inbox.models import (
    Conversation,
    ConversationStatus,
    FollowUp,
    SLAClock,
    SLAClockState,
)

# Clocks whose deadline can still pass.
COUNTING = (SLAClockState.RUNNING, SLAClockState.WARNING)


def clocks_to_breach(*, now: datetime) -> QuerySet[SLAClock]:
    """Counting clocks at or past their deadline, earliest first (index sla_clock_breach_due)."""
    return SLAClock.all_tenants.filter(state__in=COUNTING, due_at__lte=now).order_by("due_at")


def clocks_to_warn(*, now: datetime) -> QuerySet[SLAClock]:
    """Running clocks past their warning threshold but not yet due (index sla_clock_warn_due);
    the due ones are breached instead, without a warning first."""
    return SLAClock.all_tenants.filter(
        state=SLAClockState.RUNNING, warn_at__lte=now, due_at__gt=now
    ).order_by("warn_at")


def snoozes_to_wake(*, now: datetime) -> QuerySet[Conversation]:
    """Snoozed conversations whose time has come (index conversation_snooze_due)."""
    return Conversation.all_tenants.filter(
        status=ConversationStatus.SNOOZED, snoozed_until__lte=now
    ).order_by("snoozed_until")


def follow_ups_due(*, now: datetime) -> QuerySet[FollowUp]:
    """Follow-ups neither done nor cancelled whose time has come (index follow_up_due)."""
    return FollowUp.all_tenants.filter(
        done_at__isnull=True, cancelled_at__isnull=True, at__lte=now
    ).order_by("at")


def auto_resolves_due(*, now: datetime) -> QuerySet[Conversation]:
    """Pending conversations past their organization's auto-resolve delay
    (index conversation_auto_resolve_due)."""
    return Conversation.all_tenants.filter(
        status=ConversationStatus.PENDING, auto_resolve_at__isnull=False, auto_resolve_at__lte=now
    ).order_by("auto_resolve_at")
