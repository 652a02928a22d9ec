"""Browser notifications and the title badge: a customer writing on a conversation that is
mine or nobody's, while I am in another window, raises both; a colleague's does not. Coming
back to the window clears the badge; clicking a notification opens its conversation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from inbox.models import Conversation, Membership, Role
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
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# The page's real Notification, wrapped to keep what it was asked to show, and a window that
# does not have the focus (the agent is in another application).
ELSEWHERE = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  function Recorded(title, options) {
    const shown = new Real(title, options);
    window.__notifications.push({ title, body: options.body, shown });
    return shown;
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = Real.requestPermission.bind(Real);
  window.Notification = Recorded;
  window.__focused = false;
  document.hasFocus = () => window.__focused;
})();
"""


ANA = "7001000000000011"  # writes on a conversation assigned to Sam
BEN = "7001000000000012"  # writes on a conversation assigned to his colleague Tom
CLEO = "7001000000000013"  # writes on a conversation nobody has taken


def _scene() -> tuple[Membership, dict[str, Conversation]]:
    """Sam, a supervisor (he sees every conversation), with Ana's conversation (his), Ben's
    (Tom's) and Cleo's (nobody's)."""
    sam: Membership = MembershipFactory(
        user__email="sam@acme.test", user__name="Sam Reed", role=Role.SUPERVISOR
    )
    tom = MembershipFactory(organization=sam.organization, user__name="Tom Hill")
    channel = ChannelFactory(
        organization=sam.organization, kind="messenger", external_id=PAGE_ID, name="Acme"
    )
    conversations: dict[str, Conversation] = {}
    people = (("Ana Pereira", ANA, sam), ("Ben Okafor", BEN, tom), ("Cleo Diaz", CLEO, None))
    for name, psid, assignee in people:
        identity = IdentityFactory(
            customer__organization=sam.organization,
            customer__display_name=name,
            channel=channel,
            platform_user_id=psid,
        )
        conversations[name] = ConversationFactory(
            customer=identity.customer,
            channel=channel,
            assignee=assignee.user if assignee else None,
            last_message_preview="Hello",
        )
    return sam, conversations


def test_messages_for_me_or_nobody_badge_the_title_and_notify_a_colleagues_do_not(
    stack: Stack, context: BrowserContext, page: Page
) -> None:
    sam, conversations = _scene()
    context.grant_permissions(["notifications"], origin=stack.url)
    page.add_init_script(ELSEWHERE)
    socket = SocketLog().watch(page)
    sign_in(page, stack.url, "sam@acme.test", inbox_path(sam.organization.slug))
    socket.wait_for(page, "hello")
    rows = page.get_by_role("navigation", name="Conversations").get_by_role("listitem")
    title = page.title()
    assert not title.startswith("(")

    post_webhook(stack.url, "messenger", messenger_text_body(BEN, "Where is Tom?", mid="m_n_1"))
    expect(rows.filter(has_text="Where is Tom?")).to_be_visible(timeout=LIVE_MS)
    page.wait_for_timeout(1000)  # past the moment a notification would have been raised
    assert page.evaluate("window.__notifications.length") == 0
    assert page.title() == title

    post_webhook(stack.url, "messenger", messenger_text_body(ANA, "My order is late", mid="m_n_2"))
    expect(page).to_have_title(f"(1) {title}", timeout=LIVE_MS)
    page.wait_for_function("window.__notifications.length === 1", timeout=LIVE_MS)
    shown = page.evaluate("window.__notifications.map(n => [n.title, n.body])")
    assert shown == [["Ana Pereira", "My order is late"]]

    # Coming back to the window clears the badge (the notification is not clicked).
    page.evaluate("window.__focused = true; window.dispatchEvent(new Event('focus'))")
    expect(page).to_have_title(title)

    page.evaluate("window.__focused = false")
    post_webhook(stack.url, "messenger", messenger_text_body(CLEO, "Anyone there?", mid="m_n_3"))
    expect(page).to_have_title(f"(1) {title}", timeout=LIVE_MS)
    page.wait_for_function("window.__notifications.length === 2", timeout=LIVE_MS)
    assert page.evaluate("[window.__notifications[1].title, window.__notifications[1].body]") == [
        "Cleo Diaz",
        "Anyone there?",
    ]

    # Clicking the notification opens that conversation.
    page.evaluate("window.__notifications[1].shown.onclick()")
    expect(page).to_have_url(re.compile(rf"/inbox/{conversations['Cleo Diaz'].pk}/$"))
    expect(page.get_by_role("main", name="Conversation with Cleo Diaz")).to_be_visible()
