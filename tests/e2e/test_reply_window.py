"""Messenger's reply window in the composer: a countdown while open, HUMAN_AGENT when the page
is approved for it, and a disabled textbox with the reason once no send is possible."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from inbox.models import Channel, Conversation, Membership
from tests.e2e.conftest import Stack
from tests.e2e.helpers import inbox_path, sign_in
from tests.factories import ChannelFactory, ConversationFactory, MembershipFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _conversation(agent: Membership, channel: Channel, name: str, ago: timedelta) -> Conversation:
    """The agent's conversation with `name`, who last wrote `ago`."""
    at = timezone.now() - ago
    conversation: Conversation = ConversationFactory(
        customer__organization=agent.organization,
        customer__display_name=name,
        channel=channel,
        assignee=agent.user,
        last_inbound_at=at,
        last_message_at=at,
    )
    return conversation


def test_the_reply_window_counts_down_and_closes(stack: Stack, page: Page) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    organization = agent.organization
    plain = ChannelFactory(organization=organization, kind="messenger", name="Acme")
    approved = ChannelFactory(
        organization=organization,
        kind="messenger",
        name="Acme Resorts",
        settings={"human_agent_approved": True},
    )
    # A few minutes under 23 h ago, so that the last hour is still whole when the page shows it.
    open_ = _conversation(agent, plain, "Ana Pereira", timedelta(hours=22, minutes=50))
    closed = _conversation(agent, plain, "Ben Okafor", timedelta(hours=30))
    human = _conversation(agent, approved, "Chloe Martin", timedelta(hours=30))
    assert human.last_inbound_at is not None
    human_until = (human.last_inbound_at + timedelta(days=7)).astimezone(
        ZoneInfo(organization.time_zone)
    )
    slug = organization.slug
    sign_in(page, stack.url, "maria@acme.test", inbox_path(slug, open_.pk))
    reply = page.get_by_role("textbox", name=re.compile("Reply"))

    expect(page.get_by_text("Reply window open: closes in 1 h")).to_be_visible()
    expect(reply).to_be_enabled()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    page.goto(f"{stack.url}{inbox_path(slug, closed.pk)}")
    expect(page.get_by_role("main", name="Conversation with Ben Okafor")).to_be_visible()
    expect(page.get_by_text("Reply window closed: the customer must write first")).to_be_visible()
    expect(reply).to_be_disabled()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    # An internal note is always possible.
    page.get_by_role("button", name="Internal note").click()
    expect(page.get_by_role("textbox", name=re.compile("Internal note"))).to_be_enabled()

    page.goto(f"{stack.url}{inbox_path(slug, human.pk)}")
    expect(page.get_by_role("main", name="Conversation with Chloe Martin")).to_be_visible()
    expect(
        page.get_by_text(f"Standard window closed: HUMAN_AGENT until {human_until:%a %H:%M}")
    ).to_be_visible()
    expect(reply).to_be_enabled()
