"""Tenant isolation: every API route and page walked as a member of another organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver

from inbox.api.base import TenantViewSet
from inbox.api.urls import tenant_patterns
from inbox.api.urls import urlpatterns as api_urlpatterns
from inbox.models import (
    BusinessHours,
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    FollowUp,
    Membership,
    Message,
    Organization,
    Role,
    SLAPolicy,
)
from inbox.services.channels import channel_update
from inbox.services.customers import customer_update
from inbox.services.messages import message_send, note_add
from inbox.services.organizations import member_set_role
from inbox.tenancy import (
    AllTenantsManager,
    TenantManager,
    TenantScopeError,
    tenant_models,
    tenant_scope,
)
from tests.conftest import api_client
from tests.factories import (
    BusinessHoursFactory,
    ChannelFactory,
    ConversationFactory,
    FollowUpFactory,
    IdentityFactory,
    MembershipFactory,
    MessageFactory,
    SLAPolicyFactory,
)

pytestmark = pytest.mark.django_db


@dataclass
class Tenant:
    organization: Organization
    admin: Membership
    channel: Channel
    customer: Customer
    conversation: Conversation
    message: Message
    sla_policy: SLAPolicy
    business_hours: BusinessHours
    follow_up: FollowUp


def _tenant() -> Tenant:
    admin = MembershipFactory(role=Role.ADMIN)
    organization = admin.organization
    channel = ChannelFactory(organization=organization)
    identity = IdentityFactory(customer__organization=organization, channel=channel)
    conversation = ConversationFactory(customer=identity.customer, channel=channel)
    message = MessageFactory(conversation=conversation)
    SLAPolicyFactory(organization=organization, name="Default")
    policy = SLAPolicyFactory(organization=organization, is_default=False, priorities=["high"])
    hours = BusinessHoursFactory(organization=organization)
    follow_up = FollowUpFactory(conversation=conversation, created_by=admin.user)
    return Tenant(
        organization,
        admin,
        channel,
        identity.customer,
        conversation,
        message,
        policy,
        hours,
        follow_up,
    )


@pytest.fixture
def mine() -> Tenant:
    return _tenant()


@pytest.fixture
def theirs() -> Tenant:
    return _tenant()


# Every tenant route, with the object each URL parameter names. A new route must be added
# here, or test_every_tenant_route_is_walked fails.
ROUTE_OBJECTS: dict[str, dict[str, str]] = {
    "channel-list": {},
    "channel-detail": {"pk": "channel"},
    "conversation-list": {},
    "conversation-detail": {"pk": "conversation"},
    "conversation-move-to-dm": {"pk": "conversation"},
    "message-list": {"conversation_pk": "conversation"},
    "message-retry": {"conversation_pk": "conversation", "pk": "message"},
    "customer-list": {},
    "customer-detail": {"pk": "customer"},
    "member-list": {},
    "member-detail": {"pk": "member"},
    "follow-up-list": {"conversation_pk": "conversation"},
    "follow-up-detail": {"conversation_pk": "conversation", "pk": "follow_up"},
    "sla-policy-list": {},
    "sla-policy-detail": {"pk": "sla_policy"},
    "business-hours-list": {},
    "business-hours-detail": {"pk": "business_hours"},
    "auto-resolve": {},
}

METHODS = ["get", "post", "put", "patch", "delete"]

# A body that would be valid for each route's write methods in the owner's organization, so a
# 404 proves the scoping and not the validation.
BODIES: dict[str, dict[str, Any]] = {
    "channel-list": {
        "kind": "messenger",
        "name": "x",
        "external_id": "999",
        "credentials": {"page_access_token": "t"},
    },
    "channel-detail": {"name": "renamed"},
    "conversation-detail": {"status": "pending"},
    "message-list": {"text": "hello", "kind": "note"},
    "conversation-move-to-dm": {},
    "customer-detail": {"display_name": "renamed"},
    "member-list": {
        "email": "new@example.com",
        "password": "a long passphrase 123",
        "role": "agent",
    },
    "member-detail": {"role": "agent"},
    "follow-up-list": {"at": "2099-01-01T09:00:00Z", "note": "leak"},
    "sla-policy-list": {
        "name": "leak",
        "first_response_minutes": 1,
        "next_response_minutes": 1,
        "resolution_minutes": 1,
    },
    "sla-policy-detail": {"name": "leak"},
    "business-hours-list": {
        "time_zone": "UTC",
        "shifts": [{"weekday": 0, "start": "00:00", "end": "01:00"}],
    },
    "business-hours-detail": {"time_zone": "UTC"},
    "auto-resolve": {"after_days": 1, "message": "leak"},
}


def _object_id(tenant: Tenant, name: str) -> int:
    if name == "member":
        return tenant.admin.user_id
    obj = getattr(tenant, name)
    return int(obj.pk)


def _routes() -> list[URLPattern]:
    patterns: list[URLPattern] = []
    for entry in tenant_patterns:
        assert isinstance(entry, URLPattern), "tenant routes are flat"
        patterns.append(entry)
    return patterns


def _url(route: URLPattern, slug: str, ids: Tenant) -> str:
    path = str(route.pattern)
    for param, obj in ROUTE_OBJECTS[str(route.name)].items():
        path = path.replace(f"<str:{param}>", str(_object_id(ids, obj)))
    return f"/api/v1/orgs/{slug}/{path}"


def _allowed(route: URLPattern) -> list[str]:
    actions = route.callback.actions  # type: ignore[attr-defined]  # set by ViewSet.as_view
    return [m for m in METHODS if m in actions]


def test_every_tenant_route_is_a_tenant_viewset() -> None:
    for route in _routes():
        view_class = route.callback.cls  # type: ignore[attr-defined]  # set by as_view
        assert issubclass(view_class, TenantViewSet), route.name


def test_every_tenant_route_is_walked() -> None:
    assert {str(r.name) for r in _routes()} == set(ROUTE_OBJECTS)


def test_no_tenant_route_lives_outside_orgs_slug() -> None:
    for entry in api_urlpatterns:
        if isinstance(entry, URLResolver):
            assert str(entry.pattern) == "orgs/<slug:slug>/"
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "cls", None) or getattr(
                entry.callback, "view_class", None
            )
            assert not (view_class and issubclass(view_class, TenantViewSet)), entry.name


def test_another_organizations_slug_is_404_on_every_route_and_method(
    mine: Tenant, theirs: Tenant
) -> None:
    client = api_client(mine.admin)
    for route in _routes():
        for method in _allowed(route):
            for ids in (mine, theirs):
                url = _url(route, theirs.organization.slug, ids)
                body = BODIES.get(str(route.name), {})
                response = getattr(client, method)(url, body, format="json")
                assert response.status_code == 404, (method, url, response.content)
    assert Channel.all_tenants.count() == 2
    assert Conversation.all_tenants.get(pk=theirs.conversation.pk).status == "open"
    assert Message.all_tenants.count() == 2
    _untouched(theirs)


def _untouched(theirs: Tenant) -> None:
    """Nothing of the other organization's SLA set-up changed."""
    assert SLAPolicy.all_tenants.filter(organization=theirs.organization).count() == 2
    assert not SLAPolicy.all_tenants.filter(name="leak").exists()
    assert BusinessHours.all_tenants.get(pk=theirs.business_hours.pk).time_zone == "Europe/London"
    follow_up = FollowUp.all_tenants.get(pk=theirs.follow_up.pk)
    assert (follow_up.cancelled_at, follow_up.done_at) == (None, None)
    assert not FollowUp.all_tenants.filter(note="leak").exists()
    theirs.organization.refresh_from_db()
    assert theirs.organization.auto_resolve_after_days is None


