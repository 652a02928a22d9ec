"""SLA clocks: the one module that starts, meets, pauses, resumes, re-times and breaches them.

A conversation's SLA runs in cycles. A cycle starts with the first customer message of a new
conversation (first response and resolution clocks), or when an agent reopens a resolved
conversation (resolution only: nobody is waiting for an answer yet). Within a cycle:

- first response counts from the customer's first unanswered message; next response from
  each customer message that follows an agent reply (one clock per cycle, started again);
- an agent reply (through Parley or, for the brand, from another app) meets both; internal
  notes never do, the customer sees nothing;
- pending and snoozed pause every counting clock (one already past its deadline is left for
  the sweep to breach: the deadline was missed before the pause); open resumes them;
- resolving meets every clock of the cycle (a "thanks!" answered by resolving is answered);
- priority, tier, policy and business-hours changes select the policy again (conditions are
  judged at the cycle's start) and re-time the clocks still counting.

Services call the hooks below inside their transaction, with the conversation row locked.
Every writer of clocks locks the conversation first, the sweep included, so two writers
never interleave on one conversation's clocks. Each hook keeps the conversation's summary
(sla_policy, sla_cycle, sla_due_at, sla_state) up to date, on the instance and in the
database, and returns whether the deadline or state the inbox shows changed.

The sweep (sla_clocks_breach_due, sla_clocks_warn_due) reads only due clocks through partial
indexes and records each warning and breach with a conditional update under those row locks,
so overlapping sweeps and restarts publish each `sla.warning` / `sla.breached` once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inbox import events
from inbox.business_hours import EmptyScheduleError, Schedule, deadline, elapsed
from inbox.models import (
    BusinessHours,
    Conversation,
    ConversationStatus,
    Customer,
    Organization,
    Priority,
    SLAClock,
    SLAClockState,
    SLAEscalation,
    SLAMetric,
    SLAPolicy,
)
from inbox.selectors.timers import COUNTING, clocks_to_breach, clocks_to_warn
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

OWED = (SLAClockState.RUNNING, SLAClockState.WARNING, SLAClockState.BREACHED)
UNMET = (*OWED, SLAClockState.PAUSED)
PAUSED_STATUSES = (ConversationStatus.PENDING, ConversationStatus.SNOOZED)
# Most urgent first: the conversation's sla_state is the most urgent of its clocks.
URGENCY = {
    SLAClockState.BREACHED: 4,
    SLAClockState.WARNING: 3,
    SLAClockState.RUNNING: 2,
    SLAClockState.PAUSED: 1,
    SLAClockState.MET: 0,
}
PRIORITY_STEPS = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
SWEEP_BATCH = 500


# ---- the rules of one organization ----------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _in_window(start: time | None, end: time | None, local: time) -> bool:
    """`end` before `start` wraps past midnight (22:00-06:00); equal ends cover the day."""
    if start is None or end is None or start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def policy_matches(
    policy: SLAPolicy, *, channel_id: int, priority: str, tier: str, local_time: time
) -> bool:
    """Every condition of the policy holds (an empty condition holds for everything)."""
    return (
        (policy.channel_id is None or policy.channel_id == channel_id)
        and (not policy.priorities or priority in policy.priorities)
        and (not policy.tiers or tier.casefold() in {t.casefold() for t in policy.tiers})
        and _in_window(policy.active_from, policy.active_until, local_time)
    )


@dataclass
class Rules:
    """An organization's policies and business hours, loaded once for any number of clocks."""

    organization: Organization
    policies: list[SLAPolicy]
    hours: list[BusinessHours] = field(default_factory=list)

    @classmethod
    def load(cls, organization: Organization) -> Rules:
        policies = list(
            SLAPolicy.objects.filter(organization=organization).order_by("position", "id")
        )
        hours: list[BusinessHours] = []
        if any(p.use_business_hours for p in policies):
            hours = list(BusinessHours.objects.filter(organization=organization))
        return cls(organization, policies, hours)

    @property
    def needs_tier(self) -> bool:
        return any(p.tiers for p in self.policies if not p.is_default)

    def select(self, conversation: Conversation, *, at: datetime, tier: str) -> SLAPolicy | None:
        """The first matching policy in order, else the default (None: no policy at all)."""
        local = at.astimezone(_zone(self.organization.time_zone)).time()
        default = None
        for policy in self.policies:
            if policy.is_default:
                default = policy
            elif policy_matches(
                policy,
                channel_id=conversation.channel_id,
                priority=conversation.priority,
                tier=tier,
                local_time=local,
            ):
                return policy
        return default

    def schedule(self, policy: SLAPolicy, channel_id: int) -> Schedule | None:
        """Business hours of the channel, else of the organization; None is calendar time
        (the policy counts calendar time, or no working week is defined)."""
        if not policy.use_business_hours:
            return None
        chosen = next((h for h in self.hours if h.channel_id == channel_id), None) or next(
            (h for h in self.hours if h.channel_id is None), None
        )
        if chosen is None:
            return None
        schedule = Schedule.from_json(chosen.time_zone, chosen.schedule or {})
        return schedule if schedule.shifts else None


