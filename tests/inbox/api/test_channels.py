"""/orgs/<slug>/channels/: connect a Messenger page or an X account; credentials never leak."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inbox.models import Channel, Role
from inbox.tenancy import tenant_scope
from tests.conftest import api_client
from tests.factories import ChannelFactory, MembershipFactory

pytestmark = pytest.mark.django_db

PAGE_TOKEN = "EAAGm0PX4ZCpsBAq7Tw9Yk2Lm8Vr3"
X_ACCESS = "1429Zq81Lm-k7Tq3Wx9Yb2"
X_REFRESH = "Uv92Wx4Qz7Ab8Cd1Ef6"
X_SECRET = "Fg73Hj5Kl2Mn9Pq4Rs8"


def url(slug: str, pk: int | None = None) -> str:
    base = f"/api/v1/orgs/{slug}/channels/"
    return base if pk is None else f"{base}{pk}/"


def messenger_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "messenger",
        "name": "Acme Hotels",
        "external_id": "104857600",
        "credentials": {"page_access_token": PAGE_TOKEN},
        "settings": {},
    }
    body.update(overrides)
    return body


def twitter_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "twitter",
        "name": "@acme",
        "external_id": "2244994945",
        "credentials": {
            "access_token": X_ACCESS,
            "refresh_token": X_REFRESH,
            "access_token_secret": X_SECRET,
        },
        "settings": {},
    }
    body.update(overrides)
    return body


def assert_no_secret(raw: bytes, secret: str) -> None:
    """Neither the value nor any 6-character piece of it is in the response bytes."""
    text = raw.decode()
    for start in range(len(secret) - 5):
        piece = secret[start : start + 6]
        assert piece not in text, f"{piece!r} of a credential leaked"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    return body


def raw_credentials(channel_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channel WHERE id = %s", [channel_id])
        (value,) = cursor.fetchone()
    return str(value)


def test_create_messenger_channel(admin):
    r = api_client(admin).post(url(admin.organization.slug), messenger_body(), "json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert isinstance(body["id"], int)
    assert body["kind"] == "messenger"
    assert body["name"] == "Acme Hotels"
    assert body["external_id"] == "104857600"
    assert body["status"] == "active"
    assert body["settings"] == {}
    assert "credentials" not in body
    with tenant_scope(admin.organization):
        channel = Channel.objects.get(pk=body["id"])
    assert channel.credentials == {"page_access_token": PAGE_TOKEN}
    assert channel.organization_id == admin.organization_id


def test_create_twitter_channel_with_optional_credentials(admin):
    r = api_client(admin).post(url(admin.organization.slug), twitter_body(), "json")
    assert r.status_code == 201, r.content
    with tenant_scope(admin.organization):
        channel = Channel.objects.get(pk=r.json()["id"])
    assert channel.kind == "twitter"
    assert channel.credentials == {
        "access_token": X_ACCESS,
        "refresh_token": X_REFRESH,
        "access_token_secret": X_SECRET,
    }


def test_create_twitter_channel_with_access_token_only(admin):
    body = twitter_body(credentials={"access_token": X_ACCESS})
    r = api_client(admin).post(url(admin.organization.slug), body, "json")
    assert r.status_code == 201, r.content


def test_settings_may_be_omitted_or_empty(admin):
    client = api_client(admin)
    body = messenger_body()
    del body["settings"]
    r = client.post(url(admin.organization.slug), body, "json")
    assert r.status_code == 201, r.content
    assert r.json()["settings"] == {}


def test_human_agent_approved_defaults_to_false(admin):
    r = api_client(admin).post(url(admin.organization.slug), messenger_body(), "json")
    with tenant_scope(admin.organization):
        channel = Channel.objects.get(pk=r.json()["id"])
    assert channel.settings.get("human_agent_approved", False) is False
    assert r.json()["settings"].get("human_agent_approved", False) is False


def test_human_agent_approved_can_be_set(admin):
    client = api_client(admin)
    r = client.post(
        url(admin.organization.slug),
        messenger_body(settings={"human_agent_approved": True}),
        "json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["settings"] == {"human_agent_approved": True}
    patched = client.patch(
        url(admin.organization.slug, r.json()["id"]),
        {"settings": {"human_agent_approved": False}},
        "json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["settings"] == {"human_agent_approved": False}


def test_unknown_or_mistyped_setting_is_400(admin):
    client = api_client(admin)
    for settings in ({"human_agent_aproved": True}, {"human_agent_approved": "yes"}):
        r = client.post(url(admin.organization.slug), messenger_body(settings=settings), "json")
        body = assert_problem(r, 400)
        assert "settings" in body["errors"]
    with tenant_scope(admin.organization):
        assert not Channel.objects.exists()


def test_no_credential_in_any_response(admin):
    client = api_client(admin)
    slug = admin.organization.slug
    created_m = client.post(url(slug), messenger_body(), "json")
    created_x = client.post(url(slug), twitter_body(), "json")
    assert created_m.status_code == created_x.status_code == 201
    m_id, x_id = created_m.json()["id"], created_x.json()["id"]
    responses = [
        created_m,
        created_x,
        client.get(url(slug)),
        client.get(url(slug, m_id)),
        client.get(url(slug, x_id)),
        client.patch(url(slug, m_id), {"name": "Renamed"}, "json"),
        client.patch(url(slug, x_id), {"credentials": {"access_token": X_ACCESS + "2"}}, "json"),
        client.put(url(slug, m_id), {"settings": {"human_agent_approved": True}}, "json"),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.content
        for secret in (PAGE_TOKEN, X_ACCESS, X_REFRESH, X_SECRET):
            assert_no_secret(response.content, secret)
    listed = client.get(url(slug)).json()["results"]
    assert {row["id"] for row in listed} == {m_id, x_id}
    assert all("credentials" not in row for row in listed)


def test_rotated_credentials_are_stored_and_not_echoed(admin):
    client = api_client(admin)
    slug = admin.organization.slug
    pk = client.post(url(slug), messenger_body(), "json").json()["id"]
    new_token = "EAA5Tn8Wq2Zx7Lp4Rv9"
    r = client.patch(url(slug, pk), {"credentials": {"page_access_token": new_token}}, "json")
    assert r.status_code == 200, r.content
    assert_no_secret(r.content, new_token)
    with tenant_scope(admin.organization):
        assert Channel.objects.get(pk=pk).credentials == {"page_access_token": new_token}


def test_credentials_are_encrypted_at_rest(admin):
    client = api_client(admin)
    slug = admin.organization.slug
    m_id = client.post(url(slug), messenger_body(), "json").json()["id"]
    x_id = client.post(url(slug), twitter_body(), "json").json()["id"]
    stored_m, stored_x = raw_credentials(m_id), raw_credentials(x_id)
    assert stored_m
    assert stored_x
    for stored in (stored_m, stored_x):
        for secret in (PAGE_TOKEN, X_ACCESS, X_REFRESH, X_SECRET):
            assert_no_secret(stored.encode(), secret)
        assert "page_access_token" not in stored
        assert "access_token" not in stored


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
def test_agents_and_supervisors_cannot_write(agent, role):
    member = (
        agent
        if role == Role.AGENT
        else MembershipFactory(organization=agent.organization, role=role)
    )
    channel = ChannelFactory(organization=agent.organization)
    client = api_client(member)
    slug = agent.organization.slug
    created = client.post(url(slug), messenger_body(), "json")
    assert_problem(created, 403)
    patched = client.patch(url(slug, channel.pk), {"name": "Hijacked"}, "json")
    assert_problem(patched, 403)
    with tenant_scope(agent.organization):
        assert list(Channel.objects.values_list("pk", flat=True)) == [channel.pk]
        assert Channel.objects.get(pk=channel.pk).name == channel.name


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR, Role.ADMIN])
def test_every_member_can_read(agent, role):
    member = (
        agent
        if role == Role.AGENT
        else MembershipFactory(organization=agent.organization, role=role)
    )
    channel = ChannelFactory(organization=agent.organization)
    client = api_client(member)
    listed = client.get(url(agent.organization.slug))
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [channel.pk]
    assert client.get(url(agent.organization.slug, channel.pk)).status_code == 200


def test_duplicate_external_id_same_org_is_409(admin):
    client = api_client(admin)
    slug = admin.organization.slug
    assert client.post(url(slug), messenger_body(), "json").status_code == 201
    r = client.post(url(slug), messenger_body(name="Again"), "json")
    body = assert_problem(r, 409)
    assert body["code"] == "conflict"
    with tenant_scope(admin.organization):
        assert Channel.objects.count() == 1


def test_duplicate_external_id_in_another_org_is_409(admin):
    ChannelFactory(kind="messenger", external_id="104857600")  # another organization's page
    r = api_client(admin).post(url(admin.organization.slug), messenger_body(), "json")
    body = assert_problem(r, 409)
    # No hint about which organization holds it.
    assert "org-" not in r.content.decode()
    assert body["code"] == "conflict"
    with tenant_scope(admin.organization):
        assert not Channel.objects.exists()


def test_same_external_id_on_another_kind_is_fine(admin):
    client = api_client(admin)
    slug = admin.organization.slug
    assert client.post(url(slug), messenger_body(external_id="777"), "json").status_code == 201
    assert client.post(url(slug), twitter_body(external_id="777"), "json").status_code == 201


def test_bad_kind_is_400_with_field_errors(admin):
    r = api_client(admin).post(url(admin.organization.slug), messenger_body(kind="fax"), "json")
    body = assert_problem(r, 400)
    assert "kind" in body["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (messenger_body(credentials=None), "credentials"),
        (messenger_body(credentials={}), "credentials"),
        (messenger_body(credentials={"page_access_token": ""}), "credentials"),
        (messenger_body(credentials={"access_token": "tok-abcdef"}), "credentials"),
        (messenger_body(credentials={"page_access_token": 12345678}), "credentials"),
        (twitter_body(credentials={"refresh_token": X_REFRESH}), "credentials"),
        (messenger_body(external_id=""), "external_id"),
        (messenger_body(external_id="   "), "external_id"),
    ],
)
def test_missing_or_bad_fields_are_400(admin, body, field):
    r = api_client(admin).post(url(admin.organization.slug), body, "json")
    problem = assert_problem(r, 400)
    assert field in problem["errors"]
    assert all(isinstance(m, str) for m in problem["errors"][field])
    for secret in (X_REFRESH,):
        assert_no_secret(r.content, secret)
    with tenant_scope(admin.organization):
        assert not Channel.objects.exists()


def test_missing_credentials_key_is_400(admin):
    body = messenger_body()
    del body["credentials"]
    problem = assert_problem(
        api_client(admin).post(url(admin.organization.slug), body, "json"), 400
    )
    assert "credentials" in problem["errors"]


def test_other_orgs_channel_is_404(admin):
    foreign = ChannelFactory()
    client = api_client(admin)
    assert_problem(client.get(url(admin.organization.slug, foreign.pk)), 404)
    assert_problem(
        client.patch(url(admin.organization.slug, foreign.pk), {"name": "x"}, "json"), 404
    )
    foreign.refresh_from_db()
    assert foreign.name != "x"


def test_non_member_cannot_list(admin):
    outsider = MembershipFactory(role=Role.ADMIN)
    assert_problem(api_client(outsider).get(url(admin.organization.slug)), 404)


def test_anonymous_cannot_create(admin):
    assert_problem(APIClient().post(url(admin.organization.slug), messenger_body(), "json"), 401)
