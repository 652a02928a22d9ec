"""/orgs/<slug>/conversations/: the inbox list, its filters and pages, and triage updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from inbox.models import Conversation, ConversationStatus, Membership, Role
from inbox.tenancy import tenant_scope
from tests.conftest import api_client
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    CustomerFactory,
    MembershipFactory,
    MessageFactory,
)

pytestmark = pytest.mark.django_db

ROW_FIELDS = {
    "id",
    "number",
    "status",
    "priority",
    "assignee",
    "customer",
    "channel",
    "last_message",
    "last_message_at",
    "waiting_since",
    "window",
}
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def url(membership: Membership, pk: int | None = None) -> str:
    base = f"/api/v1/orgs/{membership.organization.slug}/conversations/"
    return base if pk is None else f"{base}{pk}/"


def make(membership: Membership, **kwargs: Any) -> Conversation:
    """A conversation in the member's organization (a new customer each time)."""
    conversation: Conversation = ConversationFactory(
        customer__organization=membership.organization, **kwargs
    )
    return conversation


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def when(value: str | None) -> datetime | None:
    return None if value is None else parse_datetime(value)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    return body


# ---- rows -------------------------------------------------------------------------------------


def test_row_has_the_contract_fields(supervisor):
    customer = CustomerFactory(
        organization=supervisor.organization,
        display_name="Maria Lopez",
        avatar_url="https://cdn.example.com/m.png",
    )
    channel = ChannelFactory(organization=supervisor.organization, name="Acme Page")
    inbound = timezone.now() - timedelta(minutes=10)
    conversation = ConversationFactory(
        customer=customer,
        channel=channel,
        assignee=supervisor.user,
        priority="high",
        last_message_preview="Where is my booking?",
        last_message_at=inbound,
        last_inbound_at=inbound,
        waiting_since=inbound,
    )
    rows = api_client(supervisor).get(url(supervisor)).json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert row.keys() >= ROW_FIELDS
    assert row["id"] == conversation.pk
    assert row["number"] == conversation.number
    assert row["status"] == "open"
    assert row["priority"] == "high"
    assert row["assignee"] == supervisor.user_id
    assert row["customer"] == {
        "id": customer.pk,
        "display_name": "Maria Lopez",
        "avatar_url": "https://cdn.example.com/m.png",
    }
    assert row["channel"] == {"id": channel.pk, "kind": "messenger", "name": "Acme Page"}
    assert row["last_message"] == "Where is my booking?"
    assert when(row["last_message_at"]) == inbound
    assert when(row["waiting_since"]) == inbound
    assert set(row["window"]) == {"state", "closes_at"}
    assert row["window"]["state"] == "open"
    assert when(row["window"]["closes_at"]) == inbound + timedelta(hours=24)


def test_unassigned_row_has_null_assignee_and_waiting_since(agent):
    make(agent, waiting_since=None)
    row = api_client(agent).get(url(agent)).json()["results"][0]
    assert row["assignee"] is None
    assert row["waiting_since"] is None


def test_retrieve_returns_the_same_row(agent):
    conversation = make(agent)
    client = api_client(agent)
    listed = client.get(url(agent)).json()["results"][0]
    detail = client.get(url(agent, conversation.pk))
    assert detail.status_code == 200
    assert detail.json().keys() >= ROW_FIELDS
    assert {k: detail.json()[k] for k in ROW_FIELDS} == {k: listed[k] for k in ROW_FIELDS}


def test_ordering_is_newest_last_message_first(agent):
    now = timezone.now()
    middle = make(agent, last_message_at=now - timedelta(hours=2))
    oldest = make(agent, last_message_at=now - timedelta(days=3))
    newest = make(agent, last_message_at=now - timedelta(minutes=1))
    assert ids(api_client(agent).get(url(agent))) == [newest.pk, middle.pk, oldest.pk]


