"""Hot paths run a constant number of queries, whatever the number of rows."""

from __future__ import annotations

from typing import Any

import pytest

from inbox.models import Membership, Role
from tests.conftest import api_client
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory, SLAClockFactory

pytestmark = pytest.mark.django_db

# token + user, membership + organization, the page itself, its rows' SLA clocks.
CONVERSATION_LIST_QUERIES = 4
# token + user, membership + organization, the conversation, the page.
MESSAGE_LIST_QUERIES = 4


@pytest.mark.parametrize("rows", [1, 20])
def test_conversation_list_query_count(
    rows: int, supervisor: Membership, django_assert_num_queries: Any
) -> None:
    organization = supervisor.organization
    channels = [ChannelFactory(organization=organization, kind=k) for k in ("messenger", "twitter")]
    for n in range(rows):
        conversation = ConversationFactory(
            customer__organization=organization,
            channel=channels[n % 2],
            assignee=supervisor.user if n % 3 else None,
        )
        SLAClockFactory(conversation=conversation)
        SLAClockFactory(conversation=conversation, metric="resolution")
    client = api_client(supervisor)
    url = f"/api/v1/orgs/{organization.slug}/conversations/"
    client.get(url)  # warm the token/user caches of the auth layer (none expected)
    with django_assert_num_queries(CONVERSATION_LIST_QUERIES):
        response = client.get(url)
    assert len(response.json()["results"]) == rows
    assert all(len(row["sla"]) == 2 for row in response.json()["results"])
    with django_assert_num_queries(CONVERSATION_LIST_QUERIES):
        response = client.get(f"{url}?ordering=sla_due_at&sla=due_within:60")
    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [1, 20])
def test_agent_mine_list_query_count(
    rows: int, agent: Membership, django_assert_num_queries: Any
) -> None:
    for _ in range(rows):
        conversation = ConversationFactory(
            customer__organization=agent.organization, assignee=agent.user
        )
        SLAClockFactory(conversation=conversation)
    client = api_client(agent)
    with django_assert_num_queries(CONVERSATION_LIST_QUERIES):
        response = client.get(
            f"/api/v1/orgs/{agent.organization.slug}/conversations/?assignee=me&status=open"
        )
    assert len(response.json()["results"]) == rows
    assert all(row["sla"][0]["state"] == "running" for row in response.json()["results"])


@pytest.mark.parametrize("rows", [1, 20])
def test_message_list_query_count(
    rows: int, agent: Membership, django_assert_num_queries: Any
) -> None:
    conversation = ConversationFactory(customer__organization=agent.organization)
    for _ in range(rows):
        MessageFactory(conversation=conversation)
    client = api_client(agent)
    url = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/messages/"
    with django_assert_num_queries(MESSAGE_LIST_QUERIES):
        response = client.get(url)
    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [1, 20])
def test_customer_list_query_count(
    rows: int, agent: Membership, django_assert_num_queries: Any
) -> None:
    channel = ChannelFactory(organization=agent.organization)
    for _ in range(rows):
        ConversationFactory(customer__organization=agent.organization, channel=channel)
    client = api_client(agent)
    # token, membership, customers, their identities (with channels).
    with django_assert_num_queries(4):
        response = client.get(f"/api/v1/orgs/{agent.organization.slug}/customers/")
    assert len(response.json()["results"]) == rows


def test_supervisor_role_is_cumulative(make_member: Any) -> None:
    admin = make_member(Role.ADMIN)
    assert admin.has_role(Role.SUPERVISOR)
    assert admin.has_role(Role.AGENT)
    assert not make_member(Role.AGENT).has_role(Role.SUPERVISOR)
