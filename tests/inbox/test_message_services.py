"""message_receive / message_send / note_add: one thread per customer, nothing doubled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from inbox.errors import WindowClosedError
from inbox.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Membership,
    Message,
    MessageStatus,
    Visibility,
)
from inbox.services.conversations import conversation_update
from inbox.services.customers import Profile
from inbox.services.messages import message_receive, message_send, note_add
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def receive(channel: Any, external_id: str | None, text: str = "hi", **kwargs: Any) -> Any:
    kwargs.setdefault("platform_user_id", "psid-1")
    kwargs.setdefault("sent_at", timezone.now() - timedelta(minutes=1))
    return message_receive(
        organization=channel.organization,
        channel=channel,
        external_id=external_id,
        text=text,
        **kwargs,
    )


def test_redelivery_is_a_no_op(channel: Any) -> None:
    first = receive(channel, "m_1")
    for _ in range(3):
        again = receive(channel, "m_1")
        assert not again.created
        assert again.message.pk == first.message.pk
    assert Message.all_tenants.count() == 1
    assert Customer.all_tenants.count() == 1
    assert Conversation.all_tenants.count() == 1


def test_one_thread_per_customer_and_channel(channel: Any) -> None:
    a = receive(channel, "m_1", platform_user_id="alice")
    b = receive(channel, "m_2", platform_user_id="alice")
    c = receive(channel, "m_3", platform_user_id="bob")
    assert a.conversation.pk == b.conversation.pk != c.conversation.pk
    assert [a.conversation.number, c.conversation.number] == [1, 2]


def test_pending_and_snoozed_reopen_when_the_customer_writes(
    agent: Membership, channel: Any
) -> None:
    first = receive(channel, "m_1")
    conversation_update(
        organization=channel.organization,
        actor=agent,
        conversation=first.conversation,
        status=ConversationStatus.SNOOZED,
        snoozed_until=timezone.now() + timedelta(days=1),
    )
    second = receive(channel, "m_2")
    assert second.conversation.pk == first.conversation.pk
    assert second.conversation.status == ConversationStatus.OPEN
    assert second.conversation.snoozed_until is None


def test_a_message_after_resolution_starts_a_new_conversation(
    agent: Membership, channel: Any
) -> None:
    first = receive(channel, "m_1")
    conversation_update(
        organization=channel.organization,
        actor=agent,
        conversation=first.conversation,
        status=ConversationStatus.RESOLVED,
    )
    second = receive(channel, "m_2")
    assert second.conversation.pk != first.conversation.pk
    assert second.conversation.customer_id == first.conversation.customer_id
    assert second.conversation.number == first.conversation.number + 1


def test_late_older_message_sorts_by_platform_time_and_keeps_the_preview(channel: Any) -> None:
    now = timezone.now()
    receive(channel, "m_new", "newer", sent_at=now - timedelta(minutes=1))
    late = receive(channel, "m_old", "older", sent_at=now - timedelta(minutes=5))
    conversation = Conversation.all_tenants.get(pk=late.conversation.pk)
    assert conversation.last_message_preview == "newer"
    texts = list(
        Message.all_tenants.filter(conversation=conversation)
        .order_by("sent_at", "id")
        .values_list("text", flat=True)
    )
    assert texts == ["older", "newer"]


def test_profile_fills_and_refreshes_the_customer(channel: Any) -> None:
    receive(channel, "m_1", profile=Profile(display_name="Ana", screen_name="ana"))
    receive(channel, "m_2", profile=Profile(display_name="Ana Lima", avatar_url="https://x/a.png"))
    customer = Customer.all_tenants.get()
    assert customer.display_name == "Ana Lima"
    assert customer.avatar_url == "https://x/a.png"


def test_reply_clears_waiting_and_marks_first_response(agent: Membership, channel: Any) -> None:
    received = receive(channel, "m_1")
    assert received.conversation.waiting_since is not None
    message, created = message_send(
        organization=channel.organization,
        actor=agent,
        conversation=received.conversation,
        text="On it",
    )
    assert created
    assert message.status == MessageStatus.QUEUED
    conversation = Conversation.all_tenants.get(pk=received.conversation.pk)
    assert conversation.waiting_since is None
    assert conversation.first_response_at is not None
    assert conversation.last_message_preview == "On it"


def test_window_closed_refuses_and_stores_nothing(agent: Membership, channel: Any) -> None:
    received = receive(channel, "m_1", sent_at=timezone.now() - timedelta(hours=30))
    with pytest.raises(WindowClosedError) as excinfo:
        message_send(
            organization=channel.organization,
            actor=agent,
            conversation=received.conversation,
            text="too late",
        )
    assert excinfo.value.window_closed_at == received.message.sent_at + timedelta(hours=24)
    assert not Message.all_tenants.filter(text="too late").exists()
    note, _ = note_add(
        organization=channel.organization,
        actor=agent,
        conversation=received.conversation,
        text="customer must write first",
    )
    assert note.kind == "note"
    assert note.visibility == Visibility.PRIVATE


def test_reply_visibility_follows_the_customers_last_message(agent: Membership) -> None:
    x = ChannelFactory(organization=agent.organization, kind="twitter")
    receive(x, "dm_1", platform_user_id="u1", visibility=Visibility.PRIVATE)
    later = receive(x, "tw_1", platform_user_id="u1", visibility=Visibility.PUBLIC)
    message, _ = message_send(
        organization=x.organization, actor=agent, conversation=later.conversation, text="Thanks!"
    )
    assert message.visibility == Visibility.PUBLIC
    private, _ = message_send(
        organization=x.organization,
        actor=agent,
        conversation=later.conversation,
        text="Let's move to DM",
        visibility=Visibility.PRIVATE,
    )
    assert private.visibility == Visibility.PRIVATE


def test_events_are_published_only_after_commit(
    channel: Any, published: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        receive(channel, "m_1")
        assert published == []
    assert [e.name for e in published] == [
        "conversation.created",
        "message.created",
        "conversation.updated",
    ]
    assert len(callbacks) == 4, "three events and the new customer's profile look-up"
    with django_capture_on_commit_callbacks(execute=True):
        receive(channel, "m_1")
    assert len(published) == 3, "a redelivery publishes nothing"