def _tier(conversation: Conversation, rules: Rules) -> str:
    if not rules.needs_tier:
        return ""
    if Conversation.customer.is_cached(conversation):
        return conversation.customer.tier
    return (
        Customer.objects.filter(pk=conversation.customer_id).values_list("tier", flat=True).first()
        or ""
    )


def _target(policy: SLAPolicy, metric: str) -> timedelta:
    minutes = {
        SLAMetric.FIRST_RESPONSE: policy.first_response_minutes,
        SLAMetric.NEXT_RESPONSE: policy.next_response_minutes,
        SLAMetric.RESOLUTION: policy.resolution_minutes,
    }[SLAMetric(metric)]
    return timedelta(minutes=minutes)


# ---- one clock --------------------------------------------------------------------------------


def _deadline(since: datetime, left: timedelta, schedule: Schedule | None) -> datetime:
    if left <= timedelta():
        return since
    try:
        return deadline(since, left, schedule)
    except EmptyScheduleError:
        return since + left  # no working time for years: count calendar time, never hang


def _retime(clock: SLAClock, policy: SLAPolicy, schedule: Schedule | None) -> None:
    """Deadline and warning time of a counting clock from where it runs and what it used."""
    assert clock.running_since is not None  # noqa: S101  # counting clocks run
    clock.due_at = _deadline(clock.running_since, clock.target - clock.consumed, schedule)
    warn_after = clock.target * policy.warning_percent / 100
    clock.warn_at = _deadline(clock.running_since, warn_after - clock.consumed, schedule)


def _start(
    clock: SLAClock,
    policy: SLAPolicy,
    schedule: Schedule | None,
    *,
    at: datetime,
    paused: bool,
) -> None:
    """(Re)start from zero at `at`, or paused at zero when the conversation is on hold."""
    clock.policy = policy
    clock.target = _target(policy, clock.metric)
    clock.started_at = at
    clock.consumed = timedelta()
    clock.warned_at = clock.breached_at = clock.met_at = None
    if paused:
        clock.state = SLAClockState.PAUSED
        clock.running_since = clock.due_at = clock.warn_at = None
        return
    clock.state = SLAClockState.RUNNING
    clock.running_since = at
    _retime(clock, policy, schedule)


def _pause(clock: SLAClock, schedule: Schedule | None, now: datetime) -> bool:
    if clock.state not in COUNTING or clock.running_since is None:
        return False
    if clock.due_at is not None and clock.due_at <= now:
        return False  # missed before the pause: the sweep breaches it
    clock.consumed += elapsed(clock.running_since, now, schedule)
    clock.running_since = clock.due_at = clock.warn_at = None
    clock.state = SLAClockState.PAUSED
    return True


