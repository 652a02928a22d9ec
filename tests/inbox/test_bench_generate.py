"""`manage.py bench_generate` at tiny sizes: the counts asked for, every invariant the schema and
the services keep, and a data set the API serves."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Exists, F, OuterRef, Q
from pytest_django import Settings

from inbox.management.commands.bench_generate import PASSWORD, USER_DOMAIN
from inbox.models import (
    Channel,
    Conversation,
    ConversationStatus,
    CustomerIdentity,
    Membership,
    Message,
    MessageKind,
    Organization,
    Role,
    SLAPolicy,
    User,
)
from tests.conftest import api_client

pytestmark = pytest.mark.django_db

SIZES = {"orgs": 2, "conversations": 40, "messages": 200}


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def generate(**options: object) -> str:
    out = io.StringIO()
    call_command("bench_generate", stdout=out, **{**SIZES, "seed": 7, **options})
    return out.getvalue()


def test_builds_the_requested_sizes():
    generate()
    organizations = Organization.objects.filter(slug__startswith="bench-").order_by("slug")
    assert [o.slug for o in organizations] == ["bench-1", "bench-2"]
    assert Conversation.all_tenants.count() == 40
    assert Message.all_tenants.count() == 200
    for organization in organizations:
        assert Channel.all_tenants.filter(organization=organization).count() == 2
        policy = SLAPolicy.all_tenants.get(organization=organization)
        assert (policy.is_default, policy.first_response_minutes) == (True, 15)
        roles = Membership.all_tenants.filter(organization=organization).values_list(
            "role", flat=True
        )
        assert sorted(set(roles)) == [Role.ADMIN, Role.AGENT, Role.SUPERVISOR]
    statuses = set(Conversation.all_tenants.values_list("status", flat=True))
    assert {ConversationStatus.OPEN, ConversationStatus.RESOLVED} <= statuses


def test_keeps_every_invariant():
    generate()
    conversations = Conversation.all_tenants.all()
    # One unresolved conversation per (customer, channel); snoozed ones have a deadline.
    duplicates = (
        conversations.exclude(status=ConversationStatus.RESOLVED)
        .values("customer_id", "channel_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists()
    assert not conversations.filter(
        status=ConversationStatus.SNOOZED, snoozed_until__isnull=True
    ).exists()
    # Numbers run 1..n per organization and the counter continues after the last one.
    for organization in Organization.objects.filter(slug__startswith="bench-"):
        numbers = sorted(
            conversations.filter(organization=organization).values_list("number", flat=True)
        )
        assert numbers == list(range(1, len(numbers) + 1))
        assert organization.last_conversation_number == len(numbers)
    # Nothing crosses tenants: customer, channel, identity and assignee are the organization's.
    assert not conversations.exclude(customer__organization=F("organization")).exists()
    assert not conversations.exclude(channel__organization=F("organization")).exists()
    identity = CustomerIdentity.all_tenants.filter(
        customer=OuterRef("customer"), channel=OuterRef("channel")
    )
    assert not conversations.exclude(Exists(identity)).exists()
    member = Membership.all_tenants.filter(
        organization=OuterRef("organization"), user=OuterRef("assignee")
    )
    assert not conversations.filter(assignee__isnull=False).exclude(Exists(member)).exists()
    # Messages belong to their conversation's organization and channel, every thread has one,
    # and the conversation shows its latest message.
    messages = Message.all_tenants.all()
    assert not messages.exclude(organization=F("conversation__organization")).exists()
    assert not messages.exclude(channel=F("conversation__channel")).exists()
    assert not conversations.annotate(n=Count("messages")).filter(n=0).exists()
    for conversation in conversations:
        latest = (
            messages.filter(conversation=conversation, kind=MessageKind.MESSAGE)
            .order_by("-sent_at", "-id")
            .first()
        )
        assert latest is not None
        assert latest.sent_at == conversation.last_message_at
        assert latest.text == conversation.last_message_preview
    external_ids = messages.filter(external_id__isnull=False)
    assert external_ids.values("channel", "external_id").distinct().count() == external_ids.count()


def test_users_share_one_password_hash_and_can_sign_in():
    generate()
    users = User.objects.filter(email__endswith=f"@{USER_DOMAIN}")
    assert users.values("password").distinct().count() == 1
    assert users.first() is not None
    assert users.first().check_password(PASSWORD)  # type: ignore[union-attr]  # checked above


def test_refuses_a_second_run_unless_reset_and_reset_replaces():
    generate()
    before = (User.objects.count(), Conversation.all_tenants.count())
    with pytest.raises(CommandError, match="--reset"):
        generate()
    generate(reset=True, seed=8)
    assert (User.objects.count(), Conversation.all_tenants.count()) == before
    assert Organization.objects.filter(slug__startswith="bench-").count() == 2


def test_leaves_other_organizations_alone(make_member):
    other = make_member(Role.ADMIN)
    generate()
    generate(reset=True)
    assert Organization.objects.filter(pk=other.organization_id).exists()
    assert User.objects.filter(pk=other.user_id).exists()


def test_a_generated_agent_lists_its_conversations_through_the_api():
    generate()
    agent = (
        Membership.all_tenants.filter(organization__slug="bench-1", role=Role.AGENT)
        .annotate(n=Count("user__assigned", filter=Q(user__assigned__organization__slug="bench-1")))
        .order_by("-n")
        .select_related("user", "organization")
        .first()
    )
    assert agent is not None
    expected = list(
        Conversation.all_tenants.filter(organization=agent.organization, assignee=agent.user)
        .order_by("-last_message_at", "-id")
        .values_list("id", flat=True)[:25]
    )
    assert expected
    response = api_client(agent).get("/api/v1/orgs/bench-1/conversations/?assignee=me")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == expected