def test_ties_on_last_message_at_are_broken_by_newest_id(agent):
    at = timezone.now() - timedelta(hours=1)
    first, second, third = (make(agent, last_message_at=at) for _ in range(3))
    assert ids(api_client(agent).get(url(agent))) == [third.pk, second.pk, first.pk]


def test_other_orgs_conversations_are_never_listed(agent):
    mine = make(agent)
    ConversationFactory()  # another organization
    assert ids(api_client(agent).get(url(agent))) == [mine.pk]


# ---- filters ----------------------------------------------------------------------------------


def test_filter_by_status(supervisor):
    open_ = make(supervisor, status="open")
    pending = make(supervisor, status="pending")
    resolved = make(supervisor, status="resolved")
    snoozed = make(supervisor, status="snoozed", snoozed_until=timezone.now() + timedelta(hours=1))
    client = api_client(supervisor)
    assert ids(client.get(url(supervisor), {"status": "open"})) == [open_.pk]
    assert ids(client.get(url(supervisor), {"status": "snoozed"})) == [snoozed.pk]
    assert set(ids(client.get(url(supervisor), {"status": "open,pending"}))) == {
        open_.pk,
        pending.pk,
    }
    assert set(ids(client.get(f"{url(supervisor)}?status=resolved&status=pending"))) == {
        resolved.pk,
        pending.pk,
    }
    assert len(ids(client.get(url(supervisor)))) == 4


def test_filter_by_assignee(supervisor, agent):
    mine = make(supervisor, assignee=supervisor.user)
    theirs = make(supervisor, assignee=agent.user)
    nobody = make(supervisor)
    client = api_client(supervisor)
    assert ids(client.get(url(supervisor), {"assignee": "me"})) == [mine.pk]
    assert ids(client.get(url(supervisor), {"assignee": "unassigned"})) == [nobody.pk]
    assert ids(client.get(url(supervisor), {"assignee": agent.user_id})) == [theirs.pk]
    assert ids(client.get(url(supervisor), {"assignee": 999_999})) == []


def test_filter_by_channel_and_customer(agent):
    channel = ChannelFactory(organization=agent.organization)
    on_channel = make(agent, channel=channel)
    other = make(agent)
    customer = other.customer
    same_customer_elsewhere = ConversationFactory(customer=customer, channel=channel)
    client = api_client(agent)
    assert set(ids(client.get(url(agent), {"channel": channel.pk}))) == {
        on_channel.pk,
        same_customer_elsewhere.pk,
    }
    assert set(ids(client.get(url(agent), {"customer": customer.pk}))) == {
        other.pk,
        same_customer_elsewhere.pk,
    }
    assert ids(client.get(url(agent), {"channel": channel.pk, "customer": customer.pk})) == [
        same_customer_elsewhere.pk
    ]


def test_filter_q_matches_customer_name_and_message_text(agent):
    by_name = make(agent, customer__display_name="Bartholomew Quince")
    by_text = make(agent, customer__display_name="Ann Lee")
    MessageFactory(conversation=by_text, text="My QUINCE jam order never arrived")
    unrelated = make(agent, customer__display_name="Carl Diaz")
    MessageFactory(conversation=unrelated, text="Thanks, all good")
    client = api_client(agent)
    assert set(ids(client.get(url(agent), {"q": "quince"}))) == {by_name.pk, by_text.pk}
    assert ids(client.get(url(agent), {"q": "bartholomew"})) == [by_name.pk]
    assert ids(client.get(url(agent), {"q": "jam order"})) == [by_text.pk]
    assert ids(client.get(url(agent), {"q": "no such words"})) == []


def test_filter_q_does_not_match_other_orgs_messages(agent):
    mine = make(agent, customer__display_name="Ann Lee")
    foreign = ConversationFactory()
    MessageFactory(conversation=foreign, text="secret pineapple")
    assert ids(api_client(agent).get(url(agent), {"q": "pineapple"})) == []
    assert mine.pk not in ids(api_client(agent).get(url(agent), {"q": "pineapple"}))