def _resume(
    clock: SLAClock, policy: SLAPolicy | None, schedule: Schedule | None, now: datetime
) -> bool:
    if clock.state != SLAClockState.PAUSED or policy is None:
        return False
    clock.running_since = now
    clock.state = SLAClockState.WARNING if clock.warned_at else SLAClockState.RUNNING
    _retime(clock, policy, schedule)
    return True


def _meet(clock: SLAClock, at: datetime) -> bool:
    if clock.state not in UNMET:
        return False
    clock.state = SLAClockState.MET
    clock.met_at = at
    return True


# ---- a conversation's clocks -----------------------------------------------------------------


@dataclass
class _Cycle:
    """The clocks of a conversation's current cycle, by metric, and what changed."""

    conversation: Conversation
    clocks: dict[str, SLAClock]
    changed: set[int] = field(default_factory=set)
    added: list[SLAClock] = field(default_factory=list)

    @classmethod
    def load(cls, conversation: Conversation) -> _Cycle:
        if conversation.sla_cycle == 0:
            return cls(conversation, {})
        clocks = SLAClock.objects.filter(
            organization_id=conversation.organization_id,
            conversation=conversation,
            cycle=conversation.sla_cycle,
        )
        return cls(conversation, {clock.metric: clock for clock in clocks})

    def touch(self, clock: SLAClock) -> None:
        if clock.pk is None:
            if clock not in self.added:
                self.added.append(clock)
        else:
            self.changed.add(clock.pk)

    def new(self, metric: str) -> SLAClock:
        conversation = self.conversation
        clock = SLAClock(
            organization_id=conversation.organization_id,
            conversation=conversation,
            metric=metric,
            cycle=conversation.sla_cycle,
        )
        self.clocks[metric] = clock
        return clock

    def started_at(self) -> datetime | None:
        """When the cycle began: its resolution clock starts with it."""
        resolution = self.clocks.get(SLAMetric.RESOLUTION)
        if resolution is not None:
            return resolution.started_at
        return min((c.started_at for c in self.clocks.values()), default=None)

    def save(self) -> None:
        if self.added:
            SLAClock.objects.bulk_create(self.added)
        dirty = [c for c in self.clocks.values() if c.pk in self.changed]
        if dirty:
            SLAClock.objects.bulk_update(
                dirty,
                [
                    "policy",
                    "target",
                    "started_at",
                    "running_since",
                    "consumed",
                    "due_at",
                    "warn_at",
                    "state",
                    "warned_at",
                    "breached_at",
                    "met_at",
                ],
            )
        self.added, self.changed = [], set()


def summary(clocks: Iterable[SLAClock]) -> tuple[datetime | None, str]:
    """(earliest deadline still owed, most urgent state) of a cycle's clocks."""
    clocks = list(clocks)
    due = min((c.due_at for c in clocks if c.state in OWED and c.due_at), default=None)
    state = max((c.state for c in clocks), key=lambda s: URGENCY[SLAClockState(s)], default="")
    return due, state


def _store_summary(conversation: Conversation, cycle: _Cycle, policy: SLAPolicy | None) -> bool:
    """Save the cycle's clocks and the conversation's summary; True when the deadline or the
    state shown in the inbox changed."""
    cycle.save()
    due, state = summary(cycle.clocks.values())
    shown = (conversation.sla_due_at, conversation.sla_state) != (due, state)
    fields = {
        "sla_policy_id": policy.pk if policy is not None else conversation.sla_policy_id,
        "sla_cycle": conversation.sla_cycle,
        "sla_due_at": due,
        "sla_state": state,
    }
    if any(getattr(conversation, name) != value for name, value in fields.items()):
        for name, value in fields.items():
            setattr(conversation, name, value)
        Conversation.objects.filter(
            organization_id=conversation.organization_id, pk=conversation.pk
        ).update(**fields)
    return shown


