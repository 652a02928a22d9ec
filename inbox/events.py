"""Domain events: their names, their payloads, their audience, and the after-commit path.

Only services call `emit`. Payloads are small and carry ids; clients fetch what they need.
`assignees` is the audience: the conversation's assignee (None = the unassigned queue) and,
when it just changed, the previous one, so a conversation leaving someone's list tells them.
Supervisors and admins receive every event of their organization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.db import transaction

from inbox import realtime

if TYPE_CHECKING:
    from inbox.models import Conversation, Message, SLAClock

EventName = Literal[
    "message.created",
    "message.updated",
    "conversation.created",
    "conversation.updated",
    "sla.warning",
    "sla.breached",
]


@dataclass(frozen=True)
class Event:
    name: EventName
    organization_id: int
    conversation_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)
    assignees: tuple[int | None, ...] = ()


def emit(event: Event) -> None:
    """Publish `event` once the current transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: realtime.publish(event))


def _audience(
    conversation: Conversation, *, previous: int | None, handed_over: bool = False
) -> tuple[int | None, ...]:
    """The current assignee's audience, plus the previous one's on a hand-over."""
    current = conversation.assignee_id
    return (current, previous) if handed_over and previous != current else (current,)


def message_created(message: Message) -> Event:
    return Event(
        name="message.created",
        organization_id=message.organization_id,
        conversation_id=message.conversation_id,
        payload={
            "id": message.pk,
            "conversation_id": message.conversation_id,
            "direction": message.direction,
            "kind": message.kind,
            "status": message.status,
        },
        assignees=_audience(message.conversation, previous=None),
    )


def message_updated(message: Message, changed: list[str]) -> Event:
    return Event(
        name="message.updated",
        organization_id=message.organization_id,
        conversation_id=message.conversation_id,
        payload={
            "id": message.pk,
            "conversation_id": message.conversation_id,
            "status": message.status,
            "changed": changed,
        },
        assignees=_audience(message.conversation, previous=None),
    )


def conversation_created(conversation: Conversation) -> Event:
    return Event(
        name="conversation.created",
        organization_id=conversation.organization_id,
        conversation_id=conversation.pk,
        payload={"id": conversation.pk, "number": conversation.number},
        assignees=_audience(conversation, previous=None),
    )


def conversation_updated(
    conversation: Conversation, changed: list[str], *, previous_assignee_id: int | None = None
) -> Event:
    return Event(
        name="conversation.updated",
        organization_id=conversation.organization_id,
        conversation_id=conversation.pk,
        payload={
            "id": conversation.pk,
            "status": conversation.status,
            "assignee_id": conversation.assignee_id,
            "priority": conversation.priority,
            "changed": changed,
        },
        assignees=_audience(
            conversation, previous=previous_assignee_id, handed_over="assignee" in changed
        ),
    )


def sla_deadline(
    name: Literal["sla.warning", "sla.breached"], clock: SLAClock, assignee_id: int | None
) -> Event:
    """A clock passed its warning threshold or its deadline (published once per deadline).
    The audience is the assignee (the queue when unassigned) and the supervisors."""
    return Event(
        name=name,
        organization_id=clock.organization_id,
        conversation_id=clock.conversation_id,
        payload={
            "id": clock.conversation_id,
            "conversation_id": clock.conversation_id,
            "clock_id": clock.pk,
            "metric": clock.metric,
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "policy": clock.policy_id,
        },
        assignees=(assignee_id,),
    )
