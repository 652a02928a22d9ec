"""factory_boy factories. The organization is always derived from the parent object, and
`_create` refuses a row whose related objects belong to another organization."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.db import models
from django.utils import timezone

from inbox.models import (
    BusinessHours,
    Channel,
    ChannelKind,
    Conversation,
    Customer,
    CustomerIdentity,
    FollowUp,
    Membership,
    Message,
    MessageDirection,
    MessageStatus,
    Organization,
    Role,
    SLAClock,
    SLAClockState,
    SLAMetric,
    SLAPolicy,
    User,
)
from inbox.services.sla import summary

PASSWORD = "correct horse battery staple"


class CrossTenantGraphError(AssertionError):
    pass


class TenantFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]  # factory_boy is untyped
    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class: type[models.Model]) -> Any:
        return model_class.all_tenants  # type: ignore[attr-defined]  # tenant models all have it

    @classmethod
    def _create(cls, model_class: type[models.Model], *args: Any, **kwargs: Any) -> Any:
        organization = kwargs.get("organization")
        for value in kwargs.values():
            other = getattr(value, "organization_id", None)
            if (
                isinstance(value, models.Model)
                and other is not None
                and organization is not None
                and other != organization.pk
            ):
                raise CrossTenantGraphError(f"{value!r} belongs to another organization")
        return super()._create(model_class, *args, **kwargs)


class OrganizationFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]  # untyped
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")


class UserFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]  # untyped
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)


class MembershipFactory(TenantFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.AGENT


class ChannelFactory(TenantFactory):
    class Meta:
        model = Channel

    organization = factory.SubFactory(OrganizationFactory)
    kind = ChannelKind.MESSENGER
    name = factory.Sequence(lambda n: f"Channel {n}")
    external_id = factory.Sequence(lambda n: f"{100000 + n}")
    credentials = factory.LazyAttribute(
        lambda o: (
            {"page_access_token": "EAAtoken"}
            if o.kind == ChannelKind.MESSENGER
            else {"access_token": "xtoken"}
        )
    )
    settings = factory.LazyFunction(dict)


class CustomerFactory(TenantFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    display_name = factory.Faker("name")


class IdentityFactory(TenantFactory):
    class Meta:
        model = CustomerIdentity

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.LazyAttribute(lambda o: o.customer.organization)
    channel = factory.SubFactory(
        ChannelFactory, organization=factory.SelfAttribute("..organization")
    )
    platform_user_id = factory.Sequence(lambda n: f"psid-{n}")


class ConversationFactory(TenantFactory):
    class Meta:
        model = Conversation

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.LazyAttribute(lambda o: o.customer.organization)
    channel = factory.SubFactory(
        ChannelFactory, organization=factory.SelfAttribute("..organization")
    )
    number = factory.Sequence(lambda n: n + 1)
    last_inbound_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    last_message_at = factory.LazyFunction(timezone.now)
    last_message_preview = "Hello"


class MessageFactory(TenantFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    organization = factory.LazyAttribute(lambda o: o.conversation.organization)
    channel = factory.LazyAttribute(lambda o: o.conversation.channel)
    direction = MessageDirection.INBOUND
    status = MessageStatus.RECEIVED
    text = factory.Faker("sentence")
    sent_at = factory.LazyFunction(timezone.now)
    external_id = factory.Sequence(lambda n: f"m_{n}")


class SLAPolicyFactory(TenantFactory):
    class Meta:
        model = SLAPolicy

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Policy {n}")
    is_default = True
    first_response_minutes = 15
    next_response_minutes = 15
    resolution_minutes = 24 * 60


class BusinessHoursFactory(TenantFactory):
    class Meta:
        model = BusinessHours

    organization = factory.SubFactory(OrganizationFactory)
    time_zone = "Europe/London"
    schedule = factory.LazyFunction(
        lambda: {
            "shifts": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)],
            "holidays": [],
        }
    )


class SLAClockFactory(TenantFactory):
    """A running first-response clock, made part of the conversation's current cycle (its
    summary updated as the SLA service would)."""

    class Meta:
        model = SLAClock
        skip_postgeneration_save = True

    conversation = factory.SubFactory(ConversationFactory)
    organization = factory.LazyAttribute(lambda o: o.conversation.organization)
    metric = SLAMetric.FIRST_RESPONSE
    cycle = 1
    target = timedelta(minutes=15)
    started_at = factory.LazyFunction(timezone.now)
    running_since = factory.LazyAttribute(lambda o: o.started_at)
    due_at = factory.LazyAttribute(lambda o: o.started_at + o.target)
    warn_at = factory.LazyAttribute(lambda o: o.started_at + o.target * 3 / 4)
    state = SLAClockState.RUNNING

    @factory.post_generation  # type: ignore[untyped-decorator]  # factory_boy is untyped
    def current(obj: SLAClock, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805  # factory_boy's hook
        """Make the clock's cycle the conversation's current one, with its summary."""
        if not create:
            return
        clocks = SLAClock.all_tenants.filter(conversation_id=obj.conversation_id, cycle=obj.cycle)
        due, state = summary(clocks)
        fields = {"sla_cycle": obj.cycle, "sla_due_at": due, "sla_state": state}
        Conversation.all_tenants.filter(pk=obj.conversation_id).update(**fields)
        for name, value in fields.items():
            setattr(obj.conversation, name, value)


class FollowUpFactory(TenantFactory):
    class Meta:
        model = FollowUp

    conversation = factory.SubFactory(ConversationFactory)
    organization = factory.LazyAttribute(lambda o: o.conversation.organization)
    at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    note = "Check whether the part arrived"
