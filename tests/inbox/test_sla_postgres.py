"""PostgreSQL: the sweep reads due rows through its partial indexes (never a scan of every
conversation or clock), and two sweeps running at the same moment announce each deadline once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from inbox.events import Event
from inbox.models import (
    Conversation,
    ConversationStatus,
    FollowUp,
    SLAClock,
    SLAClockState,
    SLAMetric,
)
from inbox.selectors.timers import (
    auto_resolves_due,
    clocks_to_breach,
    clocks_to_warn,
    follow_ups_due,
    snoozes_to_wake,
)
from inbox.services.sla import sla_clocks_breach_due
from tests.factories import ConversationFactory, CustomerFactory, OrganizationFactory

pytestmark = pytest.mark.postgres

ROWS = 3000


def _bulk(now: Any) -> None:
    """Thousands of conversations and clocks, nearly all of them not due (met, or later)."""
    organization = OrganizationFactory()
    conversation = ConversationFactory(customer=CustomerFactory(organization=organization))
    customers = CustomerFactory._meta.model.all_tenants.bulk_create(
        [CustomerFactory.build(organization=organization) for _ in range(ROWS)]
    )
    statuses = [ConversationStatus.OPEN, ConversationStatus.RESOLVED, ConversationStatus.PENDING]
    conversations = Conversation.all_tenants.bulk_create(
        [
            Conversation(
                organization=organization,
                number=1_000_000 + n,
                customer=customer,
                channel=conversation.channel,
                status=statuses[n % 3],
                snoozed_until=None,
            )
            for n, customer in enumerate(customers)
        ]
    )
    clocks = []
    for n, c in enumerate(conversations):
        due = now + timedelta(minutes=10 + n)
        running = n % 2 == 0
        clocks.append(
            SLAClock(
                organization=organization,
                conversation=c,
                metric=SLAMetric.RESOLUTION,
                cycle=1,
                target=timedelta(hours=1),
                started_at=now,
                running_since=now if running else None,
                due_at=due,
                warn_at=due - timedelta(minutes=5),
                state=SLAClockState.RUNNING if running else SLAClockState.MET,
            )
        )
    SLAClock.all_tenants.bulk_create(clocks)
    FollowUp.all_tenants.bulk_create(
        [
            FollowUp(organization=organization, conversation=c, at=now + timedelta(days=1))
            for c in conversations[:500]
        ]
    )
    with connection.cursor() as cursor:
        for table in ("inbox_slaclock", "inbox_conversation", "inbox_followup"):
            cursor.execute(f"ANALYZE {table}")


@pytest.mark.django_db
def test_every_sweep_query_uses_its_partial_index() -> None:
    now = timezone.now()
    _bulk(now)
    expected = {
        "sla_clock_breach_due": clocks_to_breach(now=now),
        "sla_clock_warn_due": clocks_to_warn(now=now),
        "conversation_snooze_due": snoozes_to_wake(now=now),
        "follow_up_due": follow_ups_due(now=now),
        "conversation_auto_resolve_due": auto_resolves_due(now=now),
    }
    for index, queryset in expected.items():
        # What the sweep runs: the ids of the first batch.
        plan = queryset.values_list("pk", flat=True)[:500].explain()
        assert index in plan, f"{index} unused:\n{plan}"
        assert "Seq Scan" not in plan, plan


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_announce_each_breach_once(published: list[Event]) -> None:
    now = timezone.now()
    due = []
    for _ in range(20):
        conversation = ConversationFactory()
        due.append(
            SLAClock.all_tenants.create(
                organization=conversation.organization,
                conversation=conversation,
                metric=SLAMetric.FIRST_RESPONSE,
                cycle=1,
                target=timedelta(minutes=15),
                started_at=now - timedelta(minutes=20),
                running_since=now - timedelta(minutes=20),
                due_at=now - timedelta(minutes=5),
                warn_at=now - timedelta(minutes=9),
            )
        )
        Conversation.all_tenants.filter(pk=conversation.pk).update(sla_cycle=1)
    start = threading.Barrier(4)
    counts: list[int] = []

    def sweep() -> None:
        try:
            start.wait()
            counts.extend(sla_clocks_breach_due(now=timezone.now(), limit=7) for _ in range(3))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Overlapping sweeps skip rows another one holds (SKIP LOCKED), so a few may be left for
    # the next tick; what must hold is that none is ever announced twice.
    counts.append(sla_clocks_breach_due(now=timezone.now(), limit=100))
    breaches = [e for e in published if e.name == "sla.breached"]
    assert sum(counts) == 20
    assert sorted(e.payload["clock_id"] for e in breaches) == sorted(c.pk for c in due)
    assert set(SLAClock.all_tenants.values_list("state", flat=True)) == {"breached"}
    assert set(Conversation.all_tenants.values_list("sla_state", flat=True)) == {"breached"}
