"""The provisioning commands: create_organization and create_member."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from inbox.models import Membership, Organization, Role, User
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

STRONG = "tangerine-walrus-42"


def run(command: str, *args: str) -> dict[str, Any]:
    """Run the command; its last line must be one JSON object (scripts parse only that)."""
    out = StringIO()
    call_command(command, *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert lines, "the command printed nothing"
    result = json.loads(lines[-1])
    assert isinstance(result, dict)
    return result


def create_org(slug: str = "acme", email: str = "boss@acme.test") -> dict[str, Any]:
    return run(
        "create_organization",
        "--slug",
        slug,
        "--name",
        "Acme Hotels",
        "--admin-email",
        email,
        "--admin-password",
        STRONG,
    )


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_create_organization_prints_ids_and_a_working_token():
    result = create_org()
    assert {"token", "organization_id", "user_id"} <= result.keys()
    organization = Organization.objects.get(slug="acme")
    assert organization.name == "Acme Hotels"
    assert result["organization_id"] == organization.pk
    user = User.objects.get(email="boss@acme.test")
    assert result["user_id"] == user.pk
    assert user.check_password(STRONG)

    r = token_client(result["token"]).get("/api/v1/orgs/acme/conversations/")
    assert r.status_code == 200, r.content
    assert r.json()["results"] == []


def test_create_organization_makes_the_first_member_an_admin():
    result = create_org()
    membership = Membership.all_tenants.get(
        organization_id=result["organization_id"], user_id=result["user_id"]
    )
    assert membership.role == Role.ADMIN
    # The admin can do admin things: connect a channel.
    r = token_client(result["token"]).post(
        "/api/v1/orgs/acme/channels/",
        {"kind": "twitter", "external_id": "1001", "credentials": {"access_token": "tok-abcdef"}},
        "json",
    )
    assert r.status_code == 201, r.content
    members = token_client(result["token"]).get("/api/v1/orgs/acme/members/").json()["results"]
    assert members == [
        {"user_id": result["user_id"], "email": "boss@acme.test", "name": "", "role": "admin"}
    ]


def test_create_organization_token_works_for_password_login_too():
    result = create_org()
    r = APIClient().post(
        "/api/v1/auth/token/", {"email": "boss@acme.test", "password": STRONG}, "json"
    )
    assert r.status_code == 200
    assert r.json()["token"] == result["token"]


def test_create_organization_duplicate_slug_is_a_command_error():
    create_org()
    with pytest.raises(CommandError, match="acme"):
        create_org(email="other@acme.test")
    assert Organization.objects.filter(slug="acme").count() == 1
    assert not User.objects.filter(email="other@acme.test").exists()


def test_create_organization_bad_slug_is_a_command_error():
    with pytest.raises(CommandError):
        create_org(slug="not a slug")
    assert not Organization.objects.exists()


def test_create_organization_weak_password_creates_nothing():
    with pytest.raises(CommandError):
        call_command(
            "create_organization",
            "--slug",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "boss@acme.test",
            "--admin-password",
            "123",
            stdout=StringIO(),
        )
    assert not Organization.objects.filter(slug="acme").exists()
    assert not User.objects.filter(email="boss@acme.test").exists()


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_create_member_prints_a_working_token(role):
    create_org()
    result = run(
        "create_member",
        "--org",
        "acme",
        "--email",
        "Sam@Acme.test",
        "--password",
        STRONG,
        "--role",
        role,
    )
    assert {"token", "organization_id", "user_id"} <= result.keys()
    user = User.objects.get(pk=result["user_id"])
    assert user.email == "sam@acme.test"
    membership = Membership.all_tenants.get(user=user)
    assert membership.organization_id == result["organization_id"]
    assert membership.role == role

    r = token_client(result["token"]).get("/api/v1/orgs/acme/conversations/")
    assert r.status_code == 200, r.content


def test_create_member_existing_user_joins_a_second_organization():
    other = MembershipFactory(role=Role.SUPERVISOR)
    create_org()
    result = run(
        "create_member",
        "--org",
        "acme",
        "--email",
        other.user.email,
        "--password",
        STRONG,
        "--role",
        "agent",
    )
    assert result["user_id"] == other.user_id
    memberships = Membership.all_tenants.filter(user=other.user)
    assert {(m.organization.slug, m.role) for m in memberships} == {
        (other.organization.slug, "supervisor"),
        ("acme", "agent"),
    }
    # The existing user keeps their password.
    other.user.refresh_from_db()
    assert other.user.check_password(PASSWORD)

    client = token_client(result["token"])
    assert client.get("/api/v1/orgs/acme/conversations/").status_code == 200
    assert client.get(f"/api/v1/orgs/{other.organization.slug}/conversations/").status_code == 200


def test_create_member_twice_is_a_command_error():
    create_org()
    args = ["--org", "acme", "--email", "sam@acme.test", "--password", STRONG]
    run("create_member", *args)
    with pytest.raises(CommandError):
        run("create_member", *args)
    assert Membership.all_tenants.filter(user__email="sam@acme.test").count() == 1


def test_create_member_unknown_org_is_a_command_error():
    with pytest.raises(CommandError):
        run("create_member", "--org", "nope", "--email", "sam@acme.test", "--password", STRONG)
    assert not User.objects.filter(email="sam@acme.test").exists()


def test_create_member_unknown_role_is_a_command_error():
    create_org()
    with pytest.raises(CommandError):
        run(
            "create_member",
            "--org",
            "acme",
            "--email",
            "sam@acme.test",
            "--password",
            STRONG,
            "--role",
            "owner",
        )
