"""Fixtures for the inbox pages: a signed-in agent's browser, a colleague, a conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from inbox.models import Channel, Conversation, Membership, Role
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory

HTMX_PANES = {"HX-Request": "true", "HX-Target": "conversation-panes"}


@pytest.fixture
def browser(client: Client, agent: Membership) -> Client:
    """The agent, signed in."""
    client.force_login(agent.user)
    return client


@pytest.fixture
def colleague(agent: Membership, make_member: Callable[..., Membership]) -> Membership:
    return make_member(Role.AGENT, organization=agent.organization)


@pytest.fixture
def messenger(agent: Membership) -> Channel:
    channel: Channel = ChannelFactory(organization=agent.organization, name="Acme Page")
    return channel


@pytest.fixture
def make_conversation(agent: Membership, messenger: Channel) -> Callable[..., Conversation]:
    def make(**kwargs: Any) -> Conversation:
        kwargs.setdefault("channel", messenger)
        channel = kwargs["channel"]
        customer_kwargs = {
            key.removeprefix("customer__"): kwargs.pop(key)
            for key in list(kwargs)
            if key.startswith("customer__")
        }
        identity = IdentityFactory(
            customer__organization=agent.organization,
            channel=channel,
            **{f"customer__{k}": v for k, v in customer_kwargs.items()},
        )
        conversation: Conversation = ConversationFactory(customer=identity.customer, **kwargs)
        return conversation

    return make


@pytest.fixture
def conversation(make_conversation: Callable[..., Conversation]) -> Conversation:
    """An unassigned open conversation (the agent may see it), the customer wrote 5 min ago."""
    return make_conversation(customer__display_name="Anna Berg")


def page_url(membership: Membership, conversation: Conversation | None = None) -> str:
    base = f"/o/{membership.organization.slug}/inbox/"
    return f"{base}{conversation.pk}/" if conversation else base


def action_url(membership: Membership, conversation: Conversation, action: str) -> str:
    return f"{page_url(membership, conversation)}{action}/"
