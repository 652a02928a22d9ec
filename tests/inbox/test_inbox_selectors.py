"""Selectors and services behind the inbox: its order, unread counts, search, history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import (
    Conversation,
    ConversationRead,
    ConversationStatus,
    Membership,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Role,
)
from inbox.selectors.conversations import (
    ConversationFilters,
    conversation_list,
    conversation_row,
    conversation_rows,
    conversation_view_counts,
    customer_thread,
)
from inbox.services.reads import conversation_mark_read
from tests.factories import ConversationFactory, IdentityFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def make(agent: Membership) -> Callable[..., Conversation]:
    def make(**kwargs: object) -> Conversation:
        conversation: Conversation = ConversationFactory(
            customer__organization=agent.organization, **kwargs
        )
        return conversation

    return make


def ids(conversations: object) -> list[int]:
    return [c.pk for c in conversations]  # type: ignore[attr-defined]  # an iterable of rows


def test_waiting_order_puts_the_longest_wait_first_and_answered_last(
    agent: Membership, make: Callable[..., Conversation]
) -> None:
    now = timezone.now()
    answered_recent = make(waiting_since=None, last_message_at=now)
    answered_old = make(waiting_since=None, last_message_at=now - timedelta(days=1))
    waiting_short = make(waiting_since=now - timedelta(minutes=1))
    waiting_long = make(waiting_since=now - timedelta(hours=2))
    rows = conversation_list(
        organization=agent.organization,
        viewer=agent,
        filters=ConversationFilters(order="waiting"),
    )
    assert ids(rows) == [waiting_long.pk, waiting_short.pk, answered_recent.pk, answered_old.pk]
    recent = conversation_list(
        organization=agent.organization, viewer=agent, filters=ConversationFilters()
    )
    assert ids(recent)[0] in (answered_recent.pk, waiting_short.pk, waiting_long.pk)


def test_search_covers_screen_names(agent: Membership, make: Callable[..., Conversation]) -> None:
    conversation = make()
    IdentityFactory(
        customer=conversation.customer, channel=conversation.channel, screen_name="surf_queen"
    )
    make()
    found = conversation_list(
        organization=agent.organization, viewer=agent, filters=ConversationFilters(q="SURF")
    )
    assert ids(found) == [conversation.pk]


def test_unread_counts_follow_the_read_marker(
    agent: Membership, make: Callable[..., Conversation]
) -> None:
    conversation = make()
    first = MessageFactory(conversation=conversation)
    MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.SENT,
        author=agent.user,
    )
    MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        kind=MessageKind.NOTE,
        status=MessageStatus.SENT,
        external_id=None,
    )
    second = MessageFactory(conversation=conversation)

    def unread() -> int:
        row = conversation_row(organization=agent.organization, viewer=agent, pk=conversation.pk)
        assert row is not None
        return int(row.unread_count)  # type: ignore[attr-defined]  # annotated by the selector

    assert unread() == 2  # only the customer's messages count
    conversation_mark_read(
        organization=agent.organization,
        actor=agent,
        conversation=conversation,
        last_message_id=first.pk,
    )
    assert unread() == 1
    conversation_mark_read(
        organization=agent.organization,
        actor=agent,
        conversation=conversation,
        last_message_id=second.pk,
    )
    assert unread() == 0
    # A stale tab cannot move the marker back.
    conversation_mark_read(
        organization=agent.organization,
        actor=agent,
        conversation=conversation,
        last_message_id=first.pk,
    )
    assert unread() == 0
    assert ConversationRead.all_tenants.get(user=agent.user).last_read_message_id == second.pk


def test_read_markers_are_personal(
    agent: Membership, make_member: Callable[..., Membership], make: Callable[..., Conversation]
) -> None:
    colleague = make_member(Role.AGENT, organization=agent.organization)
    conversation = make()
    message = MessageFactory(conversation=conversation)
    conversation_mark_read(
        organization=agent.organization,
        actor=agent,
        conversation=conversation,
        last_message_id=message.pk,
    )
    rows = conversation_rows(
        organization=agent.organization, viewer=colleague, filters=ConversationFilters()
    )
    assert [r.unread_count for r in rows] == [1]  # type: ignore[attr-defined]  # annotated


def test_view_counts(
    agent: Membership, make_member: Callable[..., Membership], make: Callable[..., Conversation]
) -> None:
    colleague = make_member(Role.AGENT, organization=agent.organization)
    make(assignee=agent.user)
    make(assignee=agent.user, status=ConversationStatus.PENDING)
    make()
    make(assignee=colleague.user)
    counts = conversation_view_counts(organization=agent.organization, viewer=agent)
    assert (counts.mine, counts.unassigned, counts.all) == (1, 1, 3)


def test_customer_thread_is_every_cycle_oldest_first_with_messages(
    agent: Membership, make: Callable[..., Conversation]
) -> None:
    current = make()
    earlier = ConversationFactory(
        customer=current.customer,
        status=ConversationStatus.RESOLVED,
        created_at=timezone.now() - timedelta(days=9),
    )
    old_message = MessageFactory(conversation=earlier)
    new_message = MessageFactory(conversation=current)
    make()  # someone else
    thread = customer_thread(organization=agent.organization, customer=current.customer)
    assert ids(thread) == [earlier.pk, current.pk]
    assert [m.pk for m in thread[0].messages.all()] == [old_message.pk]
    assert [m.pk for m in thread[1].messages.all()] == [new_message.pk]
