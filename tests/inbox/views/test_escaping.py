"""Customer and platform text is always escaped, wherever the inbox shows it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from inbox.models import ChannelKind, Conversation, CustomerIdentity, Membership
from tests.factories import ChannelFactory, MessageFactory
from tests.inbox.views.conftest import HTMX_PANES, page_url

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def hostile(agent: Membership, make_conversation: Callable[..., Conversation]) -> Conversation:
    x = ChannelFactory(organization=agent.organization, kind=ChannelKind.TWITTER, name=IMG)
    conversation = make_conversation(
        channel=x,
        customer__display_name=SCRIPT,
        customer__notes=IMG,
        customer__tier=SCRIPT,
        customer__avatar_url="javascript:alert(1)",
        last_message_preview=IMG,
        source={
            "referral": {
                "ref": SCRIPT,
                "source": IMG,
                "type": "OPEN_THREAD",
                "data": {"referer_uri": "javascript:alert(1)"},
            }
        },
    )
    CustomerIdentity.all_tenants.filter(customer=conversation.customer).update(screen_name=IMG)
    MessageFactory(
        conversation=conversation,
        text=f"{IMG} and {SCRIPT}",
        attachments=[
            {"type": "image", "url": "javascript:alert(1)"},
            {"type": "file", "url": "https://cdn.example/f.pdf", "data": {"title": SCRIPT}},
            {"type": "image", "url": 'https://cdn.example/a.png" onerror="alert(1)'},
        ],
    )
    return conversation


def assert_escaped(body: str) -> None:
    assert SCRIPT not in body
    assert IMG not in body
    assert "onerror=alert(1)>" not in body
    assert 'onerror="alert(1)' not in body
    assert 'href="javascript:' not in body
    assert 'src="javascript:' not in body


def test_the_inbox_page_escapes_customer_text(
    browser: Client, agent: Membership, hostile: Conversation
) -> None:
    body = browser.get(page_url(agent) + "?view=unassigned").content.decode()
    assert_escaped(body)
    assert ESCAPED_SCRIPT in body
    assert ESCAPED_IMG in body


def test_the_thread_escapes_messages_profile_and_attachments(
    browser: Client, agent: Membership, hostile: Conversation
) -> None:
    for headers in ({}, HTMX_PANES):
        body = browser.get(page_url(agent, hostile), headers=headers).content.decode()
        assert_escaped(body)
        assert f"{ESCAPED_IMG} and {ESCAPED_SCRIPT}" in body  # the message
        assert f'aria-label="Reply to {ESCAPED_SCRIPT}"' in body
        assert f"@{ESCAPED_IMG}" in body  # the screen name
        assert 'rel="noopener noreferrer nofollow"' in body
        assert "cannot be shown here" in body  # the javascript: image is not rendered
        assert 'src="https://cdn.example/a.png&quot; onerror=&quot;alert(1)"' in body
        assert 'referrerpolicy="no-referrer"' in body


def test_fragments_escape_customer_text(
    browser: Client, agent: Membership, hostile: Conversation
) -> None:
    for url in (
        f"{page_url(agent)}rows/?view=unassigned",
        f"{page_url(agent)}rows/{hostile.pk}/",
        f"{page_url(agent, hostile)}messages/?after=0",
    ):
        body = browser.get(url).content.decode()
        assert_escaped(body)
        assert ESCAPED_IMG in body, url


def test_search_text_is_escaped_in_the_empty_state(browser: Client, agent: Membership) -> None:
    body = browser.get(page_url(agent), {"q": SCRIPT}).content.decode()
    assert_escaped(body)
    assert ESCAPED_SCRIPT in body