def test_filters_combine(supervisor):
    hit = make(supervisor, status="pending", assignee=supervisor.user)
    make(supervisor, status="open", assignee=supervisor.user)
    make(supervisor, status="pending")
    r = api_client(supervisor).get(url(supervisor), {"status": "pending", "assignee": "me"})
    assert ids(r) == [hit.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": "open,bogus"}, "status"),
        ({"status": "OPEN"}, "status"),
        ({"assignee": "someone"}, "assignee"),
        ({"assignee": "0"}, "assignee"),
        ({"assignee": "-3"}, "assignee"),
        ({"channel": "abc"}, "channel"),
        ({"channel": "1.5"}, "channel"),
        ({"customer": "x"}, "customer"),
        ({"customer": "0"}, "customer"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1000"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_invalid_filter_values_are_400(agent, params, field):
    make(agent)
    body = assert_problem(api_client(agent).get(url(agent), params), 400)
    assert field in body["errors"]
    assert body["code"] == "invalid"


# ---- who sees what ----------------------------------------------------------------------------


def test_agents_list_only_their_own_and_unassigned(agent):
    colleague = MembershipFactory(organization=agent.organization, role=Role.AGENT)
    mine = make(agent, assignee=agent.user)
    nobody = make(agent)
    make(agent, assignee=colleague.user)
    client = api_client(agent)
    assert set(ids(client.get(url(agent)))) == {mine.pk, nobody.pk}
    assert ids(client.get(url(agent), {"assignee": "me"})) == [mine.pk]
    assert ids(client.get(url(agent), {"assignee": "unassigned"})) == [nobody.pk]
    assert ids(client.get(url(agent), {"assignee": colleague.user_id})) == []


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_list_everyone(agent, role):
    lead = MembershipFactory(organization=agent.organization, role=role)
    agents = make(agent, assignee=agent.user)
    nobody = make(agent)
    leads = make(agent, assignee=lead.user)
    assert set(ids(api_client(lead).get(url(lead)))) == {agents.pk, nobody.pk, leads.pk}


def test_agent_listing_filters_others_even_by_status(agent):
    colleague = MembershipFactory(organization=agent.organization, role=Role.AGENT)
    make(agent, assignee=colleague.user, status="pending")
    assert ids(api_client(agent).get(url(agent), {"status": "pending"})) == []


# ---- pages ------------------------------------------------------------------------------------


def walk(client: APIClient, first_url: str, key: str) -> tuple[list[list[int]], dict[str, Any]]:
    pages: list[list[int]] = []
    body = client.get(first_url).json()
    pages.append([row["id"] for row in body["results"]])
    seen = 0
    while body[key] is not None:
        link = body[key]
        assert link.startswith("http://testserver/api/v1/orgs/"), link
        response = client.get(link)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        seen += 1
        assert seen < 20, "pagination does not end"
    return pages, body


@pytest.mark.parametrize("same_time", [False, True])
def test_cursor_pages_walk_forward_and_back(supervisor, same_time):
    now = timezone.now()
    conversations = [
        make(supervisor, last_message_at=now - timedelta(minutes=0 if same_time else 10 * i))
        for i in range(5)
    ]
    expected = (
        [c.pk for c in reversed(conversations)] if same_time else [c.pk for c in conversations]
    )
    client = api_client(supervisor)
    first = client.get(url(supervisor), {"page_size": 2}).json()
    assert first["previous"] is None
    assert len(first["results"]) == 2

    pages, last = walk(client, f"{url(supervisor)}?page_size=2", "next")
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [pk for page in pages for pk in page] == expected
    assert last["next"] is None
    assert last["previous"] is not None

    back = [pages[-1]]
    body = last
    while body["previous"] is not None:
        link = body["previous"]
        assert link.startswith("http://testserver/")
        assert parse_qs(urlsplit(link).query)["page_size"] == ["2"]
        body = client.get(link).json()
        assert body["results"], "a previous link led to an empty page"
        back.insert(0, [row["id"] for row in body["results"]])
        assert len(back) < 10
    assert [pk for page in back for pk in page] == expected


def test_next_link_keeps_the_filters(supervisor):
    for _ in range(3):
        make(supervisor, status="pending")
    make(supervisor, status="open")
    client = api_client(supervisor)
    body = client.get(url(supervisor), {"status": "pending", "page_size": "2"}).json()
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["status"] == ["pending"]
    assert query["page_size"] == ["2"]
    assert "cursor" in query
    rest = client.get(body["next"]).json()
    assert len(rest["results"]) == 1
    assert rest["results"][0]["status"] == "pending"
    assert rest["next"] is None


def test_single_page_has_no_links(agent):
    make(agent)
    body = api_client(agent).get(url(agent)).json()
    assert body["next"] is None
    assert body["previous"] is None
    assert len(body["results"]) == 1


def test_new_activity_does_not_duplicate_rows_across_pages(supervisor):
    now = timezone.now()
    conversations = [make(supervisor, last_message_at=now - timedelta(minutes=i)) for i in range(4)]
    client = api_client(supervisor)
    first = client.get(url(supervisor), {"page_size": 2}).json()
    # A conversation already shown gets a new message before the next page is fetched.
    Conversation.all_tenants.filter(pk=conversations[0].pk).update(
        last_message_at=now + timedelta(minutes=1)
    )
    second = client.get(first["next"]).json()
    shown = [row["id"] for row in first["results"]] + [row["id"] for row in second["results"]]
    assert shown == [c.pk for c in conversations]


# ---- updates ----------------------------------------------------------------------------------


def patch(membership: Membership, conversation: Conversation, data: dict[str, Any]):
    return api_client(membership).patch(url(membership, conversation.pk), data, "json")


@pytest.mark.parametrize("status", ["pending", "resolved", "open"])
def test_patch_status(agent, status):
    conversation = make(agent, status="pending" if status == "open" else "open")
    r = patch(agent, conversation, {"status": status})
    assert r.status_code == 200, r.content
    assert r.json().keys() >= ROW_FIELDS
    assert r.json()["status"] == status
    assert r.json()["id"] == conversation.pk
    conversation.refresh_from_db()
    assert conversation.status == status


def test_patch_resolved_clears_waiting(agent):
    conversation = make(agent, waiting_since=timezone.now() - timedelta(minutes=3))
    r = patch(agent, conversation, {"status": "resolved"})
    assert r.json()["waiting_since"] is None


def test_patch_snooze_with_a_time(agent):
    conversation = make(agent)
    until = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    r = patch(agent, conversation, {"status": "snoozed", "snoozed_until": until.isoformat()})
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "snoozed"
    assert when(r.json()["snoozed_until"]) == until
    conversation.refresh_from_db()
    assert conversation.snoozed_until == until


def test_patch_snoozed_until_alone_snoozes(agent):
    conversation = make(agent)
    until = timezone.now() + timedelta(days=1)
    r = patch(agent, conversation, {"snoozed_until": until.isoformat()})
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "snoozed"


def test_patch_open_wakes_a_snoozed_conversation(agent):
    conversation = make(agent, status="snoozed", snoozed_until=timezone.now() + timedelta(hours=1))
    r = patch(agent, conversation, {"status": "open"})
    assert r.status_code == 200
    assert r.json()["status"] == "open"
    assert r.json()["snoozed_until"] is None


def test_snooze_without_a_time_is_400(agent):
    conversation = make(agent)
    for data in ({"status": "snoozed"}, {"status": "snoozed", "snoozed_until": None}):
        body = assert_problem(patch(agent, conversation, data), 400)
        assert "snoozed_until" in body["errors"]
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_snooze_in_the_past_is_400(agent):
    conversation = make(agent)
    past = timezone.now() - timedelta(minutes=1)
    body = assert_problem(
        patch(agent, conversation, {"status": "snoozed", "snoozed_until": past.isoformat()}), 400
    )
    assert "snoozed_until" in body["errors"]
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.snoozed_until is None


def test_snoozed_until_with_another_status_is_400(agent):
    conversation = make(agent)
    future = timezone.now() + timedelta(hours=1)
    body = assert_problem(
        patch(agent, conversation, {"status": "open", "snoozed_until": future.isoformat()}), 400
    )
    assert "snoozed_until" in body["errors"]


def test_patch_assignee_with_members_user_id(supervisor, agent):
    conversation = make(supervisor)
    client = api_client(supervisor)
    members = client.get(f"/api/v1/orgs/{supervisor.organization.slug}/members/")
    assert members.status_code == 200
    rows = members.json()["results"]
    assert all(set(row) == {"user_id", "email", "name", "role"} for row in rows)
    row = next(r for r in rows if r["email"] == agent.user.email)
    assert row["role"] == "agent"
    assert row["name"] == agent.user.name
    r = client.patch(url(supervisor, conversation.pk), {"assignee_id": row["user_id"]}, "json")
    assert r.status_code == 200, r.content
    assert r.json()["assignee"] == agent.user_id
    # Back to the queue.
    r = client.patch(url(supervisor, conversation.pk), {"assignee_id": None}, "json")
    assert r.status_code == 200
    assert r.json()["assignee"] is None
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_assignee_must_be_a_member(agent):
    conversation = make(agent)
    outsider = MembershipFactory()  # a user of another organization
    for value in (outsider.user_id, 999_999):
        body = assert_problem(patch(agent, conversation, {"assignee_id": value}), 400)
        assert "assignee_id" in body["errors"]
    body = assert_problem(patch(agent, conversation, {"assignee_id": "abc"}), 400)
    assert "assignee_id" in body["errors"]
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_patch_priority(agent):
    conversation = make(agent)
    r = patch(agent, conversation, {"priority": "urgent"})
    assert r.status_code == 200
    assert r.json()["priority"] == "urgent"
    body = assert_problem(patch(agent, conversation, {"priority": "asap"}), 400)
    assert "priority" in body["errors"]


def test_patch_several_fields_at_once(agent):
    conversation = make(agent)
    r = patch(
        agent, conversation, {"status": "pending", "priority": "low", "assignee_id": agent.user_id}
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["status"], body["priority"], body["assignee"]) == (
        "pending",
        "low",
        agent.user_id,
    )


def test_patch_unknown_status_is_400(agent):
    conversation = make(agent)
    body = assert_problem(patch(agent, conversation, {"status": "closed"}), 400)
    assert "status" in body["errors"]


def test_reopen_resolved_when_a_newer_one_is_open_is_409(agent):
    old = make(agent, status="resolved", resolved_at=timezone.now() - timedelta(days=1))
    newer = ConversationFactory(customer=old.customer, channel=old.channel)
    body = assert_problem(patch(agent, old, {"status": "open"}), 409)
    assert body["code"] == "conflict"
    assert str(newer.number) in body["detail"]
    old.refresh_from_db()
    assert old.status == "resolved"


def test_reopen_resolved_when_nothing_newer_is_open(agent):
    old = make(agent, status="resolved", resolved_at=timezone.now() - timedelta(days=1))
    ConversationFactory(customer=old.customer, channel=old.channel, status="resolved")
    r = patch(agent, old, {"status": "open"})
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "open"


def test_reopen_with_newer_on_another_channel_is_fine(agent):
    old = make(agent, status="resolved", resolved_at=timezone.now() - timedelta(days=1))
    ConversationFactory(customer=old.customer)  # another channel of the same customer
    assert patch(agent, old, {"status": "pending"}).status_code == 200


def test_other_orgs_conversation_is_404(agent):
    foreign = ConversationFactory()
    client = api_client(agent)
    assert_problem(client.get(url(agent, foreign.pk)), 404)
    assert_problem(client.patch(url(agent, foreign.pk), {"status": "resolved"}, "json"), 404)
    foreign.refresh_from_db()
    assert foreign.status == ConversationStatus.OPEN


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "99999999"])
def test_bad_or_missing_conversation_id_is_404(agent, pk):
    assert_problem(api_client(agent).get(f"{url(agent)}{pk}/"), 404)