def test_foreign_ids_under_own_slug_are_404_and_write_nothing(mine: Tenant, theirs: Tenant) -> None:
    client = api_client(mine.admin)
    for route in _routes():
        if not ROUTE_OBJECTS[str(route.name)]:
            continue
        for method in _allowed(route):
            url = _url(route, mine.organization.slug, theirs)
            body = BODIES.get(str(route.name), {})
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 404, (method, url, response.content)
            assert response.json()["status"] == 404
    theirs.conversation.refresh_from_db()
    assert theirs.conversation.status == ConversationStatus.OPEN
    assert Message.all_tenants.filter(conversation=theirs.conversation).count() == 1
    assert Membership.all_tenants.filter(organization=theirs.organization).count() == 1
    _untouched(theirs)


def test_own_collections_never_contain_another_tenants_rows(mine: Tenant, theirs: Tenant) -> None:
    client = api_client(mine.admin)
    foreign = {
        "channel-list": {theirs.channel.pk},
        "conversation-list": {theirs.conversation.pk},
        "customer-list": {theirs.customer.pk},
        "member-list": {theirs.admin.user_id},
        "message-list": {theirs.message.pk},
        "follow-up-list": {theirs.follow_up.pk},
        "sla-policy-list": {theirs.sla_policy.pk},
        "business-hours-list": {theirs.business_hours.pk},
    }
    for route in _routes():
        if str(route.name) not in foreign:
            continue
        response = client.get(_url(route, mine.organization.slug, mine))
        assert response.status_code == 200, route.name
        rows = response.json()["results"]
        assert rows, f"{route.name} should list the tenant's own rows"
        ids = {row.get("id", row.get("user_id")) for row in rows}
        assert not ids & foreign[str(route.name)], route.name