def _policy_for_cycle(
    rules: Rules, conversation: Conversation, cycle: _Cycle, at: datetime
) -> SLAPolicy | None:
    return rules.select(conversation, at=cycle.started_at() or at, tier=_tier(conversation, rules))


def _begin_cycle(
    rules: Rules, conversation: Conversation, at: datetime, *, customer_waiting: bool
) -> tuple[_Cycle, SLAPolicy | None]:
    conversation.sla_cycle += 1
    cycle = _Cycle(conversation, {})
    policy = rules.select(conversation, at=at, tier=_tier(conversation, rules))
    if policy is None:
        return cycle, None
    schedule = rules.schedule(policy, conversation.channel_id)
    paused = conversation.status in PAUSED_STATUSES
    metrics = [SLAMetric.RESOLUTION]
    if customer_waiting:
        metrics.insert(0, SLAMetric.FIRST_RESPONSE)
    for metric in metrics:
        clock = cycle.new(metric)
        _start(clock, policy, schedule, at=at, paused=paused)
        cycle.touch(clock)
    return cycle, policy


# ---- the hooks services call -------------------------------------------------------------------


def _met_before(clock: SLAClock, at: datetime) -> bool:
    """The clock was met by an answer at or before `at` (a message written earlier, delivered
    late, was answered already)."""
    return clock.state == SLAClockState.MET and (clock.met_at is None or at >= clock.met_at)


@dataclass
class SLABatch:
    """What sla_inbound needs for many messages of one organization, loaded once: the
    current cycles by conversation id (kept current as cycles begin) and the rules."""

    organization: Organization
    cycles: dict[int, _Cycle]
    _rules: Rules | None = None

    @property
    def rules(self) -> Rules:
        if self._rules is None:
            self._rules = Rules.load(self.organization)
        return self._rules


@scoped
def sla_batch(*, organization: Organization, conversations: Sequence[Conversation]) -> SLABatch:
    """The current cycles of many conversations in one query (none for those not counting
    yet); the rules load on first use."""
    counting = [c for c in conversations if c.sla_cycle]
    cycles = {c.pk: _Cycle(c, {}) for c in conversations}
    if counting:
        wanted = Q()
        for conversation in counting:
            wanted |= Q(conversation_id=conversation.pk, cycle=conversation.sla_cycle)
        for clock in SLAClock.objects.filter(wanted, organization=organization):
            cycles[clock.conversation_id].clocks[clock.metric] = clock
    return SLABatch(organization, cycles)


@scoped
def sla_inbound(
    *,
    organization: Organization,
    conversation: Conversation,
    at: datetime,
    batch: SLABatch | None = None,
) -> bool:
    """The customer wrote at `at` (their platform time, never later than now).

    Call after the conversation's status reflects the message (a pending or snoozed
    conversation is open again). Starts the first cycle, resumes paused clocks, and starts
    first response (none yet this cycle) or next response (the last one was met before this
    message); a message written before the answer that met the clock starts nothing.
    `batch` (from sla_batch) spares the clocks' and rules' queries for many messages.
    """
    now = timezone.now()
    at = min(at, now)
    if conversation.sla_cycle == 0:
        rules = batch.rules if batch is not None else Rules.load(organization)
        cycle, policy = _begin_cycle(rules, conversation, at, customer_waiting=True)
        if batch is not None:
            batch.cycles[conversation.pk] = cycle
        return _store_summary(conversation, cycle, policy)
    cycle = batch.cycles[conversation.pk] if batch is not None else _Cycle.load(conversation)
    first = cycle.clocks.get(SLAMetric.FIRST_RESPONSE)
    following = cycle.clocks.get(SLAMetric.NEXT_RESPONSE)
    resume = conversation.status == ConversationStatus.OPEN and any(
        clock.state == SLAClockState.PAUSED for clock in cycle.clocks.values()
    )
    answered = first is not None and _met_before(first, at)
    start_first = first is None
    start_next = answered and (following is None or _met_before(following, at))
    if not (resume or start_first or start_next):
        return False  # the customer was already waiting: the running deadline stands
    rules = batch.rules if batch is not None else Rules.load(organization)
    policy = _policy_for_cycle(rules, conversation, cycle, at)
    if policy is None:
        return _store_summary(conversation, cycle, None)
    schedule = rules.schedule(policy, conversation.channel_id)
    if resume:
        for clock in cycle.clocks.values():
            if _resume(clock, policy, schedule, now):
                cycle.touch(clock)
    paused = conversation.status in PAUSED_STATUSES
    if start_first or start_next:
        metric = SLAMetric.FIRST_RESPONSE if start_first else SLAMetric.NEXT_RESPONSE
        clock = cycle.clocks.get(metric) or cycle.new(metric)
        _start(clock, policy, schedule, at=at, paused=paused)
        cycle.touch(clock)
    return _store_summary(conversation, cycle, policy)


