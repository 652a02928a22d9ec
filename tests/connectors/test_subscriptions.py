"""Webhook subscriptions: every active channel is subscribed to our webhook, checked again now
and then, and subscribed again when the platform dropped it (Meta does after an hour of failed
deliveries). The real path: the job, the connector, HTTP to the local fake of both platforms,
and the channel row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from connectors.fake_platform import BRAND_X_USER_ID, FakePlatform
from connectors.messenger.client import SUBSCRIBED_FIELDS
from connectors.registry import connector_for
from connectors.subscriptions import subscription_check
from connectors.tasks import check_channel_subscriptions
from inbox.models import Channel, ChannelStatus, Membership, Role, SubscriptionStatus
from inbox.services.channels import channel_update
from inbox.services.subscriptions import channels_claim_for_subscription_check
from tests.conftest import api_client
from tests.connectors.conftest import META_APP_ID, PAGE_ID
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

WEBHOOK_ID = "1146654567674912769"
X_TOKEN = "x-brand-access-token"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakePlatform]:
    with FakePlatform(meta_app_id=META_APP_ID) as platform:
        settings.META_GRAPH_URL = platform.graph_url
        settings.TWITTER_API_URL = platform.url
        settings.TWITTER_WEBHOOK_ID = WEBHOOK_ID
        yield platform


@pytest.fixture
def page(agent: Membership) -> Channel:
    channel: Channel = ChannelFactory(
        organization=agent.organization,
        kind="messenger",
        external_id=PAGE_ID,
        credentials={"page_access_token": "EAA-page-token"},
    )
    return channel


def _check_due() -> list[str]:
    """One run of the job, as the timer runs it (each due channel checked in turn)."""
    return [
        subscription_check(claim.organization_id, claim.channel_id, claim.lease)
        for claim in channels_claim_for_subscription_check(now=timezone.now())
    ]


def _posts(fake: FakePlatform) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and "subscri" in r.path)


def test_a_page_connected_through_the_api_is_subscribed_to_every_field_we_read(
    agent: Membership, make_member: Any, fake: FakePlatform
) -> None:
    admin = make_member(Role.ADMIN, organization=agent.organization)
    api = api_client(admin)
    url = f"/api/v1/orgs/{agent.organization.slug}/channels/"
    created = api.post(
        url,
        {
            "kind": "messenger",
            "name": "Acme",
            "external_id": PAGE_ID,
            "credentials": {"page_access_token": "EAA-page-token"},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert fake.requests == []  # connecting never waits for the platform
    assert created.json()["subscription"] == {"status": "pending", "checked_at": None, "error": ""}

    assert _check_due() == ["subscribed"]

    assert fake.page_subscriptions() == {PAGE_ID: list(SUBSCRIBED_FIELDS)}
    [post] = [r for r in fake.requests if r.method == "POST"]
    assert post.headers["authorization"] == "Bearer EAA-page-token"
    shown = api.get(f"{url}{created.json()['id']}/").json()["subscription"]
    assert (shown["status"], shown["error"]) == ("subscribed", "")
    assert shown["checked_at"] is not None
    assert _check_due() == []  # nothing due until the next periodic check


def test_a_page_meta_dropped_is_subscribed_again_at_the_next_check(
    page: Channel, fake: FakePlatform, settings: Any
) -> None:
    assert _check_due() == ["subscribed"]
    later = timedelta(seconds=settings.CHANNEL_SUBSCRIPTION_CHECK_SECONDS + 1)

    with time_machine.travel(timezone.now() + later, tick=False):
        assert _check_due() == ["subscribed"]  # still there: a GET, no new subscription
    assert _posts(fake) == 1

    fake.drop_page_subscription(PAGE_ID)
    with time_machine.travel(timezone.now() + 2 * later, tick=False):
        assert _check_due() == ["subscribed"]
    assert _posts(fake) == 2
    assert PAGE_ID in fake.page_subscriptions()


def test_a_page_listing_our_app_without_every_field_is_subscribed_again(
    page: Channel, fake: FakePlatform
) -> None:
    assert _check_due() == ["subscribed"]
    fake.drop_page_subscription(PAGE_ID)
    # Subscribed by hand in Meta's dashboard, without the echoes and receipts:
    fake._page_subscriptions[PAGE_ID] = ["messages"]
    Channel.all_tenants.filter(pk=page.pk).update(subscription_next_check_at=None)

    assert _check_due() == ["subscribed"]
    assert fake.page_subscriptions()[PAGE_ID] == list(SUBSCRIBED_FIELDS)


def test_a_failed_check_is_recorded_and_tried_again_within_a_minute(
    page: Channel, fake: FakePlatform
) -> None:
    fake.fail_next(1, status=503, on="subscription")

    assert _check_due() == ["failed"]
    page.refresh_from_db()
    assert page.subscription_status == SubscriptionStatus.FAILED
    assert "503" in page.subscription_error
    assert page.status == ChannelStatus.ACTIVE  # a platform hiccup breaks nothing
    assert _check_due() == []  # not at once

    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        assert _check_due() == ["subscribed"]
    page.refresh_from_db()
    assert (page.subscription_status, page.subscription_error) == ("subscribed", "")


def test_a_refusal_is_not_asked_again_every_minute(page: Channel, fake: FakePlatform) -> None:
    # The page token lacks a permission: asking again in a minute cannot help.
    fake.fail_next(1, status=403, meta_code=200, on="subscription")

    assert _check_due() == ["failed"]
    page.refresh_from_db()
    assert page.subscription_error.startswith("Messenger refused the webhook subscription")
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert _check_due() == []
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        assert _check_due() == ["subscribed"]


def test_new_credentials_during_a_check_drop_its_outcome(
    page: Channel, agent: Membership, fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check has read the old token when the admin saves a new one, and the old token's
    190 comes back: that says nothing about the new token, so nothing is recorded and the
    channel is checked again at once, with the new one."""
    [claim] = channels_claim_for_subscription_check(now=timezone.now())
    fake.fail_next(1, status=400, meta_code=190, on="subscription")
    real = connector_for("messenger")

    class AdminSavesMidway:
        def ensure_subscribed(self, **kwargs: Any) -> Any:
            channel_update(
                organization=agent.organization,
                channel=Channel.all_tenants.get(pk=page.pk),
                credentials={"page_access_token": "EAA-new-token"},
            )
            return real.ensure_subscribed(**kwargs)  # still with the old token

    monkeypatch.setattr("connectors.subscriptions.connector_for", lambda _: AdminSavesMidway())
    assert subscription_check(claim.organization_id, claim.channel_id, claim.lease) == "changed"
    monkeypatch.undo()

    page.refresh_from_db()
    assert (page.status, page.subscription_status) == (ChannelStatus.ACTIVE, "pending")
    assert _check_due() == ["subscribed"]
    assert fake.requests[-1].headers["authorization"] == "Bearer EAA-new-token"


