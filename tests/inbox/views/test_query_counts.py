"""The inbox pages run a constant number of queries, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from inbox.models import Conversation, Membership, MessageDirection, MessageKind, MessageStatus
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    FollowUpFactory,
    MessageFactory,
    SLAClockFactory,
)
from tests.inbox.views.conftest import HTMX_PANES, page_url

pytestmark = pytest.mark.django_db

# session, user, membership + organization, organizations (switcher), rows, their SLA clocks,
# view counts, channels.
LIST_PAGE_QUERIES = 8
# The list page's, plus the conversation, its customer's history, their messages, the read
# marker (inside the service's savepoint: three), its SLA clocks, identities, members,
# follow-ups.
CONVERSATION_PAGE_QUERIES = 18
# session, user, membership, the conversation, the new messages, the read marker (three).
THREAD_FRAGMENT_QUERIES = 8


def _thread(conversation: Conversation, size: int, author: Any) -> None:
    for n in range(size):
        if n % 3 == 0:
            MessageFactory(conversation=conversation)
        elif n % 3 == 1:
            MessageFactory(
                conversation=conversation,
                direction=MessageDirection.OUTBOUND,
                status=MessageStatus.READ,
                author=author,
            )
        else:
            MessageFactory(
                conversation=conversation,
                direction=MessageDirection.OUTBOUND,
                kind=MessageKind.NOTE,
                status=MessageStatus.SENT,
                author=author,
                external_id=None,
            )


@pytest.mark.parametrize("rows", [1, 20])
def test_inbox_page_query_count(
    rows: int,
    client: Client,
    supervisor: Membership,
    colleague: Membership,
    django_assert_num_queries: Any,
) -> None:
    organization = supervisor.organization
    channels = [ChannelFactory(organization=organization, kind=k) for k in ("messenger", "twitter")]
    for n in range(rows):
        conversation = ConversationFactory(
            customer__organization=organization,
            channel=channels[n % 2],
            assignee=colleague.user if n % 2 else None,
        )
        MessageFactory(conversation=conversation)
        SLAClockFactory(conversation=conversation)
    client.force_login(supervisor.user)
    url = page_url(supervisor)
    with django_assert_num_queries(LIST_PAGE_QUERIES):
        response = client.get(url)
    assert response.content.decode().count('class="row-link"') == rows


@pytest.mark.parametrize("size", [1, 20])
def test_conversation_page_query_count(
    size: int,
    browser: Client,
    agent: Membership,
    make_conversation: Callable[..., Conversation],
    django_assert_num_queries: Any,
) -> None:
    conversation = make_conversation(assignee=agent.user)
    for _ in range(size):
        SLAClockFactory(conversation=make_conversation(assignee=agent.user))
    SLAClockFactory(conversation=conversation)
    SLAClockFactory(conversation=conversation, metric="resolution")
    for _ in range(size):
        FollowUpFactory(conversation=conversation, created_by=agent.user)
    earlier = ConversationFactory(
        customer=conversation.customer, channel=conversation.channel, status="resolved"
    )
    _thread(earlier, size, agent.user)
    _thread(conversation, size, agent.user)
    url = page_url(agent, conversation)
    browser.get(url)  # the first view creates the read marker
    with django_assert_num_queries(CONVERSATION_PAGE_QUERIES):
        response = browser.get(url)
    assert response.content.decode().count('class="message message-') == 2 * size
    assert response.content.decode().count('class="follow-up"') == size
    with django_assert_num_queries(CONVERSATION_PAGE_QUERIES - LIST_PAGE_QUERIES + 3):
        browser.get(url, headers=HTMX_PANES)


@pytest.mark.parametrize("size", [1, 20])
def test_thread_fragment_query_count(
    size: int,
    browser: Client,
    agent: Membership,
    conversation: Conversation,
    django_assert_num_queries: Any,
) -> None:
    _thread(conversation, size, agent.user)
    url = f"{page_url(agent, conversation)}messages/?after=0"
    browser.get(url)
    with django_assert_num_queries(THREAD_FRAGMENT_QUERIES):
        response = browser.get(url)
    assert response.content.decode().count('class="message message-') == size