# ---- reply windows ----------------------------------------------------------------------------


def window_of(membership: Membership, conversation: Conversation) -> dict[str, Any]:
    r = api_client(membership).get(url(membership, conversation.pk))
    assert r.status_code == 200, r.content
    window: dict[str, Any] = r.json()["window"]
    return window


@pytest.mark.parametrize(
    ("ago", "approved", "state", "closes_after"),
    [
        (timedelta(hours=1), False, "open", timedelta(hours=24)),
        (timedelta(hours=1), True, "open", timedelta(hours=24)),
        (timedelta(hours=23, minutes=59), False, "open", timedelta(hours=24)),
        (timedelta(hours=24), False, "closed", timedelta(hours=24)),
        (timedelta(hours=30), False, "closed", timedelta(hours=24)),
        (timedelta(hours=30), True, "human_agent", timedelta(days=7)),
        (timedelta(days=6, hours=23), True, "human_agent", timedelta(days=7)),
        (timedelta(days=8), True, "closed", timedelta(days=7)),
        (timedelta(days=8), False, "closed", timedelta(hours=24)),
    ],
)
def test_messenger_window(agent, ago, approved, state, closes_after):
    channel = ChannelFactory(
        organization=agent.organization,
        kind="messenger",
        settings={"human_agent_approved": True} if approved else {},
    )
    last_inbound = NOW - ago
    conversation = make(agent, channel=channel, last_inbound_at=last_inbound)
    with time_machine.travel(NOW, tick=False):
        window = window_of(agent, conversation)
        listed = api_client(agent).get(url(agent)).json()["results"][0]["window"]
    assert window["state"] == state
    assert when(window["closes_at"]) == last_inbound + closes_after
    assert listed == window


