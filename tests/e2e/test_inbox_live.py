"""The open inbox stays current: a customer's message arrives in the list and the thread, and a
reply's ticks go sent → delivered, all without a reload."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, Route, expect

from connectors.simulation import now_ms
from inbox.models import Conversation, Membership
from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    LIVE_MS,
    PAGE_ID,
    SocketLog,
    inbox_path,
    messenger_delivery_body,
    messenger_text_body,
    post_webhook,
    sign_in,
    wait_until,
)
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    IdentityFactory,
    MembershipFactory,
    MessageFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PSID = "7001000000000001"


@dataclass
class Scene:
    agent: Membership
    conversation: Conversation


def _scene() -> Scene:
    """Maria's Messenger conversation with Ana, who asked one question five minutes ago."""
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
    return Scene(agent, conversation)


def _open(page: Page, stack: Stack, scene: Scene) -> SocketLog:
    socket = SocketLog().watch(page)
    slug = scene.agent.organization.slug
    sign_in(page, stack.url, "maria@acme.test", inbox_path(slug, scene.conversation.pk))
    expect(page.get_by_role("main", name="Conversation with Ana Pereira")).to_be_visible()
    socket.wait_for(page, "hello")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    return socket


def test_a_webhook_appears_in_the_list_and_the_open_thread(stack: Stack, page: Page) -> None:
    scene = _scene()
    _open(page, stack, scene)
    conversations = page.get_by_role("navigation", name="Conversations")
    thread = page.get_by_role("main", name="Conversation with Ana Pereira")
    row = conversations.get_by_role("listitem").filter(has_text="Ana Pereira")
    expect(row).to_contain_text("Is breakfast included?")

    text = "Can I check in early tomorrow?"
    post_webhook(stack.url, "messenger", messenger_text_body(PSID, text, mid="m_e2e_live_1"))

    expect(thread.get_by_text(text)).to_be_visible(timeout=LIVE_MS)
    expect(row.get_by_text(text)).to_be_visible(timeout=LIVE_MS)
    expect(row.get_by_text("Is breakfast included?")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True


def test_reply_with_enter_and_watch_the_ticks_go_sent_then_delivered(
    stack: Stack, page: Page
) -> None:
    scene = _scene()
    _open(page, stack, scene)
    thread = page.get_by_role("main", name="Conversation with Ana Pereira")
    reply = page.get_by_role("textbox", name=re.compile("Reply"))

    reply.click()
    reply.press_sequentially("Yes, from 7:00 to 10:30.")
    reply.press("Shift+Enter")
    reply.press_sequentially("Enjoy your stay!")
    expect(reply).to_have_value("Yes, from 7:00 to 10:30.\nEnjoy your stay!")
    expect(thread.get_by_text("Enjoy your stay!")).to_have_count(0)  # a new line, not a send

    reply.press("Enter")
    message = thread.get_by_role("listitem").filter(has_text="Enjoy your stay!")
    expect(message).to_contain_text("Yes, from 7:00 to 10:30.")
    expect(reply).to_have_value("")
    # The worker sends it through the (fake) Send API and the tick turns "Sent".
    expect(message.get_by_title("Sent")).to_be_visible()
    sends = stack.fake.sends()
    assert len(sends) == 1
    assert sends[0].json["recipient"] == {"id": PSID}
    assert sends[0].json["message"]["text"] == "Yes, from 7:00 to 10:30.\nEnjoy your stay!"

    post_webhook(stack.url, "messenger", messenger_delivery_body(PSID, watermark_ms=now_ms()))
    expect(message.get_by_title("Delivered")).to_be_visible(timeout=LIVE_MS)
    expect(message.get_by_title("Sent")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True


def test_enter_pressed_while_the_inbox_script_loads_sends_once_it_starts(
    stack: Stack, page: Page
) -> None:
    """The composer is on screen before the deferred inbox script has run. Enter pressed then
    is not a new line: the reply goes out, once, as soon as the script is ready."""
    scene = _scene()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r"/static/js/inbox[.\w]*\.js$"), hold)
    slug = scene.agent.organization.slug
    sign_in(page, stack.url, "maria@acme.test", inbox_path(slug, scene.conversation.pk))
    thread = page.get_by_role("main", name="Conversation with Ana Pereira")
    reply = page.get_by_role("textbox", name=re.compile("Reply"))
    wait_until(page, lambda: len(held) == 1, "the inbox script was not held back")
    reply.fill("Yes, from 7:00.")
    reply.press("Enter")
    page.wait_for_timeout(300)  # what a wrongly handled Enter would do, it would do by now
    assert len(held) == 1
    expect(reply).to_have_value("Yes, from 7:00.")  # kept for later, not a new line
    expect(thread.get_by_text("Yes, from 7:00.")).to_have_count(0)

    held[0].continue_()
    message = thread.get_by_role("listitem").filter(has_text="Yes, from 7:00.")
    expect(message.get_by_title("Sent")).to_be_visible()
    expect(reply).to_have_value("")
    assert [send.json["message"]["text"] for send in stack.fake.sends()] == ["Yes, from 7:00."]


def test_a_slow_reply_response_brings_back_nothing_stale(stack: Stack, page: Page) -> None:
    """The reply's response renders the thread as it was when the reply was stored. While it
    travels, the worker sends the reply and the customer writes again, and the page shows both;
    the response arriving late must not take them back."""
    scene = _scene()
    _open(page, stack, scene)
    thread = page.get_by_role("main", name="Conversation with Ana Pereira")
    reply = page.get_by_role("textbox", name=re.compile("Reply"))
    message = thread.get_by_role("listitem").filter(has_text="Yes it is.")
    late = "And is there parking?"

    def slow_network(route: Route) -> None:
        response = route.fetch()  # rendered now: the reply queued, no second question yet
        post_webhook(stack.url, "messenger", messenger_text_body(PSID, late, mid="m_e2e_slow"))
        expect(message.get_by_title("Sent")).to_be_visible()
        expect(thread.get_by_text(late)).to_be_visible()
        route.fulfill(response=response)

    page.route(re.compile(r"/reply/"), slow_network)
    reply.fill("Yes it is.")
    reply.press("Enter")

    expect(reply).to_have_value("")  # the response is in
    expect(message.get_by_title("Sent")).to_be_visible(timeout=LIVE_MS)
    expect(thread.get_by_text(late)).to_be_visible(timeout=LIVE_MS)