@scoped
def sla_reply(*, organization: Organization, conversation: Conversation, at: datetime) -> bool:
    """An agent answered the customer at `at`: first and next response are met."""
    if conversation.sla_cycle == 0:
        return False
    cycle = _Cycle.load(conversation)
    for metric in (SLAMetric.FIRST_RESPONSE, SLAMetric.NEXT_RESPONSE):
        clock = cycle.clocks.get(metric)
        if clock is not None and _meet(clock, at):
            cycle.touch(clock)
    if not cycle.changed:
        return False
    return _store_summary(conversation, cycle, None)


@scoped
def sla_status_changed(
    *, organization: Organization, conversation: Conversation, before: str
) -> bool:
    """The conversation's status went from `before` to its current one (call after setting
    it). Pending/snoozed pause, open resumes, resolved meets the cycle, and leaving resolved
    starts a new cycle with its resolution clock (paused when it reopens on hold)."""
    after = conversation.status
    if before == after:
        return False
    now = timezone.now()
    if before == ConversationStatus.RESOLVED:
        rules = Rules.load(organization)
        cycle, policy = _begin_cycle(rules, conversation, now, customer_waiting=False)
        return _store_summary(conversation, cycle, policy)
    if conversation.sla_cycle == 0:
        return False
    cycle = _Cycle.load(conversation)
    if after == ConversationStatus.RESOLVED:
        for clock in cycle.clocks.values():
            if _meet(clock, now):
                cycle.touch(clock)
        return _store_summary(conversation, cycle, None)
    rules = Rules.load(organization)
    policy = _policy_for_cycle(rules, conversation, cycle, now)
    schedule = rules.schedule(policy, conversation.channel_id) if policy else None
    for clock in cycle.clocks.values():
        if after in PAUSED_STATUSES:
            touched = _pause(clock, schedule, now)
        else:
            touched = _resume(clock, policy, schedule, now)
        if touched:
            cycle.touch(clock)
    return _store_summary(conversation, cycle, policy)


def _recompute(
    rules: Rules, conversation: Conversation, cycle: _Cycle, tier: str, now: datetime
) -> SLAPolicy | None:
    at = cycle.started_at() or now
    policy = rules.select(conversation, at=at, tier=tier)
    if policy is None:
        return None
    schedule = rules.schedule(policy, conversation.channel_id)
    for clock in cycle.clocks.values():
        if clock.state not in (SLAClockState.RUNNING, SLAClockState.WARNING, SLAClockState.PAUSED):
            continue  # met and breached clocks are history
        clock.policy = policy
        clock.target = _target(policy, clock.metric)
        if clock.state in COUNTING:
            _retime(clock, policy, schedule)
        cycle.touch(clock)
    return policy


