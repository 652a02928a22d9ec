"""Conversation lifecycle: open or reuse the customer's thread, assign, prioritise, status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox import events
from inbox.errors import ConflictError, InvalidError
from inbox.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Membership,
    Organization,
    Priority,
    User,
)
from inbox.services.customers import customer_identify
from inbox.services.sla import sla_recompute, sla_status_changed
from inbox.tenancy import scoped

UNSET: Any = object()


def _next_number(organization: Organization) -> int:
    return next_conversation_numbers(organization, 1)[0]


def next_conversation_numbers(organization: Organization, count: int) -> range:
    """Take `count` numbers of the per-organization sequence. The row lock serialises
    concurrent creations until the caller's transaction ends; FOR NO KEY UPDATE, because a
    FOR UPDATE lock would also block every INSERT referencing the organization (webhook
    events, messages) meanwhile."""
    locked = Organization.objects.select_for_update(no_key=True).only("last_conversation_number")
    org = locked.get(pk=organization.pk)
    org.last_conversation_number += count
    org.save(update_fields=["last_conversation_number"])
    return range(org.last_conversation_number - count + 1, org.last_conversation_number + 1)


@scoped
def conversation_for_inbound(
    *, organization: Organization, customer: Customer, channel: Channel, at: datetime
) -> tuple[Conversation, bool]:
    """The customer's unresolved conversation on this channel, locked; else a new one.

    Must run inside the caller's transaction. A pending or snoozed conversation reopens (the
    customer wrote); a resolved one is history and a new cycle starts. Returns (conversation,
    created).
    """
    existing = (
        Conversation.objects.select_for_update()
        .filter(organization=organization, customer=customer, channel=channel)
        .exclude(status=ConversationStatus.RESOLVED)
        .first()
    )
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                organization=organization,
                number=_next_number(organization),
                customer=customer,
                channel=channel,
                last_message_at=at,
            )
    except IntegrityError:
        # Another worker opened it first: the partial unique index decided; use theirs.
        return (
            Conversation.objects.select_for_update()
            .filter(organization=organization, customer=customer, channel=channel)
            .exclude(status=ConversationStatus.RESOLVED)
            .get(),
            False,
        )
    events.emit(events.conversation_created(conversation))
    return conversation, True


def record_referral(
    identity: CustomerIdentity,
    conversation: Conversation,
    referral: dict[str, Any],
    *,
    at: datetime,
) -> None:
    """Keep where the customer came from: the first referral of a conversation is its source;
    the identity remembers the latest one. The caller saves the conversation."""
    if not conversation.source:
        conversation.source = {"referral": referral}
    identity.profile = {
        **identity.profile,
        "last_referral": referral,
        "last_referral_at": at.isoformat(),
    }
    identity.save(update_fields=["profile"])


@scoped
@transaction.atomic
def conversation_record_referral(
    *,
    organization: Organization,
    channel: Channel,
    platform_user_id: str,
    referral: dict[str, Any],
    at: datetime,
) -> Conversation | None:
    """A customer opened the thread through a link or an ad: a customer action.

    It reopens the reply window (Messenger counts it like a message) and becomes the source of
    the customer's open conversation, which is started if there is none, so the agent sees
    where they came from before they type. Idempotent: a referral at or before the last one
    recorded for this person changes nothing (returns None).
    """
    identity, _ = customer_identify(
        organization=organization, channel=channel, platform_user_id=platform_user_id
    )
    seen = identity.profile.get("last_referral_at")
    if isinstance(seen, str) and seen >= at.isoformat():
        return None  # a redelivery or replay of a referral already recorded
    conversation, created = conversation_for_inbound(
        organization=organization, customer=identity.customer, channel=channel, at=at
    )
    record_referral(identity, conversation, referral, at=at)
    if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
        conversation.last_inbound_at = at
    if created:
        conversation.last_message_preview = "Opened the conversation from a link"
    # No SLA clock starts here: opening the thread asks nothing yet. The customer's first
    # message starts the cycle (message_receive), measured from that message.
    conversation.save()
    events.emit(events.conversation_updated(conversation, ["source"]))
    return conversation


@scoped
@transaction.atomic
def conversation_record_customer_action(
    *, organization: Organization, channel: Channel, platform_user_id: str, at: datetime
) -> Conversation | None:
    """The customer acted without writing (a reaction): the reply window reopens from `at`,
    their platform time. Recorded on their latest conversation on this channel, resolved or
    not (whoever reopens it may answer while the window lasts); a person never seen gets
    nothing, and no conversation starts. Idempotent: an action no later than the last one
    recorded changes nothing (returns None)."""
    identity = CustomerIdentity.objects.filter(
        organization=organization, channel=channel, platform_user_id=platform_user_id
    ).first()
    if identity is None:
        return None
    conversation = (
        Conversation.objects.select_for_update()
        .filter(organization=organization, customer_id=identity.customer_id, channel=channel)
        .order_by("-pk")
        .first()
    )
    if conversation is None or (
        conversation.last_inbound_at is not None and at <= conversation.last_inbound_at
    ):
        return None
    conversation.last_inbound_at = at
    conversation.save(update_fields=["last_inbound_at", "updated_at"])
    events.emit(events.conversation_updated(conversation, ["window"]))
    return conversation


def _member_user(organization: Organization, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    membership = (
        Membership.objects.select_related("user")
        .filter(organization=organization, user_id=user_id)
        .first()
    )
    if membership is None:
        raise InvalidError(
            "The assignee is not a member of this organization.",
            field_errors={"assignee_id": ["Not a member."]},
        )
    return membership.user


def track_pending(conversation: Conversation, organization: Organization, now: datetime) -> None:
    """Keep `pending_since` and the auto-resolve time in step with the status (call after
    setting it): set when the conversation starts waiting on the customer, cleared after."""
    if conversation.status != ConversationStatus.PENDING:
        conversation.pending_since = conversation.auto_resolve_at = None
        return
    if conversation.pending_since is None:
        conversation.pending_since = now
    days = organization.auto_resolve_after_days
    conversation.auto_resolve_at = (
        conversation.pending_since + timedelta(days=days) if days else None
    )


def _apply_status(
    conversation: Conversation, status: str, snoozed_until: datetime | None, now: datetime
) -> None:
    if status not in ConversationStatus.values:
        raise InvalidError("Unknown status.", field_errors={"status": ["Unknown."]})
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is None:
            raise InvalidError(
                "Snoozing needs a time.", field_errors={"snoozed_until": ["Required to snooze."]}
            )
        if snoozed_until <= now:
            raise InvalidError(
                "Snooze until a future time.",
                field_errors={"snoozed_until": ["Must be in the future."]},
            )
        conversation.snoozed_until = snoozed_until
    else:
        if snoozed_until is not None:
            raise InvalidError(
                "Only a snoozed conversation has a wake-up time.",
                field_errors={"snoozed_until": ["Only with status snoozed."]},
            )
        conversation.snoozed_until = None
    was_resolved = conversation.status == ConversationStatus.RESOLVED
    if status == ConversationStatus.RESOLVED:
        conversation.resolved_at = now
        conversation.waiting_since = None
    elif was_resolved:
        _ensure_can_reopen(conversation)
        conversation.resolved_at = None
    conversation.status = status


def _ensure_can_reopen(conversation: Conversation) -> None:
    newer = (
        Conversation.objects.filter(
            organization_id=conversation.organization_id,
            customer_id=conversation.customer_id,
            channel_id=conversation.channel_id,
        )
        .exclude(status=ConversationStatus.RESOLVED)
        .exclude(pk=conversation.pk)
        .values_list("number", flat=True)
        .first()
    )
    if newer is not None:
        raise ConflictError(
            f"The customer's conversation #{newer} on this channel is already open; "
            "continue there.",
            field_errors={"status": ["Another conversation of this customer is open."]},
        )


@scoped
@transaction.atomic
def conversation_update(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    status: str = UNSET,
    snoozed_until: datetime | None = UNSET,
    assignee_id: int | None = UNSET,
    priority: str = UNSET,
) -> Conversation:
    """Change any of status / snooze / assignee / priority in one step and one event.

    Setting `snoozed_until` alone snoozes. Resolving clears the snooze and the waiting clock;
    reopening a resolved conversation fails with ConflictError if the customer has since
    started a newer one on the same channel. Raises InvalidError on bad values. SLA clocks
    follow (inbox.services.sla): a status change pauses, resumes, meets or starts a cycle, a
    priority change selects the policy again. `actor` None is the system (timers).
    """
    locked = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("customer", "channel", "assignee")
        .get(organization=organization, pk=conversation.pk)
    )
    now = timezone.now()
    changed: list[str] = []
    previous_assignee_id = locked.assignee_id
    previous_status = locked.status
    if status is not UNSET or snoozed_until is not UNSET:
        new_status = locked.status if status is UNSET else status
        new_until = None if snoozed_until is UNSET else snoozed_until
        if status is UNSET and new_until is not None:
            new_status = ConversationStatus.SNOOZED
        before = (locked.status, locked.snoozed_until)
        _apply_status(locked, new_status, new_until, now)
        if before != (locked.status, locked.snoozed_until):
            changed.append("status")
    if assignee_id is not UNSET:
        assignee = _member_user(organization, assignee_id)
        if locked.assignee_id != (assignee.pk if assignee else None):
            locked.assignee = assignee
            changed.append("assignee")
    if priority is not UNSET:
        if priority not in Priority.values:
            raise InvalidError("Unknown priority.", field_errors={"priority": ["Unknown."]})
        if locked.priority != priority:
            locked.priority = priority
            changed.append("priority")
    _follow_changes(organization, locked, previous_status, changed, now)
    if changed:
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise ConflictError(
                "Another conversation of this customer on this channel is open."
            ) from None
        events.emit(
            events.conversation_updated(locked, changed, previous_assignee_id=previous_assignee_id)
        )
    return locked


def _follow_changes(
    organization: Organization,
    conversation: Conversation,
    previous_status: str,
    changed: list[str],
    now: datetime,
) -> None:
    """What a status or priority change brings along: the pending clock for auto-resolve and
    the SLA clocks ("sla" joins `changed` when the deadline or state shown moved)."""
    sla_changed = False
    if conversation.status != previous_status:
        track_pending(conversation, organization, now)
        sla_changed = sla_status_changed(
            organization=organization, conversation=conversation, before=previous_status
        )
    if "priority" in changed:
        recomputed = sla_recompute(organization=organization, conversation=conversation)
        sla_changed = recomputed or sla_changed
    if sla_changed:
        changed.append("sla")


def conversation_assign(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    assignee_id: int | None,
) -> Conversation:
    """Assign to a member (or None: back to the unassigned queue)."""
    return conversation_update(
        organization=organization, actor=actor, conversation=conversation, assignee_id=assignee_id
    )


def conversation_set_status(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    status: str,
) -> Conversation:
    """Open, pending or resolved (use conversation_snooze to snooze)."""
    return conversation_update(
        organization=organization, actor=actor, conversation=conversation, status=status
    )


def conversation_snooze(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    until: datetime,
) -> Conversation:
    return conversation_update(
        organization=organization,
        actor=actor,
        conversation=conversation,
        status=ConversationStatus.SNOOZED,
        snoozed_until=until,
    )


def conversation_set_priority(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    priority: str,
) -> Conversation:
    return conversation_update(
        organization=organization, actor=actor, conversation=conversation, priority=priority
    )


@scoped
@transaction.atomic
def conversations_unassign_all(*, organization: Organization, user_id: int) -> int:
    """Hand every unresolved conversation of a leaving member back to the queue."""
    conversations = list(
        Conversation.objects.select_for_update()
        .filter(organization=organization, assignee_id=user_id)
        .exclude(status=ConversationStatus.RESOLVED)
    )
    for conversation in conversations:
        conversation.assignee = None
    Conversation.objects.bulk_update(conversations, ["assignee"])
    for conversation in conversations:
        events.emit(
            events.conversation_updated(conversation, ["assignee"], previous_assignee_id=user_id)
        )
    return len(conversations)
