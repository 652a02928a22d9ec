"""The timer sweep: warnings and breaches announced once, escalations, snoozes waking,
follow-ups reopening, auto-resolve. Frozen time; events captured as published after commit."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from config.timer import EmbeddedTimer
from inbox.events import Event
from inbox.models import (
    Conversation,
    ConversationStatus,
    FollowUp,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Priority,
    SLAEscalation,
)
from inbox.services.channels import channel_create
from inbox.services.conversations import conversation_update
from inbox.services.follow_ups import follow_up_cancel, follow_up_create
from inbox.services.organizations import member_remove
from inbox.services.sla_settings import organization_set_auto_resolve, sla_policy_update
from inbox.services.timers import SweepResult, timers_run_due
from inbox.tasks import sweep_timers
from tests.inbox.sla_support import Tenant, clocks, fresh, make_tenant, receive, reply, states

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant()


@pytest.fixture
def sweep(
    published: list[Event], django_capture_on_commit_callbacks: Any
) -> Callable[[datetime], SweepResult]:
    """Run the sweep at a moment, publishing what it records."""

    def run(at: datetime) -> SweepResult:
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return timers_run_due()

    return run


@pytest.fixture
def frozen() -> Callable[[datetime], Any]:
    def travel(at: datetime) -> Any:
        return time_machine.travel(at, tick=False)

    return travel


def names(published: list[Event], prefix: str = "sla.") -> list[str]:
    return [e.name for e in published if e.name.startswith(prefix)]


# ---- warnings and breaches ---------------------------------------------------------------------


def test_warning_then_breach_each_announced_once(
    tenant: Tenant, sweep: Any, published: list[Event]
) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    assert sweep(T0 + 11 * MIN).total() == 0, "75 % of 15 minutes is 11¼"
    assert sweep(T0 + 12 * MIN).warned == 1
    assert sweep(T0 + 12 * MIN + 30 * timedelta(seconds=1)).total() == 0
    assert states(conversation)["first_response"] == "warning"
    assert fresh(conversation).sla_state == "warning"
    assert sweep(T0 + 15 * MIN).breached == 1
    assert sweep(T0 + 16 * MIN).total() == 0
    assert names(published) == ["sla.warning", "sla.breached"]
    _, breach = (e for e in published if e.name.startswith("sla."))
    assert breach.conversation_id == conversation.pk
    assert breach.payload == {
        "id": conversation.pk,
        "conversation_id": conversation.pk,
        "clock_id": clocks(conversation)["first_response"].pk,
        "metric": "first_response",
        "due_at": (T0 + 15 * MIN).isoformat(),
        "policy": tenant.default_policy.pk,
    }
    assert breach.assignees == (None,), "the unassigned queue (and the supervisors)"
    first = clocks(conversation)["first_response"]
    assert (first.state, first.warned_at, first.breached_at) == (
        "breached",
        T0 + 12 * MIN,
        T0 + 15 * MIN,
    )
    conversation = fresh(conversation)
    assert (conversation.sla_state, conversation.sla_due_at) == ("breached", T0 + 15 * MIN)


def test_a_deadline_missed_while_no_sweep_ran_is_breached_without_a_warning(
    tenant: Tenant, sweep: Any, published: list[Event]
) -> None:
    with time_machine.travel(T0, tick=False):
        receive(tenant, T0)
    assert sweep(T0 + 40 * MIN).breached == 1
    assert names(published) == ["sla.breached"]


def test_a_met_clock_is_never_announced(tenant: Tenant, sweep: Any, published: list[Event]) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 14 * MIN, tick=False):
        reply(tenant, conversation)
    sweep(T0 + 20 * MIN)
    assert names(published) == []
    assert states(conversation)["first_response"] == "met"


def test_the_task_reports_what_it_did(tenant: Tenant, frozen: Any) -> None:
    with frozen(T0):
        receive(tenant, T0)
    with frozen(T0 + 30 * MIN):
        assert sweep_timers() == {
            "breached": 1,
            "warned": 0,
            "woken": 0,
            "followed_up": 0,
            "auto_resolved": 0,
        }


def test_a_breach_after_a_reply_is_met_late_not_unbreached(tenant: Tenant, sweep: Any) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    sweep(T0 + 20 * MIN)
    with time_machine.travel(T0 + 25 * MIN, tick=False):
        reply(tenant, conversation)
    first = clocks(conversation)["first_response"]
    assert (first.state, first.breached_at, first.met_at) == (
        "met",
        T0 + 20 * MIN,
        T0 + 25 * MIN,
    )
    assert fresh(conversation).sla_state == "running", "resolution still runs"


# ---- escalation --------------------------------------------------------------------------------


def _escalate(tenant: Tenant, escalation: str) -> None:
    sla_policy_update(
        organization=tenant.organization,
        actor=tenant.admin,
        policy=tenant.default_policy,
        escalation=escalation,
    )


def _assigned(tenant: Tenant) -> Conversation:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        return conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            assignee_id=tenant.agent.user_id,
        )


def test_notify_tells_the_assignee_and_changes_nothing(
    tenant: Tenant, sweep: Any, published: list[Event]
) -> None:
    conversation = _assigned(tenant)
    sweep(T0 + 16 * MIN)
    breach = next(e for e in published if e.name == "sla.breached")
    assert breach.assignees == (tenant.agent.user_id,)
    conversation = fresh(conversation)
    assert (conversation.assignee_id, conversation.priority) == (tenant.agent.user_id, "normal")


def test_raise_priority_escalation(tenant: Tenant, sweep: Any, published: list[Event]) -> None:
    _escalate(tenant, SLAEscalation.RAISE_PRIORITY)
    conversation = _assigned(tenant)
    sweep(T0 + 16 * MIN)
    assert fresh(conversation).priority == Priority.HIGH
    assert [e.name for e in published][-2:] == ["sla.breached", "conversation.updated"]
    assert published[-1].payload["priority"] == "high"
    sweep(T0 + 17 * MIN)
    assert fresh(conversation).priority == Priority.HIGH, "one step per breach"


def test_unassign_escalation_hands_back_to_the_queue(
    tenant: Tenant, sweep: Any, published: list[Event]
) -> None:
    _escalate(tenant, SLAEscalation.UNASSIGN)
    conversation = _assigned(tenant)
    sweep(T0 + 16 * MIN)
    assert fresh(conversation).assignee_id is None
    breach = next(e for e in published if e.name == "sla.breached")
    assert breach.assignees == (tenant.agent.user_id,), "the agent hears of it"
    handover = published[-1]
    assert handover.name == "conversation.updated"
    assert set(handover.assignees) == {None, tenant.agent.user_id}


# ---- snoozes -----------------------------------------------------------------------------------


def test_a_snooze_wakes_on_time(tenant: Tenant, sweep: Any, published: list[Event]) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        reply(tenant, conversation)
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            snoozed_until=T0 + timedelta(hours=2),
        )
    assert sweep(T0 + timedelta(hours=2) - timedelta(seconds=1)).woken == 0
    assert fresh(conversation).status == ConversationStatus.SNOOZED
    assert sweep(T0 + timedelta(hours=2)).woken == 1
    woken = fresh(conversation)
    assert (woken.status, woken.snoozed_until) == ("open", None)
    assert states(conversation)["resolution"] == "running"
    assert published[-1].name == "conversation.updated"
    assert published[-1].payload["status"] == "open"
    assert sweep(T0 + timedelta(hours=3)).woken == 0


def test_a_snooze_cut_short_by_the_customer_does_not_wake_twice(tenant: Tenant, sweep: Any) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            snoozed_until=T0 + timedelta(hours=2),
        )
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        receive(tenant, T0 + timedelta(hours=1))
    assert fresh(conversation).status == ConversationStatus.OPEN
    assert sweep(T0 + timedelta(hours=2)).woken == 0


# ---- follow-ups --------------------------------------------------------------------------------


def _resolved(tenant: Tenant) -> Conversation:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        reply(tenant, conversation)
        return conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.RESOLVED,
            assignee_id=None,
        )


def _follow_up(tenant: Tenant, conversation: Conversation, note: str = "Did the part arrive?"):
    with time_machine.travel(T0 + MIN, tick=False):
        return follow_up_create(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            at=T0 + timedelta(days=7),
            note=note,
        )


def test_a_follow_up_reopens_assigns_back_and_shows_the_note(
    tenant: Tenant, sweep: Any, published: list[Event]
) -> None:
    conversation = _resolved(tenant)
    follow_up = _follow_up(tenant, conversation)
    assert sweep(T0 + timedelta(days=7) - MIN).followed_up == 0
    assert sweep(T0 + timedelta(days=7)).followed_up == 1
    reopened = fresh(conversation)
    assert (reopened.status, reopened.assignee_id) == ("open", tenant.agent.user_id)
    assert states(conversation) == {"resolution": "running"}, "a new cycle"
    note = Message.all_tenants.filter(conversation=conversation, kind=MessageKind.NOTE).get()
    assert note.text == "Follow-up: Did the part arrive?"
    assert note.author_id == tenant.agent.user_id
    follow_up.refresh_from_db()
    assert follow_up.done_at == T0 + timedelta(days=7)
    assert {"conversation.updated", "message.created"} <= {e.name for e in published}
    assert sweep(T0 + timedelta(days=8)).followed_up == 0
    assert Message.all_tenants.filter(conversation=conversation, kind="note").count() == 1


def test_a_cancelled_follow_up_does_nothing(tenant: Tenant, sweep: Any) -> None:
    conversation = _resolved(tenant)
    follow_up = _follow_up(tenant, conversation)
    follow_up_cancel(organization=tenant.organization, actor=tenant.agent, follow_up=follow_up)
    assert sweep(T0 + timedelta(days=7)).followed_up == 0
    assert fresh(conversation).status == ConversationStatus.RESOLVED


def test_a_follow_up_of_someone_who_left_reopens_for_the_queue(tenant: Tenant, sweep: Any) -> None:
    conversation = _resolved(tenant)
    _follow_up(tenant, conversation)
    member_remove(organization=tenant.organization, actor=tenant.admin, membership=tenant.agent)
    sweep(T0 + timedelta(days=7))
    reopened = fresh(conversation)
    assert (reopened.status, reopened.assignee_id) == ("open", None)
    note = Message.all_tenants.get(conversation=conversation, kind=MessageKind.NOTE)
    assert note.author_id is None


def test_a_follow_up_on_a_pending_conversation_opens_it(tenant: Tenant, sweep: Any) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        reply(tenant, conversation)
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.PENDING,
        )
    _follow_up(tenant, conversation, note="")
    sweep(T0 + timedelta(days=7))
    assert fresh(conversation).status == ConversationStatus.OPEN
    note = Message.all_tenants.get(conversation=conversation, kind=MessageKind.NOTE)
    assert note.text == "Follow-up"


def test_a_follow_up_cannot_reopen_over_a_newer_conversation(tenant: Tenant, sweep: Any) -> None:
    conversation = _resolved(tenant)
    _follow_up(tenant, conversation)
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        newer = receive(tenant, T0 + timedelta(days=1))
    assert newer.pk != conversation.pk
    assert sweep(T0 + timedelta(days=7)).followed_up == 1
    kept = fresh(conversation)
    assert (kept.status, kept.assignee_id) == ("resolved", tenant.agent.user_id)
    assert Message.all_tenants.filter(conversation=conversation, kind="note").count() == 1


def test_follow_ups_are_in_the_future(tenant: Tenant) -> None:
    conversation = _resolved(tenant)
    with time_machine.travel(T0, tick=False), pytest.raises(Exception, match="future"):
        follow_up_create(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            at=T0 - MIN,
        )
    assert not FollowUp.all_tenants.exists()


# ---- auto-resolve ------------------------------------------------------------------------------


def _pending(tenant: Tenant) -> Conversation:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        reply(tenant, conversation)
        return conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            status=ConversationStatus.PENDING,
        )


def test_auto_resolve_sends_the_closing_message_when_the_window_is_open(
    tenant: Tenant, sweep: Any
) -> None:
    # X direct messages have no reply window (Messenger's closes 24 hours after the customer's
    # message, before any auto-resolve of a day or more: there it only resolves).
    tenant.channel = channel_create(
        organization=tenant.organization,
        kind="twitter",
        name="@brand",
        external_id="x-brand",
        credentials={"access_token": "t"},
    )
    organization_set_auto_resolve(
        organization=tenant.organization,
        actor=tenant.admin,
        after_days=1,
        message="We'll close this for now; write any time!",
    )
    conversation = _pending(tenant)
    assert fresh(conversation).auto_resolve_at == T0 + timedelta(days=1)
    assert sweep(T0 + timedelta(days=1) - MIN).auto_resolved == 0
    assert sweep(T0 + timedelta(days=1)).auto_resolved == 1
    resolved = fresh(conversation)
    assert (resolved.status, resolved.pending_since, resolved.auto_resolve_at) == (
        "resolved",
        None,
        None,
    )
    closing = Message.all_tenants.filter(conversation=conversation).order_by("-id").first()
    assert closing is not None
    assert (closing.direction, closing.text, closing.author_id, closing.status) == (
        MessageDirection.OUTBOUND,
        "We'll close this for now; write any time!",
        None,
        MessageStatus.QUEUED,
    )
    assert states(conversation) == {"first_response": "met", "resolution": "met"}
    assert sweep(T0 + timedelta(days=2)).auto_resolved == 0


def test_auto_resolve_without_an_open_window_just_resolves(tenant: Tenant, sweep: Any) -> None:
    organization_set_auto_resolve(
        organization=tenant.organization, actor=tenant.admin, after_days=3, message="Bye!"
    )
    conversation = _pending(tenant)
    assert sweep(T0 + timedelta(days=3)).auto_resolved == 1
    assert fresh(conversation).status == ConversationStatus.RESOLVED
    assert not Message.all_tenants.filter(conversation=conversation, text="Bye!").exists()


def test_auto_resolve_is_off_by_default_and_follows_the_setting(tenant: Tenant, sweep: Any) -> None:
    conversation = _pending(tenant)
    assert fresh(conversation).auto_resolve_at is None
    assert sweep(T0 + timedelta(days=30)).auto_resolved == 0
    organization_set_auto_resolve(
        organization=tenant.organization, actor=tenant.admin, after_days=2
    )
    assert fresh(conversation).auto_resolve_at == T0 + timedelta(days=2)
    organization_set_auto_resolve(
        organization=tenant.organization, actor=tenant.admin, after_days=None
    )
    assert fresh(conversation).auto_resolve_at is None


def test_a_customer_answer_stops_auto_resolve(tenant: Tenant, sweep: Any) -> None:
    organization_set_auto_resolve(
        organization=tenant.organization, actor=tenant.admin, after_days=1
    )
    conversation = _pending(tenant)
    with time_machine.travel(T0 + timedelta(hours=5), tick=False):
        receive(tenant, T0 + timedelta(hours=5))
    assert fresh(conversation).auto_resolve_at is None
    assert sweep(T0 + timedelta(days=2)).auto_resolved == 0
    assert fresh(conversation).status == ConversationStatus.OPEN


# ---- the schedule ------------------------------------------------------------------------------


def test_beat_runs_the_sweep_at_least_every_five_seconds() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-timers"]
    assert float(str(entry["schedule"])) <= 5
    current_app.loader.import_default_modules()
    assert entry["task"] in current_app.tasks


@pytest.mark.django_db(transaction=True)
def test_the_embedded_timer_breaches_on_time_without_a_worker(published: list[Event]) -> None:
    """`make run` (eager Celery, no beat): the server's timer thread runs the same sweep."""
    tenant = make_tenant()
    conversation = receive(tenant, timezone.now() - 15 * MIN + timedelta(seconds=1))
    timer = EmbeddedTimer({"sweep-timers": settings.CELERY_BEAT_SCHEDULE["sweep-timers"]}, 0.1)
    timer.start()

    def breached() -> bool:
        try:
            return states(conversation)["first_response"] == "breached"
        except OperationalError:
            return False  # the test's in-memory SQLite locks tables while the timer writes

    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not breached():
            time.sleep(0.2)
    finally:
        timer.stop()
    assert states(conversation)["first_response"] == "breached"
    assert [e.name for e in published if e.name == "sla.breached"] == ["sla.breached"]
