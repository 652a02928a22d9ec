"""X channels renew their two-hour OAuth 2.0 access tokens by themselves.

The real path throughout: a reply through the API, the outbox task, the X connector, HTTP to the
local fake of X (which plays X's OAuth 2.0: access tokens that expire, refresh tokens that rotate
and work once), and the channel row in the database.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.fake_platform import BRAND_X_USER_ID, FakePlatform
from inbox.models import (
    Channel,
    ChannelStatus,
    Conversation,
    Delivery,
    DeliveryStatus,
    Membership,
    MessageStatus,
)
from inbox.tasks import sweep_deliveries
from tests.conftest import api_client
from tests.connectors.twitter.conftest import CLIENT_ID, REFRESH
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory
from tests.support.outbox import make_deliveries_due, reply

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "parley-x-client-secret-5Fq9"
EXPIRED_ACCESS = "x-access-expired-Yv3T"
CUSTOMER_X_ID = "987654321"


@pytest.fixture
def brand(agent: Membership) -> Channel:
    channel: Channel = ChannelFactory(
        organization=agent.organization,
        kind="twitter",
        external_id=BRAND_X_USER_ID,
        credentials={"access_token": EXPIRED_ACCESS, "refresh_token": REFRESH},
    )
    return channel


@pytest.fixture
def conversation(brand: Channel) -> Conversation:
    identity = IdentityFactory(
        customer__organization=brand.organization, channel=brand, platform_user_id=CUSTOMER_X_ID
    )
    conv: Conversation = ConversationFactory(
        customer=identity.customer,
        channel=brand,
        last_inbound_at=timezone.now() - timedelta(minutes=3),
    )
    return conv


def _channel(brand: Channel) -> Channel:
    return Channel.all_tenants.get(pk=brand.pk)


def _credentials(brand: Channel) -> dict[str, Any]:
    return dict(_channel(brand).credentials or {})


def test_a_401_renews_the_token_once_and_the_reply_is_sent_once(
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = timezone.now()
    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    [(new_access, new_refresh)] = fake.issued_x_tokens()
    assert [(r.status, r.headers["authorization"]) for r in fake.sends()] == [
        (401, f"Bearer {EXPIRED_ACCESS}"),
        (201, f"Bearer {new_access}"),
    ], "one refused send, then exactly one send that went through"
    [renewal] = fake.token_requests()
    assert renewal.form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": CLIENT_ID,
    }
    assert "authorization" not in renewal.headers, "a public client sends no Basic credentials"
    stored = _credentials(brand)
    assert stored["access_token"] == new_access
    assert stored["refresh_token"] == new_refresh != REFRESH, "the rotated refresh token is kept"
    expiry = datetime.fromisoformat(stored["expires_at"])
    assert before + timedelta(seconds=7190) < expiry < timezone.now() + timedelta(seconds=7210)
    assert _channel(brand).status == ChannelStatus.ACTIVE


def test_the_rotated_refresh_token_renews_the_next_time(
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)
    [(first_access, first_refresh)] = fake.issued_x_tokens()
    fake.expire_x_token(first_access)

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert [r.form["refresh_token"] for r in fake.token_requests()] == [REFRESH, first_refresh]
    assert [r.status for r in fake.token_requests()] == [200, 200]
    assert _credentials(brand)["refresh_token"] == fake.issued_x_tokens()[-1][1]


def test_a_confidential_client_renews_with_http_basic(  # noqa: PLR0917  # fixtures
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TWITTER_OAUTH2_CLIENT_SECRET = CLIENT_SECRET
    fake.x_oauth(refresh_tokens=[REFRESH], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    [renewal] = fake.token_requests()
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert renewal.headers["authorization"] == f"Basic {basic}"
    assert renewal.status == 200


def test_a_token_about_to_expire_is_renewed_before_the_send(
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    still_valid = "x-access-expiring-Hw2K"
    fake.x_oauth(access_tokens=[still_valid], refresh_tokens=[REFRESH], client_id=CLIENT_ID)
    soon = timezone.now() + timedelta(seconds=30)
    Channel.all_tenants.filter(pk=brand.pk).update(
        credentials={
            "access_token": still_valid,
            "refresh_token": REFRESH,
            "expires_at": soon.isoformat(),
        }
    )

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    [(new_access, new_refresh)] = fake.issued_x_tokens()
    assert len(fake.token_requests()) == 1
    assert fake.requests[0].path == "/2/oauth2/token", "renewed before sending anything"
    assert [(r.status, r.headers["authorization"]) for r in fake.sends()] == [
        (201, f"Bearer {new_access}")
    ]
    stored = _credentials(brand)
    assert (stored["access_token"], stored["refresh_token"]) == (new_access, new_refresh)
    assert datetime.fromisoformat(stored["expires_at"]) > soon + timedelta(hours=1)

    again = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    again.refresh_from_db()
    assert again.status == MessageStatus.SENT
    assert len(fake.token_requests()) == 1, "a token two hours from expiry is used as it is"
    assert _credentials(brand) == stored


def test_a_refused_renewal_marks_the_channel_for_reconnection(
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.x_oauth(refresh_tokens=[], client_id=CLIENT_ID)  # the refresh token was used elsewhere

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.failure_code == "renewal_invalid_request"
    assert message.failure_reason == (
        "X refused to renew the channel's access (it was revoked, or its renewal token "
        "expired or was already used): reconnect the channel. "
        "X said: Value passed for the token was invalid."
    )
    assert [r.status for r in fake.token_requests()] == [400]
    assert [r.status for r in fake.sends()] == [401], "no second send without a token"
    assert _channel(brand).status == ChannelStatus.ERROR
    assert _credentials(brand) == {"access_token": EXPIRED_ACCESS, "refresh_token": REFRESH}
    assert Delivery.all_tenants.get(message=message).status == DeliveryStatus.FAILED


def test_app_credentials_x_refuses_mark_the_channel_with_a_reason_naming_them(  # noqa: PLR0917  # fixtures
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TWITTER_OAUTH2_CLIENT_SECRET = "not-the-secret"
    fake.x_oauth(refresh_tokens=[REFRESH], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.failure_code == "renewal_unauthorized_client"
    assert "TWITTER_OAUTH2_CLIENT_ID" in message.failure_reason
    assert [r.status for r in fake.token_requests()] == [401]
    assert _channel(brand).status == ChannelStatus.ERROR


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_transient_token_endpoint_error_retries_and_keeps_the_channel_active(  # noqa: PLR0917  # fixtures
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
    status: int,
) -> None:
    fake.fail_next(1, status=status, on="token")

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED, "waiting for another attempt, not failed"
    delivery = Delivery.all_tenants.get(message=message)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at > timezone.now()
    assert f"renewal_http_{status}" in delivery.last_error
    assert _channel(brand).status == ChannelStatus.ACTIVE
    assert _credentials(brand) == {"access_token": EXPIRED_ACCESS, "refresh_token": REFRESH}

    make_deliveries_due()
    assert sweep_deliveries() == 1

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert [r.status for r in fake.token_requests()] == [status, 200]
    assert [r.status for r in fake.sends()] == [401, 401, 201]
    assert _credentials(brand)["refresh_token"] == fake.issued_x_tokens()[0][1]


def test_the_client_id_turns_renewal_on(  # noqa: PLR0917  # fixtures
    agent: Membership,
    admin: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TWITTER_OAUTH2_CLIENT_ID = ""

    message = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.failure_reason == (
        "The X access token is invalid or expired: reconnect the channel."
    )
    assert fake.token_requests() == [], "without a client id nothing is renewed"
    assert _channel(brand).status == ChannelStatus.ERROR

    settings.TWITTER_OAUTH2_CLIENT_ID = CLIENT_ID
    channel_url = f"/api/v1/orgs/{agent.organization.slug}/channels/{brand.pk}/"
    saved = {"access_token": EXPIRED_ACCESS, "refresh_token": REFRESH}
    reconnected = api_client(admin).patch(channel_url, {"credentials": saved}, format="json")
    assert reconnected.status_code == 200, reconnected.json()
    retry_url = (
        f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}"
        f"/messages/{message.pk}/retry/"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(agent).post(retry_url).status_code == 200

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert [r.status for r in fake.token_requests()] == [200]
    assert _channel(brand).status == ChannelStatus.ACTIVE


def test_no_token_or_secret_reaches_the_logs_or_the_reasons(  # noqa: PLR0917  # fixtures
    agent: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.TWITTER_OAUTH2_CLIENT_SECRET = CLIENT_SECRET
    fake.x_oauth(refresh_tokens=[REFRESH], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    sent = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)
    [(new_access, new_refresh)] = fake.issued_x_tokens()
    fake.expire_x_token(new_access)
    fake.x_oauth(refresh_tokens=[], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    failed = reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)

    sent.refresh_from_db()
    failed.refresh_from_db()
    assert sent.status == MessageStatus.SENT
    assert failed.status == MessageStatus.FAILED
    assert "access token renewed" in caplog.text, "the renewal itself is logged"
    assert "needs re-authorisation" in caplog.text
    said = [
        caplog.text,
        failed.failure_reason,
        failed.failure_code,
        *Delivery.all_tenants.values_list("last_error", flat=True),
    ]
    for secret in (EXPIRED_ACCESS, REFRESH, new_access, new_refresh, CLIENT_SECRET):
        assert not [text for text in said if secret in text], f"{secret} leaked"


def test_the_api_shows_credential_names_only_and_new_credentials_reconnect(  # noqa: PLR0917  # fixtures
    agent: Membership,
    admin: Membership,
    conversation: Conversation,
    brand: Channel,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.x_oauth(refresh_tokens=[], client_id=CLIENT_ID)
    reply(agent, conversation, "Checking now.", django_capture_on_commit_callbacks)
    assert _channel(brand).status == ChannelStatus.ERROR
    url = f"/api/v1/orgs/{agent.organization.slug}/channels/{brand.pk}/"
    expiry = (timezone.now() + timedelta(hours=2)).isoformat()
    saved = {"access_token": "x-access-new-Lk4D", "refresh_token": "x-refresh-new-Zm7N"}

    response = api_client(admin).patch(
        url, {"credentials": {**saved, "expires_at": expiry}}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == ChannelStatus.ACTIVE
    assert response.json()["credentials_set"] == ["access_token", "expires_at", "refresh_token"]
    shown = api_client(admin).get(url).content.decode()
    for value in saved.values():
        assert value not in shown
    assert _credentials(brand) == {**saved, "expires_at": expiry}
