"""The inbox pages render what an agent needs, and nothing they may not see."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationRead,
    ConversationStatus,
    Membership,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Role,
    Visibility,
)
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory
from tests.inbox.views.conftest import HTMX_PANES, page_url

pytestmark = pytest.mark.django_db


def html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def test_the_inbox_lists_the_queue_with_names_and_last_messages(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    make_conversation(customer__display_name="Anna Berg", last_message_preview="Late checkout?")
    page = html(browser.get(page_url(agent) + "?view=unassigned"))
    assert '<nav id="conversation-list"' in page
    assert 'aria-label="Conversations"' in page
    assert "Anna Berg" in page
    assert "Late checkout?" in page
    assert '<label for="list-search-q" class="visually-hidden">Search conversations</label>' in page
    assert "No conversation open" in page  # the thread pane's empty state says what to do
    assert '<aside id="side-panel"' in page
    assert 'role="dialog"' in page
    assert "Keyboard shortcuts" in page
    assert "Log out" in page
    assert "<title>Inbox · Parley</title>" in page


def test_a_row_links_its_preview_to_the_conversation(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    page = html(browser.get(page_url(agent) + "?view=unassigned"))
    link = re.search(
        rf'<a class="row-link" href="(/o/{agent.organization.slug}/inbox/{conversation.pk}/[^"]*)"'
        r"(?s:.*?)</a>",
        page,
    )
    assert link is not None
    assert link.group(1).startswith(f"/o/{agent.organization.slug}/inbox/{conversation.pk}/")
    assert conversation.last_message_preview in link.group(0)


def test_the_organization_front_page_is_the_inbox(browser: Client, agent: Membership) -> None:
    page = html(browser.get(f"/o/{agent.organization.slug}/"))
    assert 'aria-label="Conversations"' in page
    assert "Nothing open is assigned to you." in page


def test_agents_default_to_mine_and_have_no_all_view(
    browser: Client,
    agent: Membership,
    colleague: Membership,
    make_conversation: Callable[..., Conversation],
) -> None:
    make_conversation(customer__display_name="Mine Person", assignee=agent.user)
    make_conversation(customer__display_name="Queue Person")
    make_conversation(customer__display_name="Their Person", assignee=colleague.user)
    page = html(browser.get(page_url(agent)))
    assert "Mine Person" in page
    assert "Queue Person" not in page
    assert "?view=all" not in page
    everything = html(browser.get(page_url(agent) + "?view=all"))  # not theirs: falls back
    assert "Their Person" not in everything
    queue = html(browser.get(page_url(agent) + "?view=unassigned"))
    assert "Queue Person" in queue
    assert "Mine Person" not in queue


def test_supervisors_see_everyone_in_all(
    client: Client,
    supervisor: Membership,
    colleague: Membership,
    make_conversation: Callable[..., Conversation],
) -> None:
    make_conversation(customer__display_name="Their Person", assignee=colleague.user)
    client.force_login(supervisor.user)
    page = html(client.get(page_url(supervisor)))
    assert "Their Person" in page
    assert re.search(r'aria-current="page">All', page)


def test_status_and_channel_filters(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    x = ChannelFactory(organization=agent.organization, kind=ChannelKind.TWITTER, name="@Acme")
    make_conversation(customer__display_name="Open One")
    make_conversation(customer__display_name="Pending One", status=ConversationStatus.PENDING)
    make_conversation(customer__display_name="On X", channel=x)
    base = page_url(agent) + "?view=unassigned"
    open_page = html(browser.get(base))
    assert "Open One" in open_page
    assert "Pending One" not in open_page
    pending_page = html(browser.get(base + "&status=pending"))
    assert "Pending One" in pending_page
    assert "Open One" not in pending_page
    x_page = html(browser.get(base + f"&channel={x.pk}"))
    assert "On X" in x_page
    assert "Open One" not in x_page


def test_search_matches_names_and_message_text(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    by_name = make_conversation(customer__display_name="Zelda Quist")
    by_text = make_conversation(customer__display_name="Other Person")
    MessageFactory(conversation=by_text, text="The minibar was empty")
    make_conversation(customer__display_name="Nobody Relevant")
    base = page_url(agent) + "?view=unassigned&q="
    assert "Zelda Quist" in html(browser.get(base + "zelda"))
    found = html(browser.get(base + "minibar"))
    assert "Other Person" in found
    assert "Zelda Quist" not in found
    assert "Nobody Relevant" not in found
    nothing = html(browser.get(base + "helicopter"))
    assert "No conversations match “helicopter”." in nothing
    assert by_name.pk


def test_the_list_puts_who_waited_longest_first(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    now = timezone.now()
    answered = make_conversation(customer__display_name="Answered", waiting_since=None)
    recent = make_conversation(
        customer__display_name="Recent", waiting_since=now - timedelta(minutes=5)
    )
    oldest = make_conversation(
        customer__display_name="Oldest", waiting_since=now - timedelta(hours=3)
    )
    page = html(browser.get(page_url(agent) + "?view=unassigned"))
    order = [int(pk) for pk in re.findall(r'id="row-(\d+)"', page)]
    assert order == [oldest.pk, recent.pk, answered.pk]
    assert "waiting 3 h" in page


def test_rows_show_unread_counts_priority_and_live_badge(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    conversation = make_conversation(
        customer__display_name="Busy Customer",
        priority="urgent",
        last_inbound_at=timezone.now() - timedelta(minutes=1),
    )
    for _ in range(3):
        MessageFactory(conversation=conversation)
    page = html(browser.get(page_url(agent) + "?view=unassigned"))
    row = page[page.index(f'id="row-{conversation.pk}"') :]
    row = row[: row.index("</li>")]
    assert '3<span class="visually-hidden"> unread</span>' in row
    assert "Urgent" in row
    assert ">Live<" in row
    assert "data-sla-slot" in row
    html(browser.get(page_url(agent, conversation)))  # reading it clears the count
    page = html(browser.get(page_url(agent) + "?view=unassigned"))
    row = page[page.index(f'id="row-{conversation.pk}"') :]
    assert "unread" not in row[: row.index("</li>")]
    assert ConversationRead.all_tenants.filter(user=agent.user, conversation=conversation).exists()


def test_an_open_conversation_shows_thread_composer_and_side_panel(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    MessageFactory(conversation=conversation, text="Is breakfast included?")
    MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.READ,
        author=agent.user,
        text="Yes, from seven.",
    )
    MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        kind=MessageKind.NOTE,
        status=MessageStatus.SENT,
        author=agent.user,
        text="VIP, be nice",
        external_id=None,
    )
    page = html(browser.get(page_url(agent, conversation)))
    assert '<main id="thread"' in page
    assert 'aria-label="Reply to Anna Berg"' in page
    assert "<textarea" in page
    assert "Is breakfast included?" in page
    assert "message-note" in page
    assert "Internal note" in page
    assert "Today" in page  # the day separator
    assert 'class="tick tick-read"' in page
    assert "Reply window open: closes in 23 h" in page
    assert 'name="idempotency_key"' in page
    for label in ("Assign to me", "Resolve", "Waiting on customer", "Snooze", "Priority"):
        assert label in page
    assert "1 hour" in page
    assert "Tomorrow 9:00" in page
    assert 'type="datetime-local"' in page
    assert '<section aria-label="Loyalty"' in page
    assert "Channels" in page
    assert "Customer details" in page
    assert "Move to DM" not in page  # Messenger is private already


def test_a_closed_window_disables_the_reply_with_the_reason(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now() - timedelta(days=3))
    page = html(browser.get(page_url(agent, conversation)))
    assert "Reply window closed: the customer must write first" in page
    textarea = re.search(r"<textarea[^>]*>", page)
    assert textarea is not None
    assert "disabled" in textarea.group(0)
    assert 'data-mode="note"' in page  # the note mode stays available


def test_a_paused_channel_disables_the_reply_and_a_broken_one_warns(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now())
    MessageFactory(
        conversation=conversation, direction="outbound", status="failed", failure_code="500"
    )
    assert ">Retry</button>" in html(browser.get(page_url(agent, conversation)))
    Channel.all_tenants.filter(pk=conversation.channel_id).update(status="paused")
    page = html(browser.get(page_url(agent, conversation)))
    assert "Replies are paused on this channel: an admin can resume it" in page
    textarea = re.search(r"<textarea[^>]*>", page)
    assert textarea is not None
    assert "disabled" in textarea.group(0)
    assert "needs reconnecting" not in page
    assert ">Retry</button>" not in page  # the failed reply waits for the channel to resume

    Channel.all_tenants.filter(pk=conversation.channel_id).update(status="error")
    page = html(browser.get(page_url(agent, conversation)))
    assert "Acme Page needs reconnecting" in page
    textarea = re.search(r"<textarea[^>]*>", page)
    assert textarea is not None
    assert "disabled" not in textarea.group(0)  # replies may still go once it is reconnected


def test_human_agent_window_says_until_when(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    channel = ChannelFactory(
        organization=agent.organization, settings={"human_agent_approved": True}
    )
    conversation = make_conversation(
        channel=channel, last_inbound_at=timezone.now() - timedelta(days=2)
    )
    page = html(browser.get(page_url(agent, conversation)))
    assert "HUMAN_AGENT until " in page


def test_x_offers_public_or_private_and_move_to_dm(
    browser: Client, agent: Membership, make_conversation: Callable[..., Conversation]
) -> None:
    x = ChannelFactory(organization=agent.organization, kind=ChannelKind.TWITTER)
    conversation = make_conversation(channel=x, default_visibility=Visibility.PUBLIC)
    page = html(browser.get(page_url(agent, conversation)))
    assert "Public reply" in page
    assert "Private message" in page
    assert "Move to DM" in page


def test_the_thread_shows_the_customers_whole_history(
    browser: Client,
    agent: Membership,
    colleague: Membership,
    conversation: Conversation,
) -> None:
    earlier = ConversationFactory(
        customer=conversation.customer,
        channel=conversation.channel,
        status=ConversationStatus.RESOLVED,
        assignee=colleague.user,
        created_at=timezone.now() - timedelta(days=30),
    )
    MessageFactory(conversation=earlier, text="Last month's question")
    page = html(browser.get(page_url(agent, conversation)))
    assert "Last month&#x27;s question" in page
    assert '<details class="cycle"' in page
    # A colleague's earlier conversation is history here, but not a link the agent could open.
    assert f"/inbox/{earlier.pk}/" not in page


def test_the_conversation_url_survives_a_reload_and_htmx_gets_the_panes(
    browser: Client, agent: Membership, conversation: Conversation
) -> None:
    full = html(browser.get(page_url(agent, conversation)))
    assert "<!doctype html>" in full
    panes = browser.get(page_url(agent, conversation), headers=HTMX_PANES)
    fragment = html(panes)
    assert fragment.startswith('<div id="conversation-panes"')
    assert "<!doctype html>" not in fragment
    assert "HX-Target" in panes["Vary"]


def test_another_organizations_slug_is_404(
    browser: Client, conversation: Conversation, make_member: Callable[..., Membership]
) -> None:
    stranger = make_member(Role.ADMIN)
    other = ConversationFactory(customer__organization=stranger.organization)
    slug = stranger.organization.slug
    for url in (
        f"/o/{slug}/",
        f"/o/{slug}/inbox/",
        f"/o/{slug}/inbox/{other.pk}/",
        f"/o/{slug}/inbox/rows/",
        f"/o/{slug}/inbox/{other.pk}/messages/",
    ):
        assert browser.get(url).status_code == 404, url
    assert (
        browser.post(f"/o/{slug}/inbox/{other.pk}/actions/", {"action": "resolve"}).status_code
        == 404
    )


def test_another_organizations_conversation_under_my_slug_is_404(
    browser: Client, agent: Membership, make_member: Callable[..., Membership]
) -> None:
    stranger = make_member(Role.ADMIN)
    other = ConversationFactory(customer__organization=stranger.organization)
    assert browser.get(page_url(agent, other)).status_code == 404
    assert browser.get(f"{page_url(agent, other)}messages/").status_code == 404
    assert browser.get(f"{page_url(agent)}rows/{other.pk}/").status_code == 404


def test_an_agent_opening_a_colleagues_conversation_gets_404(
    browser: Client,
    agent: Membership,
    colleague: Membership,
    make_conversation: Callable[..., Conversation],
) -> None:
    theirs = make_conversation(assignee=colleague.user)
    assert browser.get(page_url(agent, theirs)).status_code == 404
    assert browser.get(page_url(agent, theirs), headers=HTMX_PANES).status_code == 404
    assert browser.get(f"{page_url(agent, theirs)}messages/").status_code == 404
    assert browser.get(f"{page_url(agent)}rows/{theirs.pk}/").status_code == 404
    for path, data in (
        ("actions/", {"action": "assign_me"}),
        ("reply/", {"text": "hi"}),
        ("move-to-dm/", {}),
    ):
        assert browser.post(f"{page_url(agent, theirs)}{path}", data).status_code == 404
    theirs.refresh_from_db()
    assert theirs.assignee_id == colleague.user_id


def test_ids_that_cannot_exist_are_404_not_errors(browser: Client, agent: Membership) -> None:
    huge = 2**70
    assert browser.get(f"{page_url(agent)}{huge}/").status_code == 404
    assert browser.get(f"{page_url(agent)}0/").status_code == 404
    assert browser.get(f"{page_url(agent)}rows/{huge}/").status_code == 404
    assert browser.get(f"{page_url(agent)}?channel={huge}").status_code == 200


def test_signed_out_visitors_go_to_the_login_page(client: Client, agent: Membership) -> None:
    response = client.get(page_url(agent))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_people_in_several_organizations_can_switch(
    browser: Client, agent: Membership, make_member: Callable[..., Membership]
) -> None:
    elsewhere = make_member(Role.AGENT, user=agent.user)
    page = html(browser.get(page_url(agent)))
    assert 'aria-label="Organizations"' in page
    assert f'href="/o/{elsewhere.organization.slug}/inbox/"' in page
    assert browser.get(f"/o/{elsewhere.organization.slug}/inbox/").status_code == 200


def test_a_signed_out_live_page_is_sent_to_the_login_page(
    client: Client, agent: Membership
) -> None:
    response = client.get(
        f"{page_url(agent)}rows/",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page_url(agent)}"},
    )
    assert response.status_code == 204
    location = urlsplit(response["HX-Redirect"])
    assert location.path == "/accounts/login/"
    assert parse_qs(location.query)["next"] == [page_url(agent)]
