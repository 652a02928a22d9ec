"""Shared by the SLA tests: an organization as organization_create makes it (with its default
policy), customers writing through message_receive, agents answering through message_send, and
clocks read back as the API lists them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from inbox.models import (
    Channel,
    Conversation,
    Membership,
    Organization,
    Role,
    SLAClock,
    SLAPolicy,
)
from inbox.services.channels import channel_create
from inbox.services.messages import message_receive, message_send
from inbox.services.organizations import member_create, organization_create

LONDON = "Europe/London"
_ids = itertools.count(1)


@dataclass
class Tenant:
    organization: Organization
    admin: Membership
    agent: Membership
    channel: Channel

    @property
    def default_policy(self) -> SLAPolicy:
        return SLAPolicy.all_tenants.get(organization=self.organization, is_default=True)


def make_tenant(time_zone: str = LONDON) -> Tenant:
    n = next(_ids)
    organization, admin = organization_create(
        slug=f"sla-{n}",
        name=f"SLA {n}",
        admin_email=f"admin{n}@sla.example.com",
        admin_password="a long passphrase 123",
        time_zone=time_zone,
    )
    agent = member_create(
        organization=organization,
        email=f"agent{n}@sla.example.com",
        password="a long passphrase 123",
        role=Role.AGENT,
    )
    channel = channel_create(
        organization=organization,
        kind="messenger",
        name="Page",
        external_id=f"{900000 + n}",
        credentials={"page_access_token": "t"},
        settings={"human_agent_approved": True},
    )
    return Tenant(organization, admin, agent, channel)


def local(time_zone: str, *when: int) -> datetime:
    """A wall-clock time in `time_zone`, as an aware UTC datetime."""
    year, month, day, hour, minute = when
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


def receive(
    tenant: Tenant, at: datetime, *, customer: str = "psid-1", text: str = "Hello?"
) -> Conversation:
    received = message_receive(
        organization=tenant.organization,
        channel=tenant.channel,
        platform_user_id=customer,
        external_id=f"m-{next(_ids)}",
        text=text,
        sent_at=at,
    )
    return received.conversation


def reply(tenant: Tenant, conversation: Conversation, text: str = "On it!") -> None:
    message_send(
        organization=tenant.organization,
        actor=tenant.agent,
        conversation=conversation,
        text=text,
    )


def clocks(conversation: Conversation) -> dict[str, SLAClock]:
    """The current cycle's clocks by metric (fresh from the database)."""
    conversation.refresh_from_db()
    return {
        clock.metric: clock
        for clock in SLAClock.all_tenants.filter(
            conversation=conversation, cycle=conversation.sla_cycle
        )
    }


def states(conversation: Conversation) -> dict[str, str]:
    return {metric: clock.state for metric, clock in clocks(conversation).items()}


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.all_tenants.get(pk=conversation.pk)


def as_json(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
