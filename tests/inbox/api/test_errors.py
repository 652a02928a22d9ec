"""One error format for the whole API (problem+json): every failure a client can meet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inbox.models import Membership, Role
from tests.conftest import api_client
from tests.factories import ChannelFactory, ConversationFactory, MembershipFactory

pytestmark = pytest.mark.django_db

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].split(";")[0].strip() == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    assert body["code"]
    assert body["code"] == body["code"].lower()
    if "errors" in body:
        assert isinstance(body["errors"], dict)
        for field, messages in body["errors"].items():
            assert isinstance(field, str)
            assert isinstance(messages, list)
            assert messages
            assert all(isinstance(m, str) and m for m in messages)
    return body


def base(membership: Membership) -> str:
    return f"/api/v1/orgs/{membership.organization.slug}"


def conversation_of(membership: Membership, **kwargs: Any) -> Any:
    return ConversationFactory(customer__organization=membership.organization, **kwargs)


Scenario = Callable[[Membership], Any]


def _unauthenticated(m: Membership) -> Any:
    return APIClient().get(f"{base(m)}/conversations/")


def _bad_token(m: Membership) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    return client.get(f"{base(m)}/conversations/")


def _wrong_password(m: Membership) -> Any:
    return APIClient().post(
        "/api/v1/auth/token/", {"email": m.user.email, "password": "wrong"}, "json"
    )


def _agent_writes_channel(m: Membership) -> Any:
    return api_client(m).post(
        f"{base(m)}/channels/",
        {"kind": "twitter", "external_id": "9", "credentials": {"access_token": "tok-000000"}},
        "json",
    )


def _foreign_org(m: Membership) -> Any:
    return api_client(MembershipFactory()).get(f"{base(m)}/conversations/")


def _unknown_org(m: Membership) -> Any:
    return api_client(m).get("/api/v1/orgs/no-such-org/conversations/")


def _missing_conversation(m: Membership) -> Any:
    return api_client(m).get(f"{base(m)}/conversations/424242/")


def _foreign_conversation(m: Membership) -> Any:
    return api_client(m).get(f"{base(m)}/conversations/{ConversationFactory().pk}/")


def _method_not_allowed(m: Membership) -> Any:
    return api_client(m).delete(f"{base(m)}/conversations/")


def _post_to_conversation_list(m: Membership) -> Any:
    return api_client(m).post(f"{base(m)}/conversations/", {}, "json")


def _delete_message_list(m: Membership) -> Any:
    return api_client(m).delete(f"{base(m)}/conversations/{conversation_of(m).pk}/messages/")


def _invalid_filter(m: Membership) -> Any:
    return api_client(m).get(f"{base(m)}/conversations/", {"status": "nope"})


def _invalid_body(m: Membership) -> Any:
    return api_client(m).patch(
        f"{base(m)}/conversations/{conversation_of(m).pk}/", {"priority": "asap"}, "json"
    )


def _malformed_json(m: Membership) -> Any:
    return api_client(m).generic(
        "POST",
        f"{base(m)}/conversations/{conversation_of(m).pk}/messages/",
        "{not json",
        content_type="application/json",
    )


def _unsupported_media_type(m: Membership) -> Any:
    return api_client(m).generic(
        "POST",
        f"{base(m)}/conversations/{conversation_of(m).pk}/messages/",
        "text=hi",
        content_type="text/plain",
    )


def _window_closed(m: Membership) -> Any:
    conversation = conversation_of(m, last_inbound_at=timezone.now() - timedelta(days=3))
    return api_client(m).post(
        f"{base(m)}/conversations/{conversation.pk}/messages/", {"text": "hi"}, "json"
    )


def _conflict(m: Membership) -> Any:
    old = conversation_of(m, status="resolved", resolved_at=timezone.now())
    ConversationFactory(customer=old.customer, channel=old.channel)
    return api_client(m).patch(f"{base(m)}/conversations/{old.pk}/", {"status": "open"}, "json")


def _duplicate_channel(m: Membership) -> Any:
    ChannelFactory(kind="twitter", external_id="55")
    admin = MembershipFactory(organization=m.organization, role=Role.ADMIN)
    return api_client(admin).post(
        f"{base(m)}/channels/",
        {"kind": "twitter", "external_id": "55", "credentials": {"access_token": "tok-000000"}},
        "json",
    )


SCENARIOS: list[tuple[str, Scenario, int, str | None]] = [
    ("unauthenticated", _unauthenticated, 401, "not_authenticated"),
    ("bad token", _bad_token, 401, "authentication_failed"),
    ("wrong password", _wrong_password, 401, "authentication_failed"),
    ("agent writes a channel", _agent_writes_channel, 403, "forbidden"),
    ("another organization", _foreign_org, 404, "not_found"),
    ("unknown organization", _unknown_org, 404, "not_found"),
    ("missing conversation", _missing_conversation, 404, "not_found"),
    ("foreign conversation", _foreign_conversation, 404, "not_found"),
    ("DELETE a list", _method_not_allowed, 405, "method_not_allowed"),
    ("POST a read-only list", _post_to_conversation_list, 405, "method_not_allowed"),
    ("DELETE messages", _delete_message_list, 405, "method_not_allowed"),
    ("invalid filter", _invalid_filter, 400, "invalid"),
    ("invalid body", _invalid_body, 400, "invalid"),
    ("malformed JSON", _malformed_json, 400, None),
    ("unsupported media type", _unsupported_media_type, 415, None),
    ("window closed", _window_closed, 409, "window_closed"),
    ("reopen conflict", _conflict, 409, "conflict"),
    ("duplicate channel", _duplicate_channel, 409, "conflict"),
]


@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [pytest.param(s, status, code, id=name) for name, s, status, code in SCENARIOS],
)
def test_every_error_is_a_problem(agent, scenario, status, code):
    body = assert_problem(scenario(agent), status)
    if code is not None:
        assert body["code"] == code
    assert body["type"].endswith(body["code"].replace("_", "-"))


def test_title_follows_the_status(agent):
    client = api_client(agent)
    not_found = assert_problem(client.get(f"{base(agent)}/conversations/424242/"), 404)
    invalid = assert_problem(client.get(f"{base(agent)}/conversations/", {"status": "x"}), 400)
    assert not_found["title"] != invalid["title"]
    same = assert_problem(client.get(f"{base(agent)}/channels/424242/"), 404)
    assert same["title"] == not_found["title"]


def test_405_names_the_allowed_methods(agent):
    r = _method_not_allowed(agent)
    body = assert_problem(r, 405)
    allowed = {m.strip() for m in r["Allow"].split(",")}
    assert "GET" in allowed
    assert "DELETE" not in allowed
    assert "DELETE" in body["detail"]


def test_401_carries_a_challenge(agent):
    assert _unauthenticated(agent)["WWW-Authenticate"].startswith("Token")


def test_field_errors_are_under_errors(agent):
    conversation = conversation_of(agent)
    r = api_client(agent).patch(
        f"{base(agent)}/conversations/{conversation.pk}/",
        {"priority": "asap", "status": "gone", "assignee_id": "x"},
        "json",
    )
    body = assert_problem(r, 400)
    assert set(body["errors"]) == {"priority", "status", "assignee_id"}


def test_domain_field_errors_are_under_errors(agent):
    conversation = conversation_of(agent)
    r = api_client(agent).patch(
        f"{base(agent)}/conversations/{conversation.pk}/", {"status": "snoozed"}, "json"
    )
    body = assert_problem(r, 400)
    assert body["errors"] == {"snoozed_until": body["errors"]["snoozed_until"]}


def test_error_without_field_errors_has_no_errors_key(agent):
    body = assert_problem(api_client(agent).get(f"{base(agent)}/conversations/424242/"), 404)
    assert "errors" not in body


def test_window_closed_names_when_it_closed(agent):
    inbound = timezone.now() - timedelta(days=3)
    conversation = conversation_of(agent, last_inbound_at=inbound)
    r = api_client(agent).post(
        f"{base(agent)}/conversations/{conversation.pk}/messages/", {"text": "hi"}, "json"
    )
    body = assert_problem(r, 409)
    assert body["code"] == "window_closed"
    assert body["window_closed_at"] is not None


def test_cross_tenant_404_is_indistinguishable_from_missing(agent):
    client = api_client(agent)
    foreign = ConversationFactory()
    missing = client.get(f"{base(agent)}/conversations/424242/")
    other = client.get(f"{base(agent)}/conversations/{foreign.pk}/")
    assert missing.json() == other.json()
    outsider = api_client(MembershipFactory())
    not_member = outsider.get(f"{base(agent)}/conversations/")
    no_org = outsider.get("/api/v1/orgs/no-such-org/conversations/")
    assert not_member.json() == no_org.json()


def test_unrouted_api_path_is_a_problem(agent):
    assert_problem(api_client(agent).get("/api/v1/no-such-endpoint/"), 404)


def test_unhandled_exception_in_the_api_is_a_problem(agent, monkeypatch):
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("inbox.api.views.conversation_list", broken)
    client = api_client(agent)
    client.raise_request_exception = False
    body = assert_problem(client.get(f"{base(agent)}/conversations/"), 500)
    assert "boom" not in body["detail"]


def test_unrouted_page_path_stays_html(agent):
    client = APIClient()
    client.force_login(agent.user)
    r = client.get("/no-such-page/")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("text/html")