def test_messenger_window_without_any_inbound_is_closed(agent):
    channel = ChannelFactory(organization=agent.organization, kind="messenger")
    conversation = make(agent, channel=channel, last_inbound_at=None)
    assert window_of(agent, conversation) == {"state": "closed", "closes_at": None}


@pytest.mark.parametrize("ago", [timedelta(hours=1), timedelta(days=30), None])
def test_twitter_window_is_always_open(agent, ago):
    channel = ChannelFactory(organization=agent.organization, kind="twitter")
    conversation = make(agent, channel=channel, last_inbound_at=None if ago is None else NOW - ago)
    with time_machine.travel(NOW, tick=False):
        assert window_of(agent, conversation) == {"state": "open", "closes_at": None}


def test_window_moves_with_time(agent):
    channel = ChannelFactory(organization=agent.organization, kind="messenger")
    conversation = make(agent, channel=channel, last_inbound_at=NOW)
    with time_machine.travel(NOW + timedelta(hours=12), tick=False):
        assert window_of(agent, conversation)["state"] == "open"
    with time_machine.travel(NOW + timedelta(hours=25), tick=False):
        assert window_of(agent, conversation)["state"] == "closed"


def test_window_setting_change_applies_to_existing_conversations(admin):
    channel = ChannelFactory(organization=admin.organization, kind="messenger")
    conversation = make(admin, channel=channel, last_inbound_at=NOW - timedelta(hours=30))
    with time_machine.travel(NOW, tick=False):
        assert window_of(admin, conversation)["state"] == "closed"
        r = api_client(admin).patch(
            f"/api/v1/orgs/{admin.organization.slug}/channels/{channel.pk}/",
            {"settings": {"human_agent_approved": True}},
            "json",
        )
        assert r.status_code == 200
        assert window_of(admin, conversation)["state"] == "human_agent"


def test_scope_does_not_leak_between_requests(agent):
    make(agent)
    api_client(agent).get(url(agent))
    other = MembershipFactory()
    with tenant_scope(other.organization):
        pass  # no scope left active by the request above
