"""SLA clocks through the services, on frozen time: when each metric starts, is met, pauses and
resumes, and the deadline arithmetic of business hours (midnight, weekends, holidays, DST in
the organization's time zone) as the services apply it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine

from inbox.models import ConversationStatus, Priority, SLAClockState
from inbox.services.conversations import conversation_update
from inbox.services.customers import customer_update
from inbox.services.messages import note_add
from inbox.services.sla_settings import (
    ShiftInput,
    business_hours_save,
    sla_policy_create,
    sla_policy_update,
)
from tests.inbox.sla_support import (
    LONDON,
    Tenant,
    clocks,
    fresh,
    local,
    make_tenant,
    receive,
    reply,
    states,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday
MIN = timedelta(minutes=1)


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant()


def _business_hours(tenant: Tenant, *shifts: tuple[int, str, str], holidays: Any = ()) -> None:
    business_hours_save(
        organization=tenant.organization,
        actor=tenant.admin,
        channel_id=None,
        time_zone=LONDON,
        shifts=[ShiftInput(d, time.fromisoformat(a), time.fromisoformat(b)) for d, a, b in shifts],
        holidays=holidays,
    )
    sla_policy_update(
        organization=tenant.organization,
        actor=tenant.admin,
        policy=tenant.default_policy,
        use_business_hours=True,
    )


NINE_TO_FIVE = tuple((d, "09:00", "17:00") for d in range(5))


# ---- which clocks run --------------------------------------------------------------------------


def test_the_first_message_starts_first_response_and_resolution(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0 - 2 * MIN)
    running = clocks(conversation)
    assert set(running) == {"first_response", "resolution"}
    first = running["first_response"]
    assert first.state == SLAClockState.RUNNING
    assert first.started_at == T0 - 2 * MIN
    assert first.due_at == T0 + 13 * MIN
    assert first.warn_at == T0 - 2 * MIN + timedelta(seconds=675)  # 75 % of 15 min
    assert running["resolution"].due_at == T0 - 2 * MIN + timedelta(hours=24)
    assert first.policy_id == tenant.default_policy.pk
    conversation = fresh(conversation)
    assert (conversation.sla_due_at, conversation.sla_state) == (first.due_at, "running")


def test_more_customer_messages_keep_the_first_deadline(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 5 * MIN, tick=False):
        receive(tenant, T0 + 5 * MIN)
    assert clocks(conversation)["first_response"].due_at == T0 + 15 * MIN


def test_a_reply_meets_first_response_and_the_next_message_starts_next_response(
    tenant: Tenant,
) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 4 * MIN, tick=False):
        reply(tenant, conversation)
    met = clocks(conversation)["first_response"]
    assert (met.state, met.met_at) == ("met", T0 + 4 * MIN)
    assert "next_response" not in clocks(conversation)
    with time_machine.travel(T0 + 30 * MIN, tick=False):
        receive(tenant, T0 + 30 * MIN)
    with time_machine.travel(T0 + 35 * MIN, tick=False):
        receive(tenant, T0 + 35 * MIN)  # still waiting since the first of the two
    following = clocks(conversation)["next_response"]
    assert (following.state, following.due_at) == ("running", T0 + 45 * MIN)
    with time_machine.travel(T0 + 40 * MIN, tick=False):
        reply(tenant, conversation)
    assert states(conversation) == {
        "first_response": "met",
        "next_response": "met",
        "resolution": "running",
    }
    with time_machine.travel(T0 + 90 * MIN, tick=False):
        receive(tenant, T0 + 90 * MIN)  # next response starts again, from zero
    following = clocks(conversation)["next_response"]
    assert (following.state, following.started_at) == ("running", T0 + 90 * MIN)
    assert following.due_at == T0 + 105 * MIN
    assert following.met_at is None


def test_a_message_written_before_the_reply_starts_nothing(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 4 * MIN, tick=False):
        reply(tenant, conversation)
        receive(tenant, T0 + 3 * MIN)  # delivered late, written before the answer
    assert "next_response" not in clocks(conversation)


def test_an_internal_note_answers_nobody(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        note_add(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            text="Asked the warehouse",
        )
    assert states(conversation)["first_response"] == "running"


def test_resolving_meets_the_cycle_and_reopening_starts_a_new_one(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 3 * MIN, tick=False):
        reply(tenant, conversation)
        receive(tenant, T0 + 3 * MIN + timedelta(seconds=30), text="Thanks!")
    with time_machine.travel(T0 + 5 * MIN, tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.RESOLVED,
        )
    assert states(conversation) == {
        "first_response": "met",
        "next_response": "met",
        "resolution": "met",
    }
    assert (fresh(conversation).sla_due_at, fresh(conversation).sla_state) == (None, "met")
    with time_machine.travel(T0 + 2 * timedelta(hours=1), tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.OPEN,
        )
    reopened = clocks(conversation)
    assert fresh(conversation).sla_cycle == 2
    assert set(reopened) == {"resolution"}, "nobody is waiting for an answer yet"
    assert reopened["resolution"].due_at == T0 + timedelta(hours=26)
    with time_machine.travel(T0 + 3 * timedelta(hours=1), tick=False):
        receive(tenant, T0 + timedelta(hours=3))
    assert clocks(conversation)["first_response"].due_at == T0 + timedelta(hours=3, minutes=15)


def test_a_customer_writing_after_resolution_starts_a_new_conversation(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        first = receive(tenant, T0)
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=first,
            status=ConversationStatus.RESOLVED,
        )
        second = receive(tenant, T0 + MIN)
    assert second.pk != first.pk
    assert fresh(second).sla_cycle == 1
    assert states(second) == {"first_response": "running", "resolution": "running"}


# ---- pauses -----------------------------------------------------------------------------------


def test_pending_pauses_and_open_resumes_with_the_time_left(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 5 * MIN, tick=False):
        reply(tenant, conversation)
    with time_machine.travel(T0 + 10 * MIN, tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.PENDING,
        )
    paused = clocks(conversation)["resolution"]
    assert (paused.state, paused.due_at, paused.consumed) == ("paused", None, 10 * MIN)
    assert fresh(conversation).sla_state == "paused"
    assert fresh(conversation).sla_due_at is None
    later = T0 + timedelta(hours=3)
    with time_machine.travel(later, tick=False):
        receive(tenant, later)  # the customer answers: open again, the clock runs on
    resumed = clocks(conversation)
    assert resumed["resolution"].state == "running"
    assert resumed["resolution"].due_at == later + timedelta(hours=24) - 10 * MIN
    assert resumed["next_response"].due_at == later + 15 * MIN


def test_snoozing_pauses_every_counting_clock(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 6 * MIN, tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            snoozed_until=T0 + timedelta(hours=2),
        )
    assert states(conversation) == {"first_response": "paused", "resolution": "paused"}
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.OPEN,
        )
    assert clocks(conversation)["first_response"].due_at == T0 + timedelta(hours=1, minutes=9)


def test_a_clock_already_overdue_is_not_paused(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 20 * MIN, tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.PENDING,
        )
    assert states(conversation) == {"first_response": "running", "resolution": "paused"}
    assert fresh(conversation).sla_due_at == T0 + 15 * MIN, "still owed, for the sweep"


# ---- business hours ---------------------------------------------------------------------------


def test_business_hours_carry_over_the_weekend(tenant: Tenant) -> None:
    _business_hours(tenant, *NINE_TO_FIVE)
    friday = local(LONDON, 2026, 11, 27, 16, 50)
    with time_machine.travel(friday, tick=False):
        conversation = receive(tenant, friday)
    assert clocks(conversation)["first_response"].due_at == local(LONDON, 2026, 11, 30, 9, 5)


def test_business_hours_across_midnight(tenant: Tenant) -> None:
    _business_hours(tenant, *((d, "22:00", "06:00") for d in range(7)))
    evening = local(LONDON, 2026, 11, 26, 21, 50)
    with time_machine.travel(evening, tick=False):
        conversation = receive(tenant, evening)
    assert clocks(conversation)["first_response"].due_at == local(LONDON, 2026, 11, 26, 22, 15)
    dawn = local(LONDON, 2026, 11, 27, 5, 55)
    with time_machine.travel(dawn, tick=False):
        other = receive(tenant, dawn, customer="psid-2")
    # Five minutes before the night shift ends, ten more the next night.
    assert clocks(other)["first_response"].due_at == local(LONDON, 2026, 11, 27, 22, 10)


def test_holidays_are_not_working_time(tenant: Tenant) -> None:
    _business_hours(tenant, *NINE_TO_FIVE, holidays=[date(2026, 12, 25)])
    christmas_eve = local(LONDON, 2026, 12, 24, 16, 50)
    with time_machine.travel(christmas_eve, tick=False):
        conversation = receive(tenant, christmas_eve)
    assert clocks(conversation)["first_response"].due_at == local(LONDON, 2026, 12, 28, 9, 5)


def test_dst_in_the_organizations_time_zone(tenant: Tenant) -> None:
    _business_hours(tenant, *NINE_TO_FIVE)
    # Clocks go forward on Sunday 29 March 2026: Monday 09:05 BST is 08:05 UTC.
    friday = local(LONDON, 2026, 3, 27, 16, 50)
    with time_machine.travel(friday, tick=False):
        conversation = receive(tenant, friday)
    due = clocks(conversation)["first_response"].due_at
    assert due == datetime(2026, 3, 30, 8, 5, tzinfo=UTC)


def test_pause_and_resume_count_business_time_only(tenant: Tenant) -> None:
    _business_hours(tenant, *NINE_TO_FIVE)
    start = local(LONDON, 2026, 11, 26, 16, 55)  # Thursday, 5 working minutes left today
    with time_machine.travel(start, tick=False):
        conversation = receive(tenant, start)
    with time_machine.travel(local(LONDON, 2026, 11, 26, 20, 0), tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.PENDING,
        )
    assert clocks(conversation)["first_response"].consumed == 5 * MIN
    monday = local(LONDON, 2026, 11, 30, 8, 0)
    with time_machine.travel(monday, tick=False):
        receive(tenant, monday)
    assert clocks(conversation)["first_response"].due_at == local(LONDON, 2026, 11, 30, 9, 10)


def test_a_channel_with_its_own_hours_uses_them(tenant: Tenant) -> None:
    _business_hours(tenant, *NINE_TO_FIVE)
    business_hours_save(
        organization=tenant.organization,
        actor=tenant.admin,
        channel_id=tenant.channel.pk,
        time_zone="America/New_York",
        shifts=[ShiftInput(d, time(9), time(17)) for d in range(5)],
    )
    at = local("America/New_York", 2026, 11, 26, 8, 0)  # 13:00 in London
    with time_machine.travel(at, tick=False):
        conversation = receive(tenant, at)
    due = clocks(conversation)["first_response"].due_at
    assert due == local("America/New_York", 2026, 11, 26, 9, 15)


# ---- choosing the policy ---------------------------------------------------------------------


def _policy(tenant: Tenant, **fields: Any) -> Any:
    fields.setdefault("name", "Special")
    fields.setdefault("first_response_minutes", 5)
    fields.setdefault("next_response_minutes", 5)
    fields.setdefault("resolution_minutes", 60)
    return sla_policy_create(organization=tenant.organization, actor=tenant.admin, **fields)


def test_conditions_select_the_first_matching_policy_in_order(tenant: Tenant) -> None:
    other_channel = tenant.channel.__class__.all_tenants.create(
        organization=tenant.organization, kind="twitter", name="X", external_id="x-1"
    )
    _policy(tenant, name="Other channel", channel=other_channel.pk, position=1)
    gold = _policy(tenant, name="Gold", tiers=["gold"], first_response_minutes=7, position=2)
    _policy(tenant, name="Gold again", tiers=["Gold"], first_response_minutes=9, position=3)
    with time_machine.travel(T0, tick=False):
        plain = receive(tenant, T0)
    assert clocks(plain)["first_response"].policy_id == tenant.default_policy.pk
    customer = plain.customer
    customer_update(organization=tenant.organization, customer=customer, tier="Gold")
    picked = clocks(plain)["first_response"]
    assert (picked.policy_id, picked.due_at) == (gold.pk, T0 + 7 * MIN)


def test_time_of_day_is_judged_when_the_cycle_starts(tenant: Tenant) -> None:
    night = _policy(
        tenant, name="Night", active_from=time(22), active_until=time(6), first_response_minutes=60
    )
    late = local(LONDON, 2026, 11, 26, 23, 30)
    with time_machine.travel(late, tick=False):
        conversation = receive(tenant, late)
    assert clocks(conversation)["first_response"].policy_id == night.pk
    morning = local(LONDON, 2026, 11, 27, 8, 0)
    with time_machine.travel(morning, tick=False):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            priority=Priority.HIGH,
        )
    assert clocks(conversation)["first_response"].policy_id == night.pk, "still the night cycle"
    with time_machine.travel(morning, tick=False):
        day = receive(tenant, morning, customer="psid-2")
    assert clocks(day)["first_response"].policy_id == tenant.default_policy.pk


def test_a_priority_change_selects_the_policy_again_and_retimes(
    tenant: Tenant, published: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    urgent = _policy(tenant, name="Urgent", priorities=["urgent"], first_response_minutes=5)
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with (
        time_machine.travel(T0 + 2 * MIN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            priority=Priority.URGENT,
        )
    first = clocks(conversation)["first_response"]
    assert (first.policy_id, first.due_at) == (urgent.pk, T0 + 5 * MIN)
    assert fresh(conversation).sla_due_at == T0 + 5 * MIN
    assert published[-1].payload["changed"] == ["priority", "sla"]


def test_editing_a_policy_retimes_running_clocks_but_not_history(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with time_machine.travel(T0, tick=False):
        answered = receive(tenant, T0)
        reply(tenant, answered)
        waiting = receive(tenant, T0, customer="psid-2")
    with django_capture_on_commit_callbacks(execute=True):
        sla_policy_update(
            organization=tenant.organization,
            actor=tenant.admin,
            policy=tenant.default_policy,
            first_response_minutes=30,
        )
    assert clocks(waiting)["first_response"].due_at == T0 + 30 * MIN
    assert fresh(waiting).sla_due_at == T0 + 30 * MIN
    met = clocks(answered)["first_response"]
    assert (met.state, met.due_at) == ("met", T0 + 15 * MIN)


def test_an_organization_without_policies_runs_no_clocks(tenant: Tenant) -> None:
    tenant.default_policy.delete()
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    assert clocks(conversation) == {}
    assert fresh(conversation).sla_state == ""