@scoped
def sla_recompute(*, organization: Organization, conversation: Conversation) -> bool:
    """Priority, tier, policies or business hours changed: select the policy again and
    re-time the clocks still counting (a deadline now in the past is breached by the sweep)."""
    if conversation.sla_cycle == 0:
        return False
    rules = Rules.load(organization)
    cycle = _Cycle.load(conversation)
    policy = _recompute(rules, conversation, cycle, _tier(conversation, rules), timezone.now())
    return _store_summary(conversation, cycle, policy)


RECOMPUTE_BATCH = 200


@scoped
def sla_recompute_organization(*, organization: Organization) -> int:
    """sla_recompute for every unresolved conversation of the organization with clocks, in
    batches of row-locked conversations (a policy or business-hours edit). Publishes
    conversation.updated for those whose deadline or state changed. Returns how many."""
    rules = Rules.load(organization)
    now = timezone.now()
    last_id, changed = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Conversation.objects.select_for_update(of=("self",))
                .filter(organization=organization, pk__gt=last_id, sla_cycle__gt=0)
                .exclude(status=ConversationStatus.RESOLVED)
                .order_by("pk")[:RECOMPUTE_BATCH]
            )
            if not batch:
                return changed
            last_id = batch[-1].pk
            tiers: dict[int, str] = {}
            if rules.needs_tier:
                tiers = dict(
                    Customer.objects.filter(
                        organization=organization, pk__in={c.customer_id for c in batch}
                    ).values_list("pk", "tier")
                )
            clocks: dict[int, dict[str, SLAClock]] = {}
            for clock in SLAClock.objects.filter(
                organization=organization,
                conversation__in=batch,
                cycle=F("conversation__sla_cycle"),
            ):
                clocks.setdefault(clock.conversation_id, {})[clock.metric] = clock
            for conversation in batch:
                cycle = _Cycle(conversation, clocks.get(conversation.pk, {}))
                tier = tiers.get(conversation.customer_id, "")
                policy = _recompute(rules, conversation, cycle, tier, now)
                if _store_summary(conversation, cycle, policy):
                    changed += 1
                    events.emit(events.conversation_updated(conversation, ["sla"]))


# ---- the sweep -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    organization_id: int
    conversation_id: int
    kind: str


def _lock_due(
    clock_ids: Sequence[tuple[int, int]],
) -> list[Conversation]:
    """Lock the conversations of due clocks, skipping any a service holds right now (the next
    sweep, a second later, takes them)."""
    conversation_ids = sorted({conversation_id for _, conversation_id in clock_ids})
    return list(
        Conversation.all_tenants.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=conversation_ids)
        .only(
            "id",
            "organization_id",
            "assignee_id",
            "sla_cycle",
            "sla_policy_id",
            "sla_due_at",
            "sla_state",
        )
        .order_by("pk")
    )


def _refresh_summaries(conversations: Sequence[Conversation]) -> None:
    by_id = {c.pk: c for c in conversations}
    clocks: dict[int, list[SLAClock]] = {pk: [] for pk in by_id}
    for clock in SLAClock.all_tenants.filter(
        conversation_id__in=by_id, cycle=F("conversation__sla_cycle")
    ):
        clocks[clock.conversation_id].append(clock)
    stale = []
    for pk, conversation in by_id.items():
        due, state = summary(clocks[pk])
        if (conversation.sla_due_at, conversation.sla_state) != (due, state):
            conversation.sla_due_at, conversation.sla_state = due, state
            stale.append(conversation)
    if stale:
        Conversation.all_tenants.bulk_update(stale, ["sla_due_at", "sla_state"])


