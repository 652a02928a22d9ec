"""Signing in and out, in a real browser, by labels only; other organizations do not exist."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

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
    PASSWORD,
    ChannelFactory,
    ConversationFactory,
    IdentityFactory,
    MembershipFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PSID = "7001000000000001"


def test_enter_in_the_password_field_signs_in_and_follows_next(stack: Stack, page: Page) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    slug = agent.organization.slug
    page.goto(f"{stack.url}/o/{slug}/inbox/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Email").fill("maria@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(rf"/o/{slug}/inbox/$"))
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


def test_log_out_from_the_inbox(stack: Stack, page: Page) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    slug = agent.organization.slug
    # Once connected the page catches up on its list; log out after that.
    with page.expect_response(re.compile(r"/inbox/rows/")):
        sign_in(page, stack.url, "maria@acme.test", inbox_path(slug))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_label("Email")).to_be_visible()
    page.goto(f"{stack.url}{inbox_path(slug)}")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))


def test_signed_out_in_another_tab_the_live_page_goes_to_login_and_back(
    stack: Stack, context: BrowserContext, page: Page
) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    channel = ChannelFactory(organization=agent.organization, kind="messenger", external_id=PAGE_ID)
    identity = IdentityFactory(
        customer__organization=agent.organization,
        customer__display_name="Ana Pereira",
        channel=channel,
        platform_user_id=PSID,
    )
    conversation = ConversationFactory(
        customer=identity.customer, channel=channel, assignee=agent.user
    )
    path = inbox_path(agent.organization.slug, conversation.pk)
    sockets = SocketLog().watch(page)
    sign_in(page, stack.url, "maria@acme.test", path)
    sockets.wait_for(page, "hello")

    other_tab = context.new_page()
    other_tab.goto(f"{stack.url}{inbox_path(agent.organization.slug)}")
    other_tab.get_by_role("button", name="Log out").click()
    expect(other_tab).to_have_url(re.compile(r"/accounts/login/$"))

    # The next live update finds the session gone: to the login page, then back to this page.
    body = messenger_text_body(PSID, "Hello?", mid="m_e2e_signed_out")
    post_webhook(stack.url, "messenger", body)
    expect(page).to_have_url(
        re.compile(rf"/accounts/login/\?next={re.escape(path)}$"), timeout=LIVE_MS
    )
    page.get_by_label("Email").fill("maria@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.get_by_role("main", name="Conversation with Ana Pereira")).to_contain_text("Hello?")


def test_another_organizations_pages_are_not_found(stack: Stack, page: Page) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    other = ConversationFactory(customer__display_name="Someone Else")
    other_slug = other.organization.slug
    sign_in(page, stack.url, "maria@acme.test", inbox_path(agent.organization.slug))
    for path in (inbox_path(other_slug), inbox_path(other_slug, other.pk)):
        response = page.goto(f"{stack.url}{path}")
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
        expect(page.get_by_text("Someone Else")).to_have_count(0)
    # The other organization's websocket refuses the handshake; one's own accepts it.
    assert _websocket_opens(page, other_slug) is False
    assert _websocket_opens(page, agent.organization.slug) is True


def _websocket_opens(page: Page, slug: str) -> bool:
    """Whether the browser, with its session, gets a websocket at /ws/o/<slug>/."""
    opened: bool = page.evaluate(
        """(slug) => new Promise((resolve) => {
            const socket = new WebSocket(`ws://${location.host}/ws/o/${slug}/`);
            socket.onopen = () => { socket.close(); resolve(true); };
            socket.onclose = () => resolve(false);
        })""",
        slug,
    )
    return opened
