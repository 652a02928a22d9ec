"""POST /api/v1/auth/token/, how a request is authenticated, and the public schema pages."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from inbox.api.tokens import token_for
from inbox.models import Role
from tests.conftest import api_client
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def conversations_url(slug: str) -> str:
    return f"/api/v1/orgs/{slug}/conversations/"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    return body


def test_token_for_email_and_password():
    user = UserFactory(email="ana@example.com")
    r = APIClient().post(TOKEN_URL, {"email": "ana@example.com", "password": PASSWORD}, "json")
    assert r.status_code == 200, r.content
    assert r.json() == {"token": token_for(user)}


def test_token_is_stable_across_logins():
    UserFactory(email="ana@example.com")
    body = {"email": "ana@example.com", "password": PASSWORD}
    first = APIClient().post(TOKEN_URL, body, "json").json()["token"]
    second = APIClient().post(TOKEN_URL, body, "json").json()["token"]
    assert first == second
    assert len(first) >= 20


def test_token_email_is_case_insensitive():
    user = UserFactory(email="ana@example.com")
    r = APIClient().post(TOKEN_URL, {"email": "Ana@EXAMPLE.com", "password": PASSWORD}, "json")
    assert r.status_code == 200, r.content
    assert r.json()["token"] == token_for(user)


def test_token_wrong_password_is_a_problem():
    UserFactory(email="ana@example.com")
    r = APIClient().post(TOKEN_URL, {"email": "ana@example.com", "password": "nope"}, "json")
    assert r.status_code in (400, 401), r.content
    body = assert_problem(r, r.status_code)
    assert "token" not in body
    if r.status_code == 401:
        assert r.has_header("WWW-Authenticate")


def test_token_unknown_email_answers_like_a_wrong_password():
    UserFactory(email="ana@example.com")
    wrong_password = APIClient().post(
        TOKEN_URL, {"email": "ana@example.com", "password": "nope"}, "json"
    )
    unknown = APIClient().post(TOKEN_URL, {"email": "bob@example.com", "password": "nope"}, "json")
    assert unknown.status_code == wrong_password.status_code
    assert unknown.json()["detail"] == wrong_password.json()["detail"]


def test_token_inactive_user_is_refused():
    UserFactory(email="ana@example.com", is_active=False)
    r = APIClient().post(TOKEN_URL, {"email": "ana@example.com", "password": PASSWORD}, "json")
    assert r.status_code in (400, 401)
    assert "token" not in r.json()


def test_token_missing_fields_are_field_errors():
    r = APIClient().post(TOKEN_URL, {"email": "not-an-email"}, "json")
    body = assert_problem(r, 400)
    assert set(body["errors"]) == {"email", "password"}


def test_token_authenticates_api_calls(agent):
    r = api_client(agent).get(conversations_url(agent.organization.slug))
    assert r.status_code == 200, r.content
    assert r.json()["results"] == []


def test_token_wins_over_the_session():
    user_a = MembershipFactory(role=Role.ADMIN)
    user_b = MembershipFactory(role=Role.ADMIN)
    client = APIClient()
    client.force_login(user_a.user)
    # The session alone is user A.
    assert client.get(conversations_url(user_a.organization.slug)).status_code == 200
    assert client.get(conversations_url(user_b.organization.slug)).status_code == 404

    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user_b.user)}")
    assert client.get(conversations_url(user_b.organization.slug)).status_code == 200
    assert client.get(conversations_url(user_a.organization.slug)).status_code == 404


def test_token_request_needs_no_csrf_even_with_a_session(admin):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(admin.user)}")
    r = client.post(
        f"/api/v1/orgs/{admin.organization.slug}/channels/",
        {
            "kind": "twitter",
            "name": "X",
            "external_id": "42",
            "credentials": {"access_token": "tok-123456"},
        },
        "json",
    )
    assert r.status_code == 201, r.content


def test_invalid_token_never_falls_back_to_the_session(agent):
    client = APIClient()
    client.force_login(agent.user)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    r = client.get(conversations_url(agent.organization.slug))
    assert_problem(r, 401)
    assert r["WWW-Authenticate"].startswith("Token")


def test_malformed_token_header_is_401(agent):
    client = APIClient()
    client.force_login(agent.user)
    client.credentials(HTTP_AUTHORIZATION="Token")
    assert_problem(client.get(conversations_url(agent.organization.slug)), 401)


def test_token_of_an_inactive_user_is_401(agent):
    client = api_client(agent)
    agent.user.is_active = False
    agent.user.save(update_fields=["is_active"])
    assert_problem(client.get(conversations_url(agent.organization.slug)), 401)


def test_session_alone_authenticates_reads(agent):
    client = APIClient()
    client.force_login(agent.user)
    assert client.get(conversations_url(agent.organization.slug)).status_code == 200


def test_unauthenticated_api_call_is_401_problem(agent):
    r = APIClient().get(conversations_url(agent.organization.slug))
    body = assert_problem(r, 401)
    assert body["code"] == "not_authenticated"
    assert r["WWW-Authenticate"].startswith("Token")


def test_unauthenticated_call_to_a_missing_org_is_also_401(db):
    # Authentication is judged before the tenant: no hint whether the organization exists.
    assert_problem(APIClient().get(conversations_url("no-such-org")), 401)


def test_schema_needs_no_authentication(db):
    r = APIClient().get("/api/schema/")
    assert r.status_code == 200
    text = r.content.decode()
    assert "openapi" in text
    assert "/api/v1/orgs/{slug}/conversations/" in text


def test_schema_as_json(db):
    r = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/auth/token/" in paths
    assert "/api/v1/orgs/{slug}/conversations/{conversation_pk}/messages/" in paths


def test_docs_render_without_authentication(db):
    r = APIClient().get("/api/docs/")
    assert r.status_code == 200
    assert b"swagger" in r.content.lower()
    assert b"/api/schema/" in r.content