def _transition(
    due: Sequence[tuple[int, int]], *, now: datetime, breach: bool
) -> tuple[int, list[Escalation]]:
    """Inside the caller's transaction: lock the conversations, take the clocks that are still
    due under those locks, record the transition, publish after commit."""
    locked = _lock_due(due)
    if not locked:
        return 0, []
    assignees = {c.pk: c.assignee_id for c in locked}
    still_due = clocks_to_breach(now=now) if breach else clocks_to_warn(now=now)
    clocks = list(
        still_due.filter(pk__in=[pk for pk, _ in due], conversation_id__in=assignees)
        .select_related("policy")
        .order_by()
    )
    if not clocks:
        return 0, []
    # Conditional on the state still being the one read (belt and braces: the conversation
    # locks already keep every other writer out).
    ids = [clock.pk for clock in clocks]
    if breach:
        SLAClock.all_tenants.filter(pk__in=ids, state__in=COUNTING).update(
            state=SLAClockState.BREACHED, breached_at=now
        )
    else:
        SLAClock.all_tenants.filter(pk__in=ids, state=SLAClockState.RUNNING).update(
            state=SLAClockState.WARNING, warned_at=now
        )
    touched = {clock.conversation_id for clock in clocks}
    _refresh_summaries([c for c in locked if c.pk in touched])
    escalations: dict[int, Escalation] = {}
    name: Literal["sla.warning", "sla.breached"] = "sla.breached" if breach else "sla.warning"
    for clock in clocks:
        events.emit(events.sla_deadline(name, clock, assignees[clock.conversation_id]))
        policy = clock.policy
        if breach and policy is not None and policy.escalation != SLAEscalation.NOTIFY:
            escalations.setdefault(
                clock.conversation_id,
                Escalation(clock.organization_id, clock.conversation_id, policy.escalation),
            )
    return len(clocks), list(escalations.values())


def sla_clocks_breach_due(*, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Breach up to `limit` clocks whose deadline has passed, across organizations, each
    once (sla.breached), and run their policies' escalation in the same transaction.
    Returns how many were breached."""
    # Read outside a transaction: an idle sweep takes no lock (SQLite's writers would wait).
    due = list(clocks_to_breach(now=now).values_list("pk", "conversation_id")[:limit])
    if not due:
        return 0
    with transaction.atomic():
        count, escalations = _transition(due, now=now, breach=True)
        _escalate(escalations)
    return count


def sla_clocks_warn_due(*, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Move up to `limit` running clocks past their warning threshold to warning, each once
    (sla.warning). Returns how many."""
    due = list(clocks_to_warn(now=now).values_list("pk", "conversation_id")[:limit])
    if not due:
        return 0
    with transaction.atomic():
        count, _ = _transition(due, now=now, breach=False)
    return count


def raised(priority: str) -> str:
    """One step up (urgent stays urgent)."""
    index = PRIORITY_STEPS.index(Priority(priority))
    return PRIORITY_STEPS[min(index + 1, len(PRIORITY_STEPS) - 1)]


def _escalate(escalations: Sequence[Escalation]) -> None:
    if not escalations:
        return
    # Imported here: conversation_update calls this module's hooks.
    from inbox.services.conversations import conversation_update  # noqa: PLC0415

    organizations = Organization.objects.in_bulk({e.organization_id for e in escalations})
    for escalation in escalations:
        organization = organizations[escalation.organization_id]
        conversation = (
            Conversation.all_tenants.filter(
                organization_id=escalation.organization_id, pk=escalation.conversation_id
            )
            .only("id", "organization_id", "priority", "assignee_id")
            .first()
        )
        if conversation is None:
            continue
        try:
            if escalation.kind == SLAEscalation.RAISE_PRIORITY:
                conversation_update(
                    organization=organization,
                    actor=None,
                    conversation=conversation,
                    priority=raised(conversation.priority),
                )
            elif escalation.kind == SLAEscalation.UNASSIGN:
                conversation_update(
                    organization=organization,
                    actor=None,
                    conversation=conversation,
                    assignee_id=None,
                )
        except Exception:
            # The breach is recorded and published either way; a failed escalation is logged.
            logger.exception("SLA escalation of conversation %s failed", conversation.pk)
