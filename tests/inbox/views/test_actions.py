"""Every button of the inbox goes through its service and changes the rows it should."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from inbox.models import (
    ChannelKind,
    Conversation,
    ConversationStatus,
    Delivery,
    Membership,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Priority,
    Visibility,
)
from tests.factories import ChannelFactory, MessageFactory
from tests.inbox.views.conftest import HTMX_PANES, action_url, page_url

pytestmark = pytest.mark.django_db


def act(browser: Client, agent: Membership, conversation: Conversation, **data: Any) -> Any:
    return browser.post(action_url(agent, conversation, "actions"), data)


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.all_tenants.get(pk=conversation.pk)


def messages_of(conversation: Conversation) -> list[Message]:
    return list(Message.all_tenants.filter(conversation=conversation).order_by("id"))


def test_assign_to_me_then_unassign(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    response = act(browser, agent, conversation, action="assign_me")
    assert response.status_code == 303
    assert response["Location"] == page_url(agent, conversation)
    assert fresh(conversation).assignee_id == agent.user_id
    page = browser.get(response["Location"]).content.decode()
    assert "Assigned to you." in page
    assert act(browser, agent, conversation, action="unassign").status_code == 303
    assert fresh(conversation).assignee_id is None


def test_assigning_to_a_colleague_returns_to_the_list(
    browser: Client, agent: Membership, colleague: Membership, conversation: Conversation
) -> None:
    response = act(browser, agent, conversation, action="assign", assignee=str(colleague.user_id))
    assert response.status_code == 303
    # The agent may no longer see it: back to the list, not to a 404.
    assert response["Location"] == page_url(agent)
    assert fresh(conversation).assignee_id == colleague.user_id


def test_assigning_to_a_stranger_is_a_readable_error(
    browser: Client,
    agent: Membership,
    conversation: Conversation,
    make_member: Callable[..., Membership],
) -> None:
    stranger = make_member()
    response = act(browser, agent, conversation, action="assign", assignee=str(stranger.user_id))
    assert response.status_code == 422
    assert "The assignee is not a member of this organization." in response.content.decode()
    assert fresh(conversation).assignee_id is None
    missing = act(browser, agent, conversation, action="assign", assignee="")
    assert missing.status_code == 422
    assert "Choose a colleague." in missing.content.decode()


def test_set_priority(browser: Client, agent: Membership, conversation: Conversation) -> None:
    assert act(browser, agent, conversation, action="priority", priority="high").status_code == 303
    assert fresh(conversation).priority == Priority.HIGH
    wrong = act(browser, agent, conversation, action="priority", priority="whenever")
    assert wrong.status_code == 422
    assert "Unknown priority." in wrong.content.decode()
    assert fresh(conversation).priority == Priority.HIGH


def test_waiting_on_customer_then_reopen(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    assert act(browser, agent, conversation, action="pending").status_code == 303
    assert fresh(conversation).status == ConversationStatus.PENDING
    assert act(browser, agent, conversation, action="reopen").status_code == 303
    assert fresh(conversation).status == ConversationStatus.OPEN


def test_resolve_then_reopen(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    assert act(browser, agent, conversation, action="resolve").status_code == 303
    resolved = fresh(conversation)
    assert resolved.status == ConversationStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert act(browser, agent, conversation, action="reopen").status_code == 303
    assert fresh(conversation).status == ConversationStatus.OPEN


def test_reopening_when_a_newer_conversation_is_open_is_a_readable_conflict(
    browser: Client,
    agent: Membership,
    make_conversation: Callable[..., Conversation],
    conversation: Conversation,
) -> None:
    act(browser, agent, conversation, action="resolve")
    newer = make_conversation()
    Conversation.all_tenants.filter(pk=newer.pk).update(customer=conversation.customer)
    response = act(browser, agent, conversation, action="reopen")
    assert response.status_code == 409
    assert "is already open; continue there." in response.content.decode()
    assert fresh(conversation).status == ConversationStatus.RESOLVED


@time_machine.travel(datetime(2026, 3, 4, 15, 30, tzinfo=ZoneInfo("Europe/London")), tick=False)
@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("1h", datetime(2026, 3, 4, 16, 30, tzinfo=ZoneInfo("Europe/London"))),
        ("tomorrow", datetime(2026, 3, 5, 9, 0, tzinfo=ZoneInfo("Europe/London"))),
        ("next_week", datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("Europe/London"))),
    ],
)
def test_snooze_presets_in_the_organizations_time_zone(
    browser: Client, agent: Membership, conversation: Conversation, preset: str, expected: datetime
) -> None:
    agent.organization.time_zone = "Europe/London"
    agent.organization.save()
    response = act(browser, agent, conversation, action="snooze", preset=preset)
    assert response.status_code == 303
    snoozed = fresh(conversation)
    assert snoozed.status == ConversationStatus.SNOOZED
    assert snoozed.snoozed_until == expected


def test_snooze_until_a_chosen_local_time(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    agent.organization.time_zone = "America/New_York"
    agent.organization.save()
    when = timezone.localtime(timezone.now() + timedelta(days=2), ZoneInfo("America/New_York"))
    local = when.replace(hour=8, minute=15, second=0, microsecond=0, tzinfo=None)
    response = act(
        browser, agent, conversation, action="snooze", until=local.strftime("%Y-%m-%dT%H:%M")
    )
    assert response.status_code == 303
    assert fresh(conversation).snoozed_until == local.replace(tzinfo=ZoneInfo("America/New_York"))


def test_snoozing_into_the_past_or_without_a_time_is_refused(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    past = act(browser, agent, conversation, action="snooze", until="2001-01-01T09:00")
    assert past.status_code == 422
    assert "Snooze until a future time." in past.content.decode()
    empty = act(browser, agent, conversation, action="snooze", until="")
    assert empty.status_code == 422
    assert "Choose when the conversation should wake up." in empty.content.decode()
    assert fresh(conversation).status == ConversationStatus.OPEN


def test_an_unknown_action_is_refused(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    assert act(browser, agent, conversation, action="explode").status_code == 422


def test_actions_answer_htmx_with_the_panes_and_the_url_to_show(
    browser: Client, agent: Membership, colleague: Membership, conversation: Conversation
) -> None:
    response = browser.post(
        action_url(agent, conversation, "actions") + "?view=unassigned",
        {"action": "resolve"},
        headers=HTMX_PANES,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith('<div id="conversation-panes"')
    assert "Resolved." in body
    assert response["HX-Replace-Url"] == page_url(agent, conversation) + "?view=unassigned"
    assert response["HX-Trigger"] == "parley:list-stale"
    handed = browser.post(
        action_url(agent, conversation, "actions"),
        {"action": "assign", "assignee": str(colleague.user_id)},
        headers=HTMX_PANES,
    )
    assert handed.status_code == 200
    assert handed["HX-Replace-Url"] == page_url(agent)
    assert "No conversation open" in handed.content.decode()


def test_reply_queues_a_message_and_a_new_draft_key(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    key = str(uuid.uuid4())
    response = browser.post(
        action_url(agent, conversation, "reply"),
        {"text": "We have a room for you", "idempotency_key": key, "mode": "reply"},
    )
    assert response.status_code == 303
    [message] = messages_of(conversation)
    assert message.text == "We have a room for you"
    assert message.direction == MessageDirection.OUTBOUND
    assert message.status == MessageStatus.QUEUED
    assert message.author_id == agent.user_id
    assert message.idempotency_key == key
    page = browser.get(response["Location"]).content.decode()
    assert "We have a room for you" in page
    assert key not in page  # the next draft gets its own key


def test_a_double_submit_sends_once(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    data = {"text": "Only once", "idempotency_key": str(uuid.uuid4())}
    first = browser.post(action_url(agent, conversation, "reply"), data, headers=HTMX_PANES)
    second = browser.post(action_url(agent, conversation, "reply"), data, headers=HTMX_PANES)
    assert first.status_code == second.status_code == 200
    assert [m.text for m in messages_of(conversation)] == ["Only once"]


def test_a_note_is_stored_and_never_sent(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    closed = make_conversation(last_inbound_at=timezone.now() - timedelta(days=10))
    response = browser.post(
        action_url(agent, closed, "reply"),
        {"text": "Call them tomorrow", "mode": "note", "idempotency_key": str(uuid.uuid4())},
        headers=HTMX_PANES,
    )
    assert response.status_code == 200
    [note] = messages_of(closed)
    assert note.kind == MessageKind.NOTE
    assert note.visibility == Visibility.PRIVATE
    assert not Delivery.all_tenants.filter(message=note).exists()
    body = response.content.decode()
    assert "Call them tomorrow" in body
    assert 'data-mode="note"' in body  # the composer stays in note mode


def test_a_reply_in_a_closed_window_keeps_the_draft_and_says_why(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    closed = make_conversation(last_inbound_at=timezone.now() - timedelta(days=10))
    response = browser.post(
        action_url(agent, closed, "reply"),
        {"text": "Are you still there?", "idempotency_key": "draft-1"},
        headers=HTMX_PANES,
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert "the customer must write first" in body
    assert 'role="alert"' in body
    assert ">Are you still there?</textarea>" in body
    assert 'value="draft-1"' in body
    assert messages_of(closed) == []


def test_an_empty_reply_is_a_readable_error(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    response = browser.post(action_url(agent, conversation, "reply"), {"text": "   "})
    assert response.status_code == 422
    assert "The message is empty." in response.content.decode()


def test_a_public_reply_on_x(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    x = ChannelFactory(organization=agent.organization, kind=ChannelKind.TWITTER)
    conversation = make_conversation(channel=x, default_visibility=Visibility.PRIVATE)
    MessageFactory(conversation=conversation, visibility=Visibility.PUBLIC, external_id="t-1")
    response = browser.post(
        action_url(agent, conversation, "reply"),
        {"text": "Thanks for the shout-out!", "visibility": "public"},
    )
    assert response.status_code == 303
    [message] = [m for m in messages_of(conversation) if m.direction == "outbound"]
    assert message.visibility == Visibility.PUBLIC


def test_move_to_dm(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    x = ChannelFactory(organization=agent.organization, kind=ChannelKind.TWITTER)
    conversation = make_conversation(channel=x, default_visibility=Visibility.PUBLIC)
    MessageFactory(conversation=conversation, visibility=Visibility.PUBLIC, external_id="t-1")
    data = {"idempotency_key": "dm-1"}
    response = browser.post(action_url(agent, conversation, "move-to-dm"), data)
    assert response.status_code == 303
    again = browser.post(action_url(agent, conversation, "move-to-dm"), data)
    assert again.status_code == 303
    [message] = [m for m in messages_of(conversation) if m.direction == "outbound"]
    assert message.visibility == Visibility.PUBLIC
    assert x.external_id in message.text  # the link that opens the DM
    assert fresh(conversation).default_visibility == Visibility.PRIVATE


def test_move_to_dm_on_messenger_is_a_readable_error(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    response = browser.post(action_url(agent, conversation, "move-to-dm"), {})
    assert response.status_code == 422
    assert "This channel is private already." in response.content.decode()


def test_retry_a_failed_reply(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    failed = MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.FAILED,
        failure_code="blocked",
        failure_reason="The person blocked the page.",
        author=agent.user,
        external_id=None,
    )
    page = browser.get(page_url(agent, conversation)).content.decode()
    assert "The person blocked the page." in page
    assert ">Retry</button>" in page
    retry_url = f"{page_url(agent, conversation)}messages/{failed.pk}/retry/"
    response = browser.post(retry_url)
    assert response.status_code == 303
    failed.refresh_from_db()
    assert failed.status == MessageStatus.QUEUED
    assert failed.failure_reason == ""
    again = browser.post(retry_url)
    assert again.status_code == 409
    assert "Only a failed reply can be retried." in again.content.decode()


def test_retry_of_another_conversations_message_is_404(
    browser: Client,
    agent: Membership,
    conversation: Conversation,
    make_conversation: Callable[..., Conversation],
) -> None:
    other = make_conversation()
    failed = MessageFactory(
        conversation=other,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.FAILED,
        external_id=None,
    )
    response = browser.post(f"{page_url(agent, conversation)}messages/{failed.pk}/retry/")
    assert response.status_code == 404
    failed.refresh_from_db()
    assert failed.status == MessageStatus.FAILED


def test_actions_need_post_and_a_csrf_token(agent: Membership, conversation: Conversation) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(agent.user)
    assert (
        strict.post(action_url(agent, conversation, "actions"), {"action": "resolve"}).status_code
        == 403
    )
    assert strict.get(action_url(agent, conversation, "actions")).status_code == 405
    assert fresh(conversation).status == ConversationStatus.OPEN
