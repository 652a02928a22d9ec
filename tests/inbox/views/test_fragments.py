"""The fragments the live page fetches: list rows, new messages, one message."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from inbox.models import Conversation, Membership, MessageDirection, MessageStatus
from tests.factories import MessageFactory
from tests.inbox.views.conftest import page_url

pytestmark = pytest.mark.django_db


def test_rows_fragment_follows_the_filters(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    queued = make_conversation(customer__display_name="Queued Person")
    mine = make_conversation(customer__display_name="My Person", assignee=agent.user)
    body = browser.get(f"{page_url(agent)}rows/?view=unassigned&open={queued.pk}").content.decode()
    assert body.lstrip().startswith('<ul id="view-tabs"')
    assert 'id="list-live"' in body
    assert "Queued Person" in body
    assert "My Person" not in body
    assert f'<a class="row-link" href="{page_url(agent, queued)}?view=unassigned"' in body
    assert 'aria-current="true"' in body
    mine_body = browser.get(f"{page_url(agent)}rows/").content.decode()
    assert "My Person" in mine_body
    assert mine.pk


def test_one_row(browser: Client, agent: Membership, conversation: Conversation) -> None:
    response = browser.get(f"{page_url(agent)}rows/{conversation.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith(f'<li id="row-{conversation.pk}"')
    assert "Anna Berg" in body


def test_new_messages_after_an_id(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    first = MessageFactory(conversation=conversation, text="First")
    second = MessageFactory(conversation=conversation, text="Second")
    body = browser.get(
        f"{page_url(agent, conversation)}messages/?after={first.pk}"
    ).content.decode()
    assert "Second" in body
    assert "First" not in body
    assert f'id="message-{second.pk}"' in body
    assert 'class="day-separator"' in body
    nothing = browser.get(f"{page_url(agent, conversation)}messages/?after={second.pk}")
    assert nothing.status_code == 200
    assert "message-" not in nothing.content.decode()


def test_one_message_with_its_ticks(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    reply = MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.DELIVERED,
        author=agent.user,
        text="On its way",
    )
    body = browser.get(f"{page_url(agent, conversation)}messages/{reply.pk}/").content.decode()
    assert body.startswith(f'<li id="message-{reply.pk}"')
    assert 'class="tick tick-delivered"' in body
    assert "Delivered" in body
    assert browser.get(f"{page_url(agent, conversation)}messages/999999/").status_code == 404
