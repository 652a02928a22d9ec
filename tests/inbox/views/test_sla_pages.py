"""SLA in the inbox pages: the countdown in each row and in the thread header, the list's SLA
filter and sort, follow-ups in the side panel, and the admins' SLA settings page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from inbox.models import BusinessHours, FollowUp, SLAPolicy
from inbox.services.timers import timers_run_due
from tests.inbox.sla_support import Tenant, make_tenant, receive, reply

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant()


def signed_in(client: Client, membership: object) -> Client:
    client.force_login(membership.user)  # type: ignore[attr-defined]  # a Membership
    return client


def inbox(tenant: Tenant, query: str = "") -> str:
    return f"/o/{tenant.organization.slug}/inbox/{query}"


def row_of(page: str, conversation_id: int) -> str:
    match = re.search(rf'<li id="row-{conversation_id}".*?</li>', page, re.DOTALL)
    assert match, f"no row {conversation_id}"
    return match.group(0)


# ---- rows and the thread header -----------------------------------------------------------------


def test_rows_count_down_and_turn_red_when_breached(client: Client, tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        waiting = receive(tenant, T0 - 2 * MIN)
        answered = receive(tenant, T0 - 2 * MIN, customer="psid-2")
        reply(tenant, answered)
    browser = signed_in(client, tenant.admin)
    with time_machine.travel(T0, tick=False):
        page = browser.get(inbox(tenant, "?view=all")).content.decode()
    row = row_of(page, waiting.pk)
    assert 'class="sla-clock sla-running"' in row
    assert 'data-sla-due="2026-11-26T10:13:00+00:00"' in row
    assert "First reply due in 13 min" in row
    assert "Resolution due in 23 h" in row_of(page, answered.pk)
    with time_machine.travel(T0 + 14 * MIN, tick=False):
        timers_run_due()
        page = browser.get(inbox(tenant, "?view=all")).content.decode()
    row = row_of(page, waiting.pk)
    assert 'class="sla-clock sla-breached"' in row
    assert "First reply overdue 1 min" in row


def test_the_thread_header_lists_every_clock(client: Client, tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
        reply(tenant, conversation)
        page = signed_in(client, tenant.admin).get(inbox(tenant, f"{conversation.pk}/"))
    header = page.content.decode().split('id="thread-header"', 1)[1].split("</header>", 1)[0]
    assert "First reply met" in header
    assert "Resolution due in 24 h" in header


def test_the_list_filters_and_sorts_by_sla(client: Client, tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        late = receive(tenant, T0 - 20 * MIN, customer="late")
        soon = receive(tenant, T0 - 10 * MIN, customer="soon")
        later = receive(tenant, T0 - MIN, customer="later")
        timers_run_due()
    browser = signed_in(client, tenant.admin)
    with time_machine.travel(T0, tick=False):
        breached = browser.get(inbox(tenant, "?view=all&sla=breached")).content.decode()
        due_soon = browser.get(inbox(tenant, "?view=all&sla=due_soon")).content.decode()
        by_sla = browser.get(inbox(tenant, "?view=all&sort=sla")).content.decode()
    assert f'id="row-{late.pk}"' in breached
    assert f'id="row-{soon.pk}"' not in breached
    assert f'id="row-{soon.pk}"' in due_soon
    assert f'id="row-{late.pk}"' not in due_soon
    order = [int(pk) for pk in re.findall(r'<li id="row-(\d+)"', by_sla)]
    assert order == [late.pk, soon.pk, later.pk]
    assert '<option value="breached"' in breached
    assert 'id="list-sort"' in by_sla


def test_the_row_fragment_shows_the_new_state(client: Client, tenant: Tenant) -> None:
    with time_machine.travel(T0, tick=False):
        conversation = receive(tenant, T0)
    with time_machine.travel(T0 + 12 * MIN, tick=False):
        timers_run_due()
        fragment = signed_in(client, tenant.admin).get(
            f"/o/{tenant.organization.slug}/inbox/rows/{conversation.pk}/"
        )
    assert 'class="sla-clock sla-warning"' in fragment.content.decode()


# ---- follow-ups --------------------------------------------------------------------------------


def test_an_agent_schedules_and_cancels_a_follow_up(client: Client, tenant: Tenant) -> None:
    conversation = receive(tenant, T0)
    browser = signed_in(client, tenant.agent)
    url = inbox(tenant, f"{conversation.pk}/follow-ups/")
    with time_machine.travel(T0, tick=False):
        response = browser.post(url, {"at": "2026-12-03T10:00", "note": "Did the part arrive?"})
    assert response.status_code == 303
    follow_up = FollowUp.all_tenants.get()
    # The form's time is the organization's (London: UTC in December).
    assert follow_up.at == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert (follow_up.note, follow_up.assign_back_to_id) == (
        "Did the part arrive?",
        tenant.agent.user_id,
    )
    with time_machine.travel(T0, tick=False):
        page = browser.get(response["Location"]).content.decode()
    assert "Follow-up set for Thu 3 Dec 10:00." in page
    assert "Did the part arrive?" in page
    cancel = inbox(tenant, f"{conversation.pk}/follow-ups/{follow_up.pk}/cancel/")
    assert browser.post(cancel).status_code == 303
    follow_up.refresh_from_db()
    assert follow_up.cancelled_at is not None
    assert "None scheduled." in browser.get(response["Location"]).content.decode()


def test_a_follow_up_in_the_past_is_refused_in_the_page(client: Client, tenant: Tenant) -> None:
    conversation = receive(tenant, T0)
    browser = signed_in(client, tenant.agent)
    with time_machine.travel(T0, tick=False):
        response = browser.post(
            inbox(tenant, f"{conversation.pk}/follow-ups/"), {"at": "2026-11-25T10:00"}
        )
    assert response.status_code == 422
    assert "Follow up at a future time." in response.content.decode()
    assert not FollowUp.all_tenants.exists()


# ---- the settings page -------------------------------------------------------------------------


def settings_url(tenant: Tenant) -> str:
    return f"/o/{tenant.organization.slug}/settings/sla/"


def test_only_admins_see_the_settings_and_its_link(client: Client, tenant: Tenant) -> None:
    agent = signed_in(Client(), tenant.agent)
    assert agent.get(settings_url(tenant)).status_code == 403
    assert settings_url(tenant) not in agent.get(inbox(tenant)).content.decode()
    admin = signed_in(client, tenant.admin)
    assert f'href="{settings_url(tenant)}"' in admin.get(inbox(tenant)).content.decode()
    page = admin.get(settings_url(tenant))
    assert page.status_code == 200
    html = page.content.decode()
    policy = tenant.default_policy.pk
    for field in ("first_response_minutes", "next_response_minutes", "resolution_minutes"):
        assert f'<label for="id_policy-{policy}-{field}">' in html
    assert 'for="id_hours-new-shifts"' in html
    assert 'for="id_auto-resolve-after_days"' in html


def test_an_admin_edits_the_default_policy(client: Client, tenant: Tenant) -> None:
    admin = signed_in(client, tenant.admin)
    policy = tenant.default_policy
    prefix = f"policy-{policy.pk}"
    response = admin.post(
        settings_url(tenant),
        {
            "form": "policy",
            "policy": policy.pk,
            f"{prefix}-name": "Standard",
            f"{prefix}-first_response_minutes": "30",
            f"{prefix}-next_response_minutes": "20",
            f"{prefix}-resolution_minutes": "480",
            f"{prefix}-warning_percent": "50",
            f"{prefix}-use_business_hours": "on",
            f"{prefix}-escalation": "unassign",
        },
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    policy.refresh_from_db()
    assert (
        policy.name,
        policy.first_response_minutes,
        policy.next_response_minutes,
        policy.resolution_minutes,
        policy.warning_percent,
        policy.use_business_hours,
        policy.escalation,
        policy.is_default,
    ) == ("Standard", 30, 20, 480, 50, True, "unassign", True)
    assert "Policy “Standard” saved." in admin.get(settings_url(tenant)).content.decode()


def test_bad_policy_values_come_back_with_their_errors(client: Client, tenant: Tenant) -> None:
    admin = signed_in(client, tenant.admin)
    response = admin.post(
        settings_url(tenant),
        {
            "form": "policy",
            "policy": "new",
            "policy-new-name": "Night",
            "policy-new-first_response_minutes": "0",
            "policy-new-next_response_minutes": "10",
            "policy-new-resolution_minutes": "60",
            "policy-new-warning_percent": "75",
            "policy-new-escalation": "notify",
            "policy-new-position": "1",
            "policy-new-active_from": "22:00",
        },
    )
    assert response.status_code == 422
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    assert SLAPolicy.all_tenants.filter(organization=tenant.organization).count() == 1


def test_an_admin_adds_and_deletes_a_conditional_policy(client: Client, tenant: Tenant) -> None:
    admin = signed_in(client, tenant.admin)
    response = admin.post(
        settings_url(tenant),
        {
            "form": "policy",
            "policy": "new",
            "policy-new-name": "VIP",
            "policy-new-first_response_minutes": "5",
            "policy-new-next_response_minutes": "5",
            "policy-new-resolution_minutes": "120",
            "policy-new-warning_percent": "75",
            "policy-new-escalation": "raise_priority",
            "policy-new-position": "1",
            "policy-new-priorities": ["high", "urgent"],
            "policy-new-tiers": "Gold, Platinum",
            "policy-new-channel": str(tenant.channel.pk),
            "policy-new-active_from": "08:00",
            "policy-new-active_until": "20:00",
        },
    )
    assert response.status_code == 303
    vip = SLAPolicy.all_tenants.get(name="VIP")
    assert (vip.priorities, vip.tiers, vip.channel_id, str(vip.active_from)) == (
        ["high", "urgent"],
        ["Gold", "Platinum"],
        tenant.channel.pk,
        "08:00:00",
    )
    deleted = admin.post(settings_url(tenant), {"form": "delete_policy", "policy": vip.pk})
    assert deleted.status_code == 303
    assert not SLAPolicy.all_tenants.filter(name="VIP").exists()


def test_an_admin_sets_business_hours_and_auto_resolve(client: Client, tenant: Tenant) -> None:
    admin = signed_in(client, tenant.admin)
    bad = admin.post(
        settings_url(tenant),
        {
            "form": "hours",
            "hours": "new",
            "hours-new-time_zone": "Europe/London",
            "hours-new-shifts": "Mon 09:00-17:00\nsometimes",
        },
    )
    assert bad.status_code == 422
    assert "Line 2" in bad.content.decode()
    good = admin.post(
        settings_url(tenant),
        {
            "form": "hours",
            "hours": "new",
            "hours-new-time_zone": "Europe/London",
            "hours-new-shifts": "Mon 09:00-12:00\nMon 13:00-17:00\nSat 22:00-02:00",
            "hours-new-holidays": "2026-12-25\n2026-12-26",
        },
    )
    assert good.status_code == 303
    hours = BusinessHours.all_tenants.get()
    assert hours.schedule == {
        "shifts": [
            {"weekday": 0, "start": "09:00", "end": "12:00"},
            {"weekday": 0, "start": "13:00", "end": "17:00"},
            {"weekday": 5, "start": "22:00", "end": "02:00"},
        ],
        "holidays": ["2026-12-25", "2026-12-26"],
    }
    page = admin.get(settings_url(tenant)).content.decode()
    assert "Mon 09:00-12:00\nMon 13:00-17:00\nSat 22:00-02:00" in page
    saved = admin.post(
        settings_url(tenant),
        {
            "form": "auto_resolve",
            "auto-resolve-after_days": "5",
            "auto-resolve-message": "Closing this for now.",
        },
    )
    assert saved.status_code == 303
    organization = tenant.organization
    organization.refresh_from_db()
    assert (organization.auto_resolve_after_days, organization.auto_resolve_message) == (
        5,
        "Closing this for now.",
    )
