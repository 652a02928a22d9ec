"""X's token endpoint through the client, and the fake's play of X's OAuth 2.0, over real
sockets (nothing patched)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests

from connectors.base import PermanentDeliveryError, RetryableDeliveryError
from connectors.fake_platform import FakePlatform
from connectors.twitter import client
from tests.connectors.twitter.conftest import CLIENT_ID, REFRESH


def _renew(refresh_token: str = REFRESH, secret: str = "") -> client.TokenGrant:
    return client.renew_access_token(refresh_token, client_id=CLIENT_ID, client_secret=secret)


def test_renewal_returns_the_rotated_pair_and_never_shows_it(fake: FakePlatform) -> None:
    grant = _renew()

    [(access, refresh)] = fake.issued_x_tokens()
    assert (grant.access_token, grant.refresh_token, grant.expires_in) == (access, refresh, 7200)
    assert access not in repr(grant)
    assert refresh not in repr(grant)
    [call] = fake.token_requests()
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"


def test_a_spent_refresh_token_is_refused_for_good(fake: FakePlatform) -> None:
    _renew()

    with pytest.raises(PermanentDeliveryError) as info:
        _renew()

    assert info.value.reauthorize
    assert info.value.code == "renewal_invalid_request"
    assert info.value.reason.endswith("X said: Value passed for the token was invalid.")
    assert REFRESH not in str(info.value)


def test_a_rate_limited_renewal_is_retryable_after_the_reset(fake: FakePlatform) -> None:
    fake.fail_next(1, status=429, retry_after=30, on="token")

    with pytest.raises(RetryableDeliveryError) as info:
        _renew()

    assert info.value.code == "renewal_http_429"
    assert info.value.retry_after is not None
    assert 29 <= info.value.retry_after <= 32
    assert fake.issued_x_tokens() == [], "nothing was spent"


def test_an_unreachable_token_endpoint_is_retryable(settings: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TWITTER_API_URL = f"http://127.0.0.1:{port}"

    with pytest.raises(RetryableDeliveryError) as info:
        _renew()

    assert info.value.code == "renewal_network"


def test_a_slow_token_endpoint_times_out_as_retryable(
    fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "READ_TIMEOUT", 0.2)
    fake.delay_next(1, 5.0, on="token")

    with pytest.raises(RetryableDeliveryError) as info:
        _renew()

    assert info.value.code == "renewal_timeout"


def test_fake_refuses_expired_and_unknown_access_tokens_on_x_sends(fake: FakePlatform) -> None:
    access = _renew().access_token
    dm = f"{fake.url}/2/dm_conversations/with/987654321/messages"
    tweet = f"{fake.url}/2/tweets"

    def post(url: str, token: str) -> int:
        response = requests.post(
            url, json={"text": "hi"}, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        return response.status_code

    assert [post(dm, access), post(tweet, access)] == [201, 201]
    assert [post(dm, "never-issued"), post(tweet, "never-issued")] == [401, 401]
    fake.expire_x_token(access)
    assert [post(dm, access), post(tweet, access)] == [401, 401]


def test_fake_token_endpoint_answers_like_x(fake: FakePlatform) -> None:
    url = f"{fake.url}/2/oauth2/token"
    form = {"grant_type": "refresh_token", "refresh_token": REFRESH, "client_id": CLIENT_ID}

    first = requests.post(url, data=form, timeout=5)
    again = requests.post(url, data=form, timeout=5)

    assert first.status_code == 200
    assert set(first.json()) == {
        "token_type",
        "expires_in",
        "access_token",
        "scope",
        "refresh_token",
    }
    assert first.json()["token_type"] == "bearer"
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }
    rotated = {**form, "refresh_token": first.json()["refresh_token"]}
    assert requests.post(url, data=rotated, timeout=5).status_code == 200


def test_fake_checks_a_confidential_client(fake: FakePlatform) -> None:
    fake.x_oauth(refresh_tokens=[REFRESH], client_id=CLIENT_ID, client_secret="right")
    url = f"{fake.url}/2/oauth2/token"
    form = {"grant_type": "refresh_token", "refresh_token": REFRESH, "client_id": CLIENT_ID}

    wrong = requests.post(url, data=form, auth=(CLIENT_ID, "wrong"), timeout=5)
    right = requests.post(url, data=form, auth=(CLIENT_ID, "right"), timeout=5)

    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized_client")
    assert right.status_code == 200


def test_fake_reset_accepts_any_x_token_again(fake: FakePlatform) -> None:
    fake.reset()

    response = requests.post(
        f"{fake.url}/2/tweets",
        json={"text": "hi"},
        headers={"Authorization": "Bearer anything"},
        timeout=5,
    )

    assert response.status_code == 201
    assert fake.sends()[0].status == 201
    assert fake.token_requests() == []
