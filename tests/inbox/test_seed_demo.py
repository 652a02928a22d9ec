"""`manage.py seed_demo`: the demo tenant it builds, and that a second run changes nothing."""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from pytest_django import Settings

from inbox.management.commands.seed_demo import DEMO_PASSWORD
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Membership,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Organization,
    Priority,
    SLAClock,
    User,
    Visibility,
)
from inbox.services.messages import preview_of, reply_window

pytestmark = pytest.mark.django_db

MEMBERS = {
    "admin@acme.test": ("Ada Admin", "admin"),
    "supervisor@acme.test": ("Sam Supervisor", "supervisor"),
    "maria@acme.test": ("Maria Lopez", "agent"),
    "tom@acme.test": ("Tom Becker", "agent"),
}


@pytest.fixture(autouse=True)
def _demo_settings(settings: Settings) -> None:
    """pytest-django turns DEBUG off, and the command only seeds with DEBUG on (or --force);
    a fast hasher keeps the four demo logins from dominating the run time."""
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(**options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def row_counts() -> dict[str, int]:
    return {
        "organizations": Organization.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.all_tenants.count(),
        "channels": Channel.all_tenants.count(),
        "customers": Customer.all_tenants.count(),
        "identities": CustomerIdentity.all_tenants.count(),
        "conversations": Conversation.all_tenants.count(),
        "messages": Message.all_tenants.count(),
    }


def story() -> list[tuple[object, ...]]:
    """What a run wrote, with times relative to each conversation's start (runs differ in "now"
    and in row ids, nothing else)."""
    rows: list[tuple[object, ...]] = []
    conversations = Conversation.all_tenants.filter(organization__slug="acme").select_related(
        "customer", "assignee"
    )
    for c in conversations.order_by("number"):
        rows.append(
            (
                c.number,
                c.customer.display_name,
                c.status,
                c.priority,
                c.assignee.email if c.assignee else None,
                c.last_message_at - c.created_at,
            )
        )
        thread = Message.all_tenants.filter(conversation=c).select_related("author")
        rows.extend(
            (
                c.number,
                m.direction,
                m.kind,
                m.visibility,
                m.status,
                m.external_id,
                m.author.email if m.author else None,
                m.text,
                m.sent_at - c.created_at,
            )
            for m in thread.order_by("sent_at", "id")
        )
    return rows


class RollbackError(Exception):
    """Raised to undo a run inside the test's transaction."""


def test_creates_the_organization_people_and_channels() -> None:
    output, _ = seed()

    organization = Organization.objects.get(slug="acme")
    assert (organization.name, organization.time_zone) == ("Acme Hotels", "Europe/London")
    memberships = Membership.all_tenants.filter(organization=organization).select_related("user")
    assert {m.user.email: (m.user.name, m.role) for m in memberships} == MEMBERS
    channels = {c.kind: c for c in Channel.all_tenants.filter(organization=organization)}
    assert set(channels) == {ChannelKind.MESSENGER, ChannelKind.TWITTER}
    messenger, x = channels[ChannelKind.MESSENGER], channels[ChannelKind.TWITTER]
    assert (messenger.name, messenger.external_id) == ("Acme Hotels", "1000000000000001")
    assert messenger.credentials == {"page_access_token": "demo-page-token"}
    assert messenger.settings == {"human_agent_approved": True}
    assert (x.name, x.external_id) == ("@AcmeHotels", "2000000000000001")
    assert x.credentials == {"access_token": "demo-x-token"}
    for email, (_, role) in MEMBERS.items():
        assert re.search(rf"^\s*{re.escape(email)}\s+{DEMO_PASSWORD}\s+{role}$", output, re.M)


def test_conversations_cover_what_the_inbox_shows() -> None:
    seed()
    now = timezone.now()
    organization = Organization.objects.get(slug="acme")
    conversations = list(
        Conversation.all_tenants.filter(organization=organization).select_related(
            "channel", "assignee"
        )
    )
    messages = list(Message.all_tenants.filter(organization=organization).select_related("channel"))

    assert Customer.all_tenants.filter(organization=organization).count() >= 25
    assert {c.status for c in conversations} == set(ConversationStatus.values)
    assert {c.priority for c in conversations} == set(Priority.values)
    assignees = Counter(c.assignee.email if c.assignee else None for c in conversations)
    assert assignees["maria@acme.test"] >= 3
    assert assignees["tom@acme.test"] >= 3
    assert assignees[None] >= 3
    snoozed = [c for c in conversations if c.status == ConversationStatus.SNOOZED]
    assert all(c.snoozed_until and c.snoozed_until > now for c in snoozed)

    per_customer = Counter(c.customer_id for c in conversations)
    returning = [customer for customer, count in per_customer.items() if count >= 2]
    assert returning
    for customer_id in returning:
        older, *newer = sorted(
            (c for c in conversations if c.customer_id == customer_id), key=lambda c: c.number
        )
        assert older.status == ConversationStatus.RESOLVED
        assert all(older.last_message_at < c.created_at for c in newer)

    x_visibilities = {m.visibility for m in messages if m.channel.kind == ChannelKind.TWITTER}
    assert x_visibilities == {Visibility.PUBLIC, Visibility.PRIVATE}
    assert {m.visibility for m in messages if m.channel.kind == ChannelKind.MESSENGER} == {
        Visibility.PRIVATE
    }
    public = [m for m in messages if m.visibility == Visibility.PUBLIC]
    assert all(len(m.text) <= 280 for m in public)
    assert all("@AcmeHotels" in m.text for m in public if m.direction == MessageDirection.INBOUND)
    assert all(m.text.startswith("@") for m in public if m.direction == MessageDirection.OUTBOUND)
    assert any(m.kind == MessageKind.NOTE for m in messages)
    failed = [m for m in messages if m.status == MessageStatus.FAILED]
    assert [(m.failure_code, m.failure_reason) for m in failed] == [
        ("551", "This person isn't available right now.")
    ]
    assert all(m.sent_at < now for m in messages)

    # The 24-hour window has closed on some unresolved Messenger threads (the UI shows it).
    windows = [
        reply_window(c, now=now).state
        for c in conversations
        if c.channel.kind == ChannelKind.MESSENGER and c.status != ConversationStatus.RESOLVED
    ]
    assert "open" in windows
    assert {"human_agent", "closed"} <= set(windows)


def test_conversation_fields_agree_with_their_messages() -> None:
    seed()
    conversations = Conversation.all_tenants.filter(organization__slug="acme").order_by("number")
    assert [c.number for c in conversations] == list(range(1, conversations.count() + 1))
    assert [c.created_at for c in conversations] == sorted(c.created_at for c in conversations)
    for conversation in conversations:
        thread = list(
            Message.all_tenants.filter(conversation=conversation).order_by("sent_at", "id")
        )
        said = [m for m in thread if m.kind == MessageKind.MESSAGE]
        inbound = [m for m in said if m.direction == MessageDirection.INBOUND]
        outbound = [m for m in said if m.direction == MessageDirection.OUTBOUND]
        label = f"#{conversation.number}"
        assert conversation.created_at == thread[0].sent_at, label
        assert conversation.last_message_at == said[-1].sent_at, label
        assert conversation.last_message_preview == preview_of(said[-1].text, ()), label
        assert conversation.last_inbound_at == inbound[-1].sent_at, label
        assert conversation.first_response_at == (outbound[0].sent_at if outbound else None)
        if conversation.status == ConversationStatus.RESOLVED:
            assert conversation.resolved_at is not None, label
            # Resolved soon after the last message, not when the command ran.
            resolved_after = conversation.resolved_at - conversation.last_message_at
            assert timedelta(0) <= resolved_after <= timedelta(hours=1), label
            assert conversation.waiting_since is None, label
            continue
        assert conversation.resolved_at is None, label
        unanswered = [m for m in inbound if not outbound or m.sent_at > outbound[-1].sent_at]
        expected = unanswered[0].sent_at if unanswered else None
        assert conversation.waiting_since == expected, label
        if conversation.status in (ConversationStatus.PENDING, ConversationStatus.SNOOZED):
            assert said[-1].direction == MessageDirection.OUTBOUND, label


def test_running_twice_changes_nothing() -> None:
    first_output, _ = seed()
    counts = row_counts()
    stamp = Organization.objects.get(slug="acme").last_conversation_number

    second_output, _ = seed()

    assert row_counts() == counts
    assert Organization.objects.get(slug="acme").last_conversation_number == stamp
    assert "already exists" in second_output
    # The same logins either way.
    assert first_output.splitlines()[1:] == second_output.splitlines()[1:]


def test_without_debug_it_refuses_unless_forced(settings: Settings) -> None:
    settings.DEBUG = False

    output, errors = seed()

    assert not Organization.objects.filter(slug="acme").exists()
    assert "DEBUG is off" in errors
    assert DEMO_PASSWORD not in output

    seed(force=True)

    assert Organization.objects.filter(slug="acme").exists()


def test_demo_agent_signs_in_and_sees_the_inbox(client: Client) -> None:
    seed()
    mine = (
        Conversation.all_tenants.filter(
            organization__slug="acme", assignee__email="maria@acme.test", status="open"
        )
        .select_related("customer")
        .first()
    )
    assert mine is not None

    response = client.post(
        "/accounts/login/", {"username": "maria@acme.test", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302

    page = client.get("/o/acme/")
    assert page.status_code == 200
    assert escape(mine.customer.display_name) in page.content.decode()


def test_every_run_tells_the_same_story() -> None:
    stories = []
    for _ in range(2):
        with contextlib.suppress(RollbackError), transaction.atomic():
            seed()
            stories.append(story())
            raise RollbackError
    assert len(stories[0]) > 100
    assert stories[0] == stories[1]


def test_conversations_have_sensible_sla_clocks() -> None:
    now = timezone.now()
    seed()
    conversations = Conversation.all_tenants.filter(organization__slug="acme")
    owed_states = {"running", "warning", "breached"}
    overdue = upcoming = 0
    for c in conversations:
        clocks = {
            k.metric: k for k in SLAClock.all_tenants.filter(conversation=c, cycle=c.sla_cycle)
        }
        assert c.sla_cycle == 1, c.number
        assert "resolution" in clocks, c.number
        thread = list(
            Message.all_tenants.filter(conversation=c, kind="message").order_by("sent_at")
        )
        customer_waits = thread[-1].direction == MessageDirection.INBOUND
        waiting_for = "next_response" if "next_response" in clocks else "first_response"
        if c.status == ConversationStatus.RESOLVED:
            assert {k.state for k in clocks.values()} == {"met"}, c.number
            resolved_at = c.resolved_at
            assert resolved_at is not None
            assert all((k.met_at or now) <= resolved_at for k in clocks.values()), c.number
            assert c.sla_due_at is None
            continue
        if c.status == ConversationStatus.OPEN and customer_waits:
            assert clocks[waiting_for].state in owed_states, c.number
            assert c.sla_due_at is not None
            overdue += c.sla_due_at <= now
            upcoming += c.sla_due_at > now
        if not customer_waits:
            assert clocks["first_response"].state == "met", c.number
        if c.status in (ConversationStatus.PENDING, ConversationStatus.SNOOZED):
            resolution = clocks["resolution"]
            # Paused while on hold, unless its deadline had passed already (the sweep's).
            assert resolution.state == "paused" or (resolution.due_at or now) <= now, c.number
    assert overdue, "the demo shows missed deadlines"
    assert upcoming, "and coming ones"