def test_a_claimed_check_is_not_claimed_again_while_it_runs(page: Channel) -> None:
    assert len(channels_claim_for_subscription_check(now=timezone.now())) == 1
    assert channels_claim_for_subscription_check(now=timezone.now()) == []
    later = timezone.now() + timedelta(minutes=6)  # the task was lost: due again
    assert len(channels_claim_for_subscription_check(now=later)) == 1


def test_an_invalid_page_token_asks_for_reconnection(page: Channel, fake: FakePlatform) -> None:
    fake.fail_next(1, status=400, meta_code=190, on="subscription")

    assert _check_due() == ["failed"]
    page.refresh_from_db()
    assert page.status == ChannelStatus.ERROR
    assert page.subscription_status == SubscriptionStatus.FAILED
    assert _check_due() == []  # a channel in error is not checked until it is reconnected


def test_new_credentials_make_a_channel_due_again_and_paused_ones_are_left_alone(
    page: Channel, agent: Membership, make_member: Any, fake: FakePlatform
) -> None:
    assert _check_due() == ["subscribed"]
    admin = api_client(make_member(Role.ADMIN, organization=agent.organization))
    url = f"/api/v1/orgs/{agent.organization.slug}/channels/{page.pk}/"

    new_token = {"credentials": {"page_access_token": "EAA-new-token"}}
    assert admin.patch(url, new_token, format="json").status_code == 200
    assert admin.get(url).json()["subscription"]["status"] == "pending"
    assert admin.patch(url, {"status": "paused"}, format="json").status_code == 200
    assert _check_due() == []

    assert admin.patch(url, {"status": "active"}, format="json").status_code == 200
    assert _check_due() == ["subscribed"]
    assert fake.requests[-1].headers["authorization"] == "Bearer EAA-new-token"


