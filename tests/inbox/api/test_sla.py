"""The SLA contract of the API: the `sla` field of conversation rows, the `sla` filter and
`ordering=sla_due_at`, follow-ups, SLA policies, business hours and auto-resolve settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from inbox.models import ConversationStatus, FollowUp, Role, SLAPolicy
from inbox.services.conversations import conversation_update
from inbox.services.follow_ups import follow_up_create
from inbox.services.organizations import member_create
from inbox.services.timers import timers_run_due
from tests.conftest import api_client
from tests.inbox.sla_support import Tenant, as_json, clocks, make_tenant, receive, reply

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant()


def base(tenant: Tenant) -> str:
    return f"/api/v1/orgs/{tenant.organization.slug}"


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# ---- conversation rows -------------------------------------------------------------------------


def test_rows_carry_the_clocks_of_the_current_cycle(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        reply(tenant, conversation)
        client = api_client(tenant.admin)
        row = client.get(f"{base(tenant)}/conversations/").json()["results"][0]
        detail = client.get(f"{base(tenant)}/conversations/{conversation.pk}/").json()
    policy = tenant.default_policy.pk
    expected = [
        {
            "metric": "first_response",
            "due_at": as_json(T0 + 15 * MIN),
            "state": "met",
            "policy": policy,
        },
        {
            "metric": "resolution",
            "due_at": as_json(T0 + timedelta(hours=24)),
            "state": "running",
            "policy": policy,
        },
    ]
    assert row["sla"] == expected
    assert detail["sla"] == expected
    assert row["sla_due_at"] == as_json(T0 + timedelta(hours=24))


def test_a_paused_clock_is_listed_without_a_deadline(tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        client = api_client(tenant.admin)
        response = client.patch(
            f"{base(tenant)}/conversations/{conversation.pk}/", {"status": "pending"}, format="json"
        )
    assert response.status_code == 200
    assert [(c["metric"], c["state"], c["due_at"]) for c in response.json()["sla"]] == [
        ("first_response", "paused", None),
        ("resolution", "paused", None),
    ]
    assert response.json()["sla_due_at"] is None


def test_a_conversation_without_clocks_has_an_empty_list(tenant: Tenant) -> None:
    tenant.default_policy.delete()
    conversation = receive(tenant, T0)
    row = api_client(tenant.admin).get(f"{base(tenant)}/conversations/{conversation.pk}/").json()
    assert (row["sla"], row["sla_due_at"]) == ([], None)


# ---- filters and ordering ----------------------------------------------------------------------


def _spread(tenant: Tenant) -> dict[str, Any]:
    """Conversations whose first reply is due at +5, +10, +15 min, one breached, one warned,
    one answered (only resolution owed) and one pending (nothing owed)."""
    made: dict[str, Any] = {}
    for name, ago in (("breached", 30), ("warning", 13), ("due5", 10), ("due10", 5), ("due15", 0)):
        with time_machine.travel(T0 - ago * MIN, tick=False):
            made[name] = receive(tenant, T0 - ago * MIN, customer=name)
    with time_machine.travel(T0 - MIN, tick=False):
        made["answered"] = receive(tenant, T0 - MIN, customer="answered")
        reply(tenant, made["answered"])
        made["pending"] = receive(tenant, T0 - MIN, customer="pending")
        conversation_update(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=made["pending"],
            status=ConversationStatus.PENDING,
        )
    with time_machine.travel(T0, tick=False):
        timers_run_due()
    return made


def test_sla_filters(tenant: Tenant) -> None:
    made = _spread(tenant)
    client = api_client(tenant.admin)
    url = f"{base(tenant)}/conversations/?status=open,pending&sla="
    with time_machine.travel(T0, tick=False):
        assert ids(client.get(url + "breached")) == [made["breached"].pk]
        assert ids(client.get(url + "warning")) == [made["warning"].pk]
        due = set(ids(client.get(url + "due_within:10")))
        assert due == {made["warning"].pk, made["due5"].pk, made["due10"].pk}
        for bad in ("late", "due_within:", "due_within:0", "due_within:x", "due_within:99999"):
            response = client.get(url + bad)
            assert response.status_code == 400, bad
            assert "sla" in response.json()["errors"]


def test_ordering_by_the_next_deadline_pages_through_everything(tenant: Tenant) -> None:
    made = _spread(tenant)
    client = api_client(tenant.admin)
    expected = [
        made[name].pk
        for name in ("breached", "warning", "due5", "due10", "due15", "answered", "pending")
    ]
    url = f"{base(tenant)}/conversations/?status=open,pending&ordering=sla_due_at&page_size=2"
    seen: list[int] = []
    pages: list[str] = []
    next_url: str | None = url
    with time_machine.travel(T0, tick=False):
        while next_url:
            pages.append(next_url)
            body = client.get(next_url).json()
            seen += [row["id"] for row in body["results"]]
            next_url = body["next"]
        assert seen == expected
        # Walking back from the last page gives the same rows in the same order.
        back: list[int] = []
        previous: str | None = client.get(pages[-1]).json()["previous"]
        while previous:
            body = client.get(previous).json()
            back = [row["id"] for row in body["results"]] + back
            previous = body["previous"]
        assert back == expected[:6]
        dues = [r["sla_due_at"] for r in client.get(url.replace("2", "50")).json()["results"]]
    assert dues[-1] is None
    assert dues[:5] == sorted(dues[:5])
    assert client.get(f"{base(tenant)}/conversations/?ordering=sideways").status_code == 400


def test_ordering_pages_among_conversations_without_deadlines(tenant: Tenant) -> None:
    tenant.default_policy.delete()
    made = [receive(tenant, T0, customer=f"c{n}") for n in range(5)]
    client = api_client(tenant.admin)
    url = f"{base(tenant)}/conversations/?ordering=sla_due_at&page_size=2"
    seen: list[int] = []
    next_url: str | None = url
    while next_url:
        body = client.get(next_url).json()
        seen += [row["id"] for row in body["results"]]
        next_url = body["next"]
    assert seen == [c.pk for c in made]


# ---- follow-ups --------------------------------------------------------------------------------


def test_follow_ups_are_created_listed_and_cancelled(tenant: Tenant) -> None:
    conversation = receive(tenant, T0)
    client = api_client(tenant.agent)
    url = f"{base(tenant)}/conversations/{conversation.pk}/follow-ups/"
    with time_machine.travel(T0, tick=False):
        response = client.post(
            url, {"at": "2026-12-03T10:00:00Z", "note": "Did the part arrive?"}, format="json"
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created == {
        "id": created["id"],
        "conversation": conversation.pk,
        "at": "2026-12-03T10:00:00Z",
        "note": "Did the part arrive?",
        "state": "scheduled",
        "created_by": tenant.agent.user_id,
        "assign_back_to": tenant.agent.user_id,
        "created_at": as_json(T0),
        "done_at": None,
        "cancelled_at": None,
    }
    assert [row["id"] for row in client.get(url).json()["results"]] == [created["id"]]
    deleted = client.delete(f"{url}{created['id']}/")
    assert deleted.status_code == 204
    assert client.delete(f"{url}{created['id']}/").status_code == 204, "cancelling twice is fine"
    assert client.get(url).json()["results"][0]["state"] == "cancelled"
    assert FollowUp.all_tenants.get().cancelled_at is not None


def test_follow_up_input_is_checked(tenant: Tenant) -> None:
    conversation = receive(tenant, T0)
    client = api_client(tenant.agent)
    url = f"{base(tenant)}/conversations/{conversation.pk}/follow-ups/"
    with time_machine.travel(T0, tick=False):
        past = client.post(url, {"at": "2026-11-26T09:00:00Z"}, format="json")
        missing = client.post(url, {"note": "when?"}, format="json")
        far = client.post(url, {"at": "2030-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400
    assert "at" in past.json()["errors"]
    assert missing.status_code == 400
    assert "at" in missing.json()["errors"]
    assert far.status_code == 400
    assert not FollowUp.all_tenants.exists()


def test_a_done_follow_up_cannot_be_cancelled(tenant: Tenant) -> None:
    conversation = receive(tenant, T0)
    with time_machine.travel(T0, tick=False):
        follow_up = follow_up_create(
            organization=tenant.organization,
            actor=tenant.agent,
            conversation=conversation,
            at=T0 + MIN,
        )
    with time_machine.travel(T0 + MIN, tick=False):
        timers_run_due()
    url = f"{base(tenant)}/conversations/{conversation.pk}/follow-ups/{follow_up.pk}/"
    response = api_client(tenant.agent).delete(url)
    assert response.status_code == 409


def test_an_agent_cannot_reach_a_colleagues_conversation_follow_ups(tenant: Tenant) -> None:
    colleague = member_create(
        organization=tenant.organization, email="c@sla.example.com", password="a long passw0rd!"
    )
    conversation = receive(tenant, T0)
    conversation_update(
        organization=tenant.organization,
        actor=tenant.admin,
        conversation=conversation,
        assignee_id=colleague.user_id,
    )
    url = f"{base(tenant)}/conversations/{conversation.pk}/follow-ups/"
    client = api_client(tenant.agent)
    assert client.get(url).status_code == 404
    assert client.post(url, {"at": "2099-01-01T00:00:00Z"}, format="json").status_code == 404


# ---- SLA policies --------------------------------------------------------------------------------


POLICY = {
    "name": "VIP",
    "first_response_minutes": 5,
    "next_response_minutes": 10,
    "resolution_minutes": 240,
    "warning_percent": 50,
    "escalation": "raise_priority",
    "tiers": ["Gold", "Platinum"],
    "priorities": ["high", "urgent"],
    "active_from": "08:00:00",
    "active_until": "20:00:00",
    "position": 1,
}


def test_members_read_policies_and_only_admins_write_them(tenant: Tenant) -> None:
    url = f"{base(tenant)}/sla-policies/"
    agent = api_client(tenant.agent)
    listed = agent.get(url).json()["results"]
    assert [(p["name"], p["is_default"]) for p in listed] == [("Default", True)]
    assert listed[0]["first_response_minutes"] == 15
    assert listed[0]["resolution_minutes"] == 24 * 60
    assert listed[0]["use_business_hours"] is False
    assert agent.post(url, POLICY, format="json").status_code == 403
    default_url = f"{url}{listed[0]['id']}/"
    assert agent.patch(default_url, {"name": "x"}, format="json").status_code == 403
    assert agent.delete(default_url).status_code == 403
    admin = api_client(tenant.admin)
    created = admin.post(url, {**POLICY, "channel": tenant.channel.pk}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in POLICY} == POLICY
    assert (body["channel"], body["is_default"]) == (tenant.channel.pk, False)
    assert agent.get(f"{url}{body['id']}/").json()["name"] == "VIP"
    patched = admin.patch(f"{url}{body['id']}/", {"warning_percent": 80}, format="json")
    assert patched.json()["warning_percent"] == 80
    assert admin.delete(f"{url}{body['id']}/").status_code == 204
    assert SLAPolicy.all_tenants.filter(organization=tenant.organization).count() == 1


def test_the_default_policy_stays_one_and_unconditional(tenant: Tenant) -> None:
    url = f"{base(tenant)}/sla-policies/"
    admin = api_client(tenant.admin)
    default_id = tenant.default_policy.pk
    assert admin.delete(f"{url}{default_id}/").status_code == 409
    unset = admin.patch(f"{url}{default_id}/", {"is_default": False}, format="json")
    assert unset.status_code == 400
    conditioned = admin.patch(f"{url}{default_id}/", {"tiers": ["Gold"]}, format="json")
    assert conditioned.status_code == 400
    new = admin.post(
        url,
        {
            **POLICY,
            "tiers": [],
            "priorities": [],
            "active_from": None,
            "active_until": None,
            "is_default": True,
        },
        format="json",
    )
    assert new.status_code == 201, new.content
    defaults = SLAPolicy.all_tenants.filter(organization=tenant.organization, is_default=True)
    assert list(defaults.values_list("pk", flat=True)) == [new.json()["id"]]


def test_policy_input_is_checked(tenant: Tenant) -> None:
    url = f"{base(tenant)}/sla-policies/"
    admin = api_client(tenant.admin)
    for bad in (
        {**POLICY, "first_response_minutes": 0},
        {**POLICY, "warning_percent": 101},
        {**POLICY, "priorities": ["sometimes"]},
        {**POLICY, "active_until": None},
        {**POLICY, "channel": 999999},
        {k: v for k, v in POLICY.items() if k != "name"},
    ):
        response = admin.post(url, bad, format="json")
        assert response.status_code == 400, (bad, response.content)
    assert SLAPolicy.all_tenants.filter(organization=tenant.organization).count() == 1


# ---- business hours and auto-resolve -----------------------------------------------------------


HOURS = {
    "time_zone": "Europe/London",
    "shifts": [
        {"weekday": 0, "start": "09:00", "end": "12:00"},
        {"weekday": 0, "start": "13:00", "end": "17:00"},
        {"weekday": 5, "start": "22:00", "end": "02:00"},
    ],
    "holidays": ["2026-12-25"],
}


def test_business_hours(tenant: Tenant) -> None:
    url = f"{base(tenant)}/business-hours/"
    admin, agent = api_client(tenant.admin), api_client(tenant.agent)
    assert agent.post(url, HOURS, format="json").status_code == 403
    created = admin.post(url, HOURS, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in HOURS} == HOURS
    assert body["channel"] is None
    assert admin.post(url, HOURS, format="json").status_code == 409, "one for the organization"
    per_channel = admin.post(url, {**HOURS, "channel": tenant.channel.pk}, format="json")
    assert per_channel.status_code == 201
    assert [h["channel"] for h in agent.get(url).json()["results"]] == [None, tenant.channel.pk]
    patched = admin.patch(f"{url}{body['id']}/", {"time_zone": "Europe/Paris"}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["time_zone"], patched.json()["shifts"]) == (
        "Europe/Paris",
        HOURS["shifts"],
    )
    bad_zone = admin.patch(f"{url}{body['id']}/", {"time_zone": "Mars/Olympus"}, format="json")
    assert bad_zone.status_code == 400
    no_shifts = admin.patch(f"{url}{body['id']}/", {"shifts": []}, format="json")
    assert no_shifts.status_code == 400
    assert admin.delete(f"{url}{body['id']}/").status_code == 204


def test_business_hours_edits_retime_running_clocks(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    admin = api_client(tenant.admin)
    admin.patch(
        f"{base(tenant)}/sla-policies/{tenant.default_policy.pk}/",
        {"use_business_hours": True},
        format="json",
    )
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    with time_machine.travel(saturday_night, tick=False):
        conversation = receive(tenant, saturday_night)
    assert clocks(conversation)["first_response"].due_at == saturday_night + 15 * MIN
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"{base(tenant)}/business-hours/", HOURS, format="json")
    assert response.status_code == 201
    # Saturday's night shift runs to 02:00 London (UTC in winter): 15 minutes from 23:00.
    assert clocks(conversation)["first_response"].due_at == saturday_night + 15 * MIN
    with django_capture_on_commit_callbacks(execute=True):
        admin.patch(
            f"{base(tenant)}/business-hours/{response.json()['id']}/",
            {"shifts": [{"weekday": 0, "start": "09:00", "end": "17:00"}]},
            format="json",
        )
    assert clocks(conversation)["first_response"].due_at == datetime(
        2026, 11, 30, 9, 15, tzinfo=UTC
    )


def test_auto_resolve_settings(tenant: Tenant) -> None:
    url = f"{base(tenant)}/auto-resolve/"
    agent, admin = api_client(tenant.agent), api_client(tenant.admin)
    assert agent.get(url).json() == {"after_days": None, "message": ""}
    assert agent.patch(url, {"after_days": 3}, format="json").status_code == 403
    response = admin.patch(url, {"after_days": 3, "message": "Closing, thanks!"}, format="json")
    assert response.json() == {"after_days": 3, "message": "Closing, thanks!"}
    assert admin.patch(url, {"after_days": 0}, format="json").status_code == 400
    assert admin.patch(url, {"after_days": None}, format="json").json()["after_days"] is None
    tenant.organization.refresh_from_db()
    assert tenant.organization.auto_resolve_message == "Closing, thanks!"


def test_the_default_policy_comes_with_the_organization() -> None:
    tenant = make_tenant()
    policy = tenant.default_policy
    assert (
        policy.name,
        policy.first_response_minutes,
        policy.next_response_minutes,
        policy.resolution_minutes,
        policy.use_business_hours,
        policy.warning_percent,
    ) == ("Default", 15, 15, 1440, False, 75)
    assert tenant.admin.role == Role.ADMIN
