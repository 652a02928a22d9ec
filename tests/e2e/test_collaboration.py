"""Two people on one conversation, each in their own browser: they see each other viewing and
replying, and one's assignment or status change shows on the other's page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from inbox.models import Conversation, Organization, Role
from tests.e2e.conftest import TIMEOUT_MS, Stack
from tests.e2e.helpers import LIVE_MS, SocketLog, inbox_path, sign_in
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    MembershipFactory,
    MessageFactory,
    OrganizationFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# "<name> is replying" goes a few seconds after the typing stops (the page shows it 4 s).
TYPING_GONE_MS = 7000


@pytest.fixture
def second_context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


def _unassigned_conversation(organization: Organization) -> Conversation:
    channel = ChannelFactory(organization=organization, name="Acme")
    conversation: Conversation = ConversationFactory(
        customer__organization=organization,
        customer__display_name="Ana Pereira",
        channel=channel,
        last_message_preview="Is breakfast included?",
    )
    MessageFactory(conversation=conversation, text="Is breakfast included?")
    return conversation


def _open(page: Page, stack: Stack, email: str, path: str) -> Page:
    page.set_default_timeout(TIMEOUT_MS)
    socket = SocketLog().watch(page)
    sign_in(page, stack.url, email, path)
    expect(page.get_by_role("main", name="Conversation with Ana Pereira")).to_be_visible()
    socket.wait_for(page, "hello")
    return page


def test_two_agents_see_each_other_viewing_and_replying(
    stack: Stack, page: Page, second_context: BrowserContext
) -> None:
    organization = OrganizationFactory()
    MembershipFactory(
        organization=organization, user__email="maria@acme.test", user__name="Maria Lopez"
    )
    MembershipFactory(
        organization=organization, user__email="tom@acme.test", user__name="Tom Becker"
    )
    conversation = _unassigned_conversation(organization)
    path = inbox_path(organization.slug, conversation.pk, "?view=unassigned")
    maria = _open(page, stack, "maria@acme.test", path)
    tom = _open(second_context.new_page(), stack, "tom@acme.test", path)

    expect(maria.get_by_text("Tom Becker is viewing")).to_be_visible(timeout=LIVE_MS)
    expect(tom.get_by_text("Maria Lopez is viewing")).to_be_visible(timeout=LIVE_MS)

    tom.get_by_role("textbox", name=re.compile("Reply")).press_sequentially(
        "Let me check that", delay=20
    )
    expect(maria.get_by_text("Tom Becker is replying")).to_be_visible(timeout=LIVE_MS)
    expect(tom.get_by_text("is replying")).to_have_count(0)  # not about oneself
    expect(maria.get_by_text("Tom Becker is replying")).to_be_hidden(timeout=TYPING_GONE_MS)

    tom.close()
    expect(maria.get_by_text("Tom Becker is viewing")).to_be_hidden(timeout=LIVE_MS)


def test_an_assignment_and_a_resolve_show_on_the_other_agents_page(
    stack: Stack, page: Page, second_context: BrowserContext
) -> None:
    organization = OrganizationFactory()
    MembershipFactory(
        organization=organization, user__email="maria@acme.test", user__name="Maria Lopez"
    )
    MembershipFactory(
        organization=organization,
        user__email="sam@acme.test",
        user__name="Sam Supervisor",
        role=Role.SUPERVISOR,
    )
    conversation = _unassigned_conversation(organization)
    maria = _open(
        page,
        stack,
        "maria@acme.test",
        inbox_path(organization.slug, conversation.pk, "?view=unassigned"),
    )
    sam = _open(
        second_context.new_page(),
        stack,
        "sam@acme.test",
        inbox_path(organization.slug, conversation.pk),
    )
    maria_thread = maria.get_by_role("main", name="Conversation with Ana Pereira")
    maria_list = maria.get_by_role("navigation", name="Conversations")
    expect(maria_thread.get_by_text("Unassigned", exact=True)).to_be_visible()
    expect(maria_list.get_by_role("listitem").filter(has_text="Ana Pereira")).to_be_visible()

    sam.get_by_label("Assign to").select_option(label="Maria Lopez")
    sam.get_by_role("button", name="Assign", exact=True).click()
    expect(sam.get_by_text("Assigned to Maria Lopez", exact=True).first).to_be_visible()

    expect(maria_thread.get_by_text("Assigned to you", exact=True)).to_be_visible(timeout=LIVE_MS)
    # Her list shows the unassigned queue, which no longer holds it.
    expect(maria_list.get_by_role("listitem").filter(has_text="Ana Pereira")).to_have_count(
        0, timeout=LIVE_MS
    )

    sam.get_by_role("button", name="Resolve").click()
    expect(sam.get_by_role("button", name="Reopen")).to_be_visible()

    expect(maria_thread.get_by_text("Resolved", exact=True)).to_be_visible(timeout=LIVE_MS)
    expect(maria_thread.get_by_role("button", name="Reopen")).to_be_visible(timeout=LIVE_MS)