def test_an_x_account_is_subscribed_to_our_account_activity_webhook(
    agent: Membership, fake: FakePlatform
) -> None:
    ChannelFactory(
        organization=agent.organization,
        kind="twitter",
        external_id=BRAND_X_USER_ID,
        credentials={"access_token": X_TOKEN},
    )

    assert _check_due() == ["subscribed"]
    assert fake.x_subscriptions() == {(WEBHOOK_ID, BRAND_X_USER_ID)}
    [made] = [r for r in fake.requests if r.method == "POST"]
    assert made.headers["authorization"] == f"Bearer {X_TOKEN}"

    Channel.all_tenants.update(subscription_next_check_at=None)
    assert _check_due() == ["subscribed"]  # already subscribed: checked, not made again
    assert _posts(fake) == 1


def test_without_a_webhook_id_x_accounts_are_left_to_be_subscribed_by_hand(
    agent: Membership, fake: FakePlatform, settings: Any
) -> None:
    settings.TWITTER_WEBHOOK_ID = ""
    ChannelFactory(organization=agent.organization, kind="twitter", external_id=BRAND_X_USER_ID)

    assert _check_due() == ["not_configured"]
    assert fake.requests == []


def test_an_expired_x_token_is_renewed_for_the_check(
    agent: Membership, fake: FakePlatform, settings: Any
) -> None:
    settings.TWITTER_OAUTH2_CLIENT_ID = "parley-x-client"
    fake.x_oauth(refresh_tokens=["x-refresh-1"], client_id="parley-x-client")
    brand = ChannelFactory(
        organization=agent.organization,
        kind="twitter",
        external_id=BRAND_X_USER_ID,
        credentials={"access_token": "x-expired", "refresh_token": "x-refresh-1"},
    )

    assert _check_due() == ["subscribed"]

    brand.refresh_from_db()
    assert brand.status == ChannelStatus.ACTIVE
    renewed = brand.credentials["access_token"]
    assert renewed != "x-expired"
    assert fake.x_subscriptions() == {(WEBHOOK_ID, BRAND_X_USER_ID)}
    [made] = [r for r in fake.requests if r.method == "POST" and "subscriptions" in r.path]
    assert made.headers["authorization"] == f"Bearer {renewed}"


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery as the embedded default runs it: the job checks each channel itself."""
    conf = check_channel_subscriptions.app.conf
    before = conf.task_always_eager
    conf.task_always_eager = True
    yield
    conf.task_always_eager = before


@pytest.mark.usefixtures("eager")
def test_the_job_checks_every_due_channel_of_every_organization(
    page: Channel, fake: FakePlatform
) -> None:
    other = ChannelFactory(
        kind="messenger", external_id="222", credentials={"page_access_token": "EAA-other"}
    )

    assert check_channel_subscriptions() == 2

    assert set(fake.page_subscriptions()) == {PAGE_ID, "222"}
    statuses = Channel.all_tenants.filter(pk__in=[page.pk, other.pk]).values_list(
        "subscription_status", flat=True
    )
    assert set(statuses) == {SubscriptionStatus.SUBSCRIBED}