def test_filters_naming_foreign_objects_match_nothing(mine: Tenant, theirs: Tenant) -> None:
    client = api_client(mine.admin)
    base = f"/api/v1/orgs/{mine.organization.slug}/conversations/"
    for query in (
        f"customer={theirs.customer.pk}",
        f"channel={theirs.channel.pk}",
        f"assignee={theirs.admin.user_id}",
    ):
        response = client.get(f"{base}?{query}")
        assert response.status_code == 200
        assert response.json()["results"] == [], query


def test_cannot_point_own_rows_at_another_tenants_objects(mine: Tenant, theirs: Tenant) -> None:
    client = api_client(mine.admin)
    url = f"/api/v1/orgs/{mine.organization.slug}/conversations/{mine.conversation.pk}/"
    response = client.patch(url, {"assignee_id": theirs.admin.user_id}, format="json")
    assert response.status_code == 400
    mine.conversation.refresh_from_db()
    assert mine.conversation.assignee_id is None


def test_pages_of_another_organization_are_404(client: Any, mine: Tenant, theirs: Tenant) -> None:
    client.force_login(mine.admin.user)
    assert client.get(f"/o/{mine.organization.slug}/").status_code == 200
    assert client.get(f"/o/{theirs.organization.slug}/").status_code == 404
    assert client.get("/o/no-such-org/").status_code == 404


def test_every_tenant_model_is_fail_closed() -> None:
    models = tenant_models()
    assert {m.__name__ for m in models} >= {
        "Membership",
        "Channel",
        "Customer",
        "CustomerIdentity",
        "Conversation",
        "Message",
        "WebhookEvent",
    }
    for model in models:
        assert isinstance(model._default_manager, TenantManager), model.__name__
        assert isinstance(model.all_tenants, AllTenantsManager), model.__name__  # type: ignore[attr-defined]  # checked here
        with pytest.raises(TenantScopeError):
            model._default_manager.all()


def test_scope_shows_only_its_organization(mine: Tenant, theirs: Tenant) -> None:
    with tenant_scope(mine.organization):
        assert list(Conversation.objects.values_list("pk", flat=True)) == [mine.conversation.pk]
        assert not Conversation.objects.filter(pk=theirs.conversation.pk).exists()
        with pytest.raises(TenantScopeError), tenant_scope(theirs.organization):
            pass


# Indexes that serve every organization at once: the timer sweeps read what is due across
# tenants, in time order, so their key is the time alone. Each is partial (only rows that can
# still come due) and single-column; a sweep never lists one tenant's rows through them.
GLOBAL_SWEEP_INDEXES = {
    "delivery_pending_due",
    "webhook_failed_due",
    "conversation_snooze_due",
    "conversation_auto_resolve_due",
    "sla_clock_warn_due",
    "sla_clock_breach_due",
    "follow_up_due",
}


def test_organization_index_leads_every_composite_index() -> None:
    for model in tenant_models():
        for index in model._meta.indexes:
            fields = [f.lstrip("-") for f in index.fields]
            if len(fields) > 1 and model.__name__ != "WebhookEvent":
                assert fields[0] == "organization", (model.__name__, index.name)


def test_indexes_without_the_organization_are_the_partial_sweep_indexes() -> None:
    found = set()
    for model in tenant_models():
        for index in model._meta.indexes:
            fields = [f.lstrip("-") for f in index.fields]
            if "organization" in fields or (
                model.__name__ == "WebhookEvent" and not index.condition
            ):
                continue
            assert index.name in GLOBAL_SWEEP_INDEXES, (model.__name__, index.name)
            assert index.condition is not None, index.name
            assert len(fields) == 1, index.name
            found.add(index.name)
    assert found == GLOBAL_SWEEP_INDEXES


def test_services_refuse_a_foreign_object_graph(mine: Tenant, theirs: Tenant) -> None:
    with pytest.raises(TenantScopeError):
        message_send(
            organization=mine.organization,
            actor=mine.admin,
            conversation=theirs.conversation,
            text="leak",
        )
    with pytest.raises(TenantScopeError):
        note_add(
            organization=mine.organization,
            actor=mine.admin,
            conversation=theirs.conversation,
            text="leak",
        )
    with pytest.raises(TenantScopeError):
        customer_update(
            organization=mine.organization, customer=theirs.customer, display_name="leak"
        )
    with pytest.raises(TenantScopeError):
        member_set_role(
            organization=mine.organization, actor=mine.admin, membership=theirs.admin, role="agent"
        )
    with pytest.raises(TenantScopeError):
        channel_update(organization=mine.organization, channel=theirs.channel, name="leak")
    assert not Message.all_tenants.filter(text="leak").exists()
    theirs.customer.refresh_from_db()
    theirs.admin.refresh_from_db()
    theirs.channel.refresh_from_db()
    assert "leak" not in (theirs.customer.display_name, theirs.channel.name)
    assert theirs.admin.role == Role.ADMIN
