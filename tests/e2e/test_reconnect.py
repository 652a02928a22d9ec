"""The server restarts under an open inbox: the page says it is reconnecting, comes back by itself
(backoff capped at 5 s) and shows what happened meanwhile, without a reload."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from inbox.models import Message
from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    LIVE_MS,
    PAGE_ID,
    SocketLog,
    inbox_path,
    messenger_text_body,
    post_webhook,
    sign_in,
)
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    IdentityFactory,
    MembershipFactory,
    MessageFactory,
)
from tests.support.processes import running_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PSID = "7001000000000001"
# Reconnect attempts are at most 5 s apart; then the handshake and the replay.
BACK_WITHIN_MS = 8000


def _stored(mid: str, timeout: float = 10) -> None:
    """Wait until the worker has stored the message with this platform id."""
    deadline = time.monotonic() + timeout
    while not Message.all_tenants.filter(external_id=mid).exists():
        assert time.monotonic() < deadline, f"message {mid} was never stored"
        time.sleep(0.05)


def test_after_a_server_restart_the_page_reconnects_and_catches_up(
    stack: Stack, page: Page
) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    channel = ChannelFactory(
        organization=agent.organization, kind="messenger", external_id=PAGE_ID, name="Acme"
    )
    identity = IdentityFactory(
        customer__organization=agent.organization,
        customer__display_name="Ana Pereira",
        channel=channel,
        platform_user_id=PSID,
    )
    conversation = ConversationFactory(
        customer=identity.customer,
        channel=channel,
        assignee=agent.user,
        last_message_preview="Is breakfast included?",
    )
    MessageFactory(conversation=conversation, text="Is breakfast included?")
    sockets = SocketLog().watch(page)
    sign_in(
        page, stack.url, "maria@acme.test", inbox_path(agent.organization.slug, conversation.pk)
    )
    sockets.wait_for(page, "hello")
    page.evaluate("window.__sameDocument = true")
    thread = page.get_by_role("main", name="Conversation with Ana Pereira")
    row = (
        page.get_by_role("navigation", name="Conversations")
        .get_by_role("listitem")
        .filter(has_text="Ana Pereira")
    )
    banner = page.get_by_role("status").filter(has_text="Reconnecting…")

    stack.server.stop()
    expect(banner).to_be_visible(timeout=LIVE_MS)

    # Meanwhile another server of the same deployment takes the customer's message, and the
    # worker stores it and publishes its events, which this page cannot receive.
    text = "Are you there? I am at the front desk."
    with running_server(stack.env) as other:
        post_webhook(other.url, "messenger", messenger_text_body(PSID, text, mid="m_e2e_gap_1"))
        _stored("m_e2e_gap_1")
    expect(thread.get_by_text(text)).to_have_count(0)
    expect(banner).to_be_visible()

    stack.server.start()
    expect(banner).to_be_hidden(timeout=BACK_WITHIN_MS)
    expect(thread.get_by_text(text)).to_be_visible(timeout=LIVE_MS)
    expect(row.get_by_text(text)).to_be_visible(timeout=LIVE_MS)
    assert page.evaluate("window.__sameDocument") is True
    # It came back through the event log: the new socket resumed and got the missed event.
    assert len(sockets.frames) >= 2
    replayed = sockets.wait_for(page, "event", event="message.created")
    assert replayed["conversation_id"] == conversation.pk
