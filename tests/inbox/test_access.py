"""Who sees which conversation inside one organization."""

from __future__ import annotations

from typing import Any

import pytest

from inbox.models import Membership, Role
from tests.conftest import api_client
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_agents_see_theirs_and_the_queue_supervisors_see_all(
    agent: Membership, make_member: Any
) -> None:
    colleague = make_member(Role.AGENT, organization=agent.organization)
    supervisor = make_member(Role.SUPERVISOR, organization=agent.organization)
    org = agent.organization
    mine = ConversationFactory(customer__organization=org, assignee=agent.user)
    queue = ConversationFactory(customer__organization=org, assignee=None)
    theirs = ConversationFactory(customer__organization=org, assignee=colleague.user)
    base = f"/api/v1/orgs/{org.slug}/conversations"
    as_agent, as_supervisor = api_client(agent), api_client(supervisor)
    for conversation, agent_status in ((mine, 200), (queue, 200), (theirs, 404)):
        assert as_agent.get(f"{base}/{conversation.pk}/").status_code == agent_status
        assert as_agent.get(f"{base}/{conversation.pk}/messages/").status_code == agent_status
        assert as_supervisor.get(f"{base}/{conversation.pk}/").status_code == 200
    listed = {row["id"] for row in as_agent.get(f"{base}/").json()["results"]}
    assert listed == {mine.pk, queue.pk}
    everyone = {row["id"] for row in as_supervisor.get(f"{base}/").json()["results"]}
    assert everyone == {mine.pk, queue.pk, theirs.pk}


def test_an_agent_can_hand_a_conversation_to_a_colleague(
    agent: Membership, make_member: Any
) -> None:
    colleague = make_member(Role.AGENT, organization=agent.organization)
    conversation = ConversationFactory(customer__organization=agent.organization, assignee=None)
    url = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/"
    client = api_client(agent)
    response = client.patch(url, {"assignee_id": colleague.user_id}, format="json")
    assert response.status_code == 200
    assert response.json()["assignee"] == colleague.user_id
    assert client.get(url).status_code == 404, "now it is the colleague's"


def test_the_customer_page_lists_only_conversations_the_agent_may_see(
    agent: Membership, make_member: Any
) -> None:
    colleague = make_member(Role.AGENT, organization=agent.organization)
    org = agent.organization
    queue = ConversationFactory(customer__organization=org, assignee=None)
    ConversationFactory(customer=queue.customer, assignee=colleague.user, status="resolved")
    url = f"/api/v1/orgs/{org.slug}/customers/{queue.customer_id}/"
    rows = api_client(agent).get(url).json()["conversations"]
    assert [row["id"] for row in rows] == [queue.pk]
    supervisor = make_member(Role.SUPERVISOR, organization=org)
    assert len(api_client(supervisor).get(url).json()["conversations"]) == 2
