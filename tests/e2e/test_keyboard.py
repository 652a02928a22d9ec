"""The inbox by keyboard: j/k walk the list and open each thread at its own URL, / searches,
? shows the shortcuts, r starts a reply."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Route, expect

from inbox.models import Conversation
from tests.e2e.conftest import Stack
from tests.e2e.helpers import inbox_path, sign_in, wait_until
from tests.factories import ChannelFactory, ConversationFactory, MembershipFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# Longest wait first: the list's order.
CUSTOMERS = [("Ana Pereira", 30), ("Ben Okafor", 20), ("Chloe Martin", 10)]


def seed_conversations() -> tuple[str, dict[str, Conversation]]:
    """Maria's organization (its slug) and her three open conversations, by customer name."""
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    channel = ChannelFactory(organization=agent.organization, name="Acme")
    now = timezone.now()
    conversations: dict[str, Conversation] = {
        name: ConversationFactory(
            customer__organization=agent.organization,
            customer__display_name=name,
            channel=channel,
            assignee=agent.user,
            waiting_since=now - timedelta(minutes=minutes),
            last_message_preview=f"A question from {name}",
        )
        for name, minutes in CUSTOMERS
    }
    return agent.organization.slug, conversations


def test_a_shortcut_pressed_while_the_inbox_script_loads_is_not_lost(
    stack: Stack, page: Page
) -> None:
    """The list is on screen before the deferred inbox script has run: a j pressed then is kept
    and carried out once the script starts, as if the script had been there all along."""
    slug, conversations = seed_conversations()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r"/static/js/inbox[.\w]*\.js$"), hold)
    sign_in(page, stack.url, "maria@acme.test", inbox_path(slug))
    expect(page.get_by_role("link", name=re.compile("^Ana Pereira"))).to_be_visible()
    # The route handler hears of the request a moment after the page asked for it.
    wait_until(page, lambda: len(held) == 1, "the inbox script was not held back")

    page.keyboard.press("j")
    page.wait_for_timeout(300)
    expect(page).to_have_url(re.compile(rf"{re.escape(inbox_path(slug))}$"))  # nothing ran yet
    held[0].continue_()

    expect(page).to_have_url(re.compile(rf"/inbox/{conversations['Ana Pereira'].pk}/$"))
    expect(page.get_by_role("main", name="Conversation with Ana Pereira")).to_be_visible()
    page.keyboard.press("j")  # and the script's own handler takes over from there
    expect(page).to_have_url(re.compile(rf"/inbox/{conversations['Ben Okafor'].pk}/$"))
    assert len(held) == 1, "j loaded the whole page again instead of opening the thread in place"


def test_text_typed_after_an_early_r_never_runs_as_shortcuts(stack: Stack, page: Page) -> None:
    """r pressed before the script ran, then a sentence: the letters were meant for the
    composer, so e (resolve), a (assign), n (note) and k (move) must not act."""
    slug, conversations = seed_conversations()
    ben = conversations["Ben Okafor"]
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r"/static/js/inbox[.\w]*\.js$"), hold)
    sign_in(page, stack.url, "maria@acme.test", inbox_path(slug, ben.pk))
    wait_until(page, lambda: len(held) == 1, "the inbox script was not held back")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    page.keyboard.press("r")
    page.keyboard.type("take a seat, and enjoy")
    held[0].continue_()

    reply = page.get_by_role("textbox", name="Reply to Ben Okafor")
    expect(reply).to_be_focused()  # r was carried out, in reply mode (no n)
    # The replay runs at once when the script starts; a resolve, an assignment or a move
    # would show as a request within a second on any machine.
    page.wait_for_timeout(1000)
    others = [c.pk for name, c in conversations.items() if name != "Ben Okafor"]
    moved = [r for r in sent if any(f"/inbox/{pk}/" in r for pk in others)]
    assert [r for r in sent if r.startswith("POST")] + moved == [], sent
    expect(page).to_have_url(re.compile(rf"/inbox/{ben.pk}/$"))
    ben.refresh_from_db()
    assert ben.status == "open"


def test_j_k_slash_question_mark_and_r(stack: Stack, page: Page) -> None:
    slug, conversations = seed_conversations()
    sign_in(page, stack.url, "maria@acme.test", inbox_path(slug))
    conversation_list = page.get_by_role("navigation", name="Conversations")
    rows = conversation_list.get_by_role("list", name="Mine · Open").get_by_role("listitem")
    expect(rows).to_have_count(3)

    def opened(name: str) -> None:
        link = rows.filter(has_text=name).get_by_role("link")
        expect(page).to_have_url(re.compile(rf"/inbox/{conversations[name].pk}/$"))
        expect(page.get_by_role("main", name=f"Conversation with {name}")).to_be_visible()
        expect(link).to_have_attribute("aria-current", "true")
        expect(link).to_be_focused()
        others = [other for other, _ in CUSTOMERS if other != name]
        for other in others:
            expect(rows.filter(has_text=other).get_by_role("link")).not_to_have_attribute(
                "aria-current", "true"
            )

    page.keyboard.press("j")
    opened("Ana Pereira")
    page.keyboard.press("j")
    opened("Ben Okafor")
    page.keyboard.press("j")
    opened("Chloe Martin")
    page.keyboard.press("j")  # the end of the list: stays
    opened("Chloe Martin")
    page.keyboard.press("k")
    opened("Ben Okafor")

    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search conversations")
    expect(search).to_be_focused()
    page.keyboard.press("j")  # typing in a field is typing, not a shortcut
    expect(search).to_have_value("j")
    page.keyboard.press("Escape")
    expect(search).not_to_be_focused()

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.get_by_text("Next / previous conversation")).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.keyboard.press("r")
    expect(page.get_by_role("textbox", name="Reply to Ben Okafor")).to_be_focused()
