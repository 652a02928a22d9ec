"""A picture of the inbox with the demo tenant's data, for the documentation (docs/inbox.png)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from inbox.management.commands.seed_demo import DEMO_PASSWORD, SUPERVISOR, seed_demo
from inbox.models import Conversation, ConversationStatus
from tests.e2e.conftest import Stack, artifacts_dir
from tests.e2e.helpers import SocketLog, inbox_path, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_screenshot_of_the_demo_inbox(stack: Stack, page: Page) -> None:
    organization = seed_demo(now=timezone.now())
    conversation = Conversation.all_tenants.get(
        organization=organization,
        customer__display_name="Amelia Novak",
        status=ConversationStatus.OPEN,
    )
    sockets = SocketLog().watch(page)
    sign_in(
        page,
        stack.url,
        SUPERVISOR,
        inbox_path(organization.slug, conversation.pk),
        password=DEMO_PASSWORD,
    )
    expect(page.get_by_role("main", name="Conversation with Amelia Novak")).to_be_visible()
    expect(page.get_by_role("textbox", name="Reply to Amelia Novak")).to_be_enabled()
    sockets.wait_for(page, "hello")
    page.mouse.move(0, 0)  # no hover effects in the picture
    assert page.viewport_size == {"width": 1280, "height": 800}
    path = artifacts_dir() / "inbox.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
