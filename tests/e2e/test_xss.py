"""Customer text is text: script and onerror payloads that arrive through signed webhooks show
literally in the list and the thread, and nothing in them runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from connectors.simulation import twitter_dm
from inbox.models import Role
from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    BRAND_X_ID,
    LIVE_MS,
    PAGE_ID,
    SocketLog,
    inbox_path,
    messenger_text_body,
    post_webhook,
    sign_in,
    watch_dialogs,
)
from tests.factories import ChannelFactory, MembershipFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
X_USER_ID = "1500000000000000042"


def test_script_and_onerror_payloads_from_webhooks_show_as_text(stack: Stack, page: Page) -> None:
    supervisor = MembershipFactory(
        user__email="sam@acme.test", user__name="Sam Supervisor", role=Role.SUPERVISOR
    )
    organization = supervisor.organization
    ChannelFactory(organization=organization, kind="messenger", external_id=PAGE_ID, name="Acme")
    ChannelFactory(organization=organization, kind="twitter", external_id=BRAND_X_ID, name="@Acme")
    dialogs = watch_dialogs(page)
    socket = SocketLog().watch(page)
    sign_in(page, stack.url, "sam@acme.test", inbox_path(organization.slug))
    socket.wait_for(page, "hello")

    post_webhook(
        stack.url,
        "messenger",
        messenger_text_body("7001000000000666", f"{SCRIPT} {IMG}", mid="m_e2e_xss_1"),
    )
    dm = twitter_dm(
        BRAND_X_ID,
        X_USER_ID,
        f"{IMG} {SCRIPT}",
        event_id="1876543210000000666",
        name=IMG,
        screen_name="xss_tester",
    )
    post_webhook(stack.url, "twitter", dm)

    conversations = page.get_by_role("navigation", name="Conversations")
    messenger_row = (
        conversations.get_by_role("listitem")
        .filter(has_text="Acme")
        .filter(has_text=f"{SCRIPT} {IMG}")
    )
    x_row = conversations.get_by_role("listitem").filter(has_text=f"{IMG} {SCRIPT}")
    expect(messenger_row).to_be_visible(timeout=LIVE_MS)
    expect(x_row).to_be_visible(timeout=LIVE_MS)
    expect(x_row.get_by_text(IMG, exact=True)).to_be_visible()  # the name, from the users map

    messenger_row.get_by_text(f"{SCRIPT} {IMG}").click()
    thread = page.get_by_role("main", name="Conversation with")
    expect(thread.get_by_role("listitem").filter(has_text=f"{SCRIPT} {IMG}")).to_be_visible()

    x_row.get_by_text(f"{IMG} {SCRIPT}").click()
    x_thread = page.get_by_role("main", name=f"Conversation with {IMG}")
    expect(x_thread.get_by_role("heading", name=IMG)).to_be_visible()
    expect(x_thread.get_by_role("listitem").filter(has_text=f"{IMG} {SCRIPT}")).to_be_visible()

    assert page.evaluate("window.__xss") is None  # inserted live, nothing ran

    page.reload()  # and once more as a fresh page rendered by the server
    expect(page.get_by_role("main", name=f"Conversation with {IMG}")).to_be_visible()
    expect(conversations.get_by_text(f"{SCRIPT} {IMG}")).to_be_visible()
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
