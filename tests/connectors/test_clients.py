"""The platform HTTP clients, over real sockets against the local fake of both platforms.

Nothing here patches requests: every send goes through the client, the network stack and the
fake's HTTP server, so headers, JSON bodies, status codes and timeouts are the real thing.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
import requests

from connectors.base import (
    OutboundRequest,
    PermanentDeliveryError,
    PersonProfile,
    RetryableDeliveryError,
)
from connectors.fake_platform import FakePlatform
from connectors.messenger import client as messenger
from connectors.twitter import client as twitter

PAGE_ID = "1122334455"
PSID = "6022448899123456"
BRAND_X_ID = "1290000000000000001"
CUSTOMER_X_ID = "987654321"
X_ID = re.compile(r"^[0-9]{19}$")

MESSENGER_REQUEST = OutboundRequest(
    message_id=42,
    channel_external_id=PAGE_ID,
    credentials={"page_access_token": "page-token"},
    recipient_id=PSID,
    text="Sorry about that! Could you send your order number?",
    visibility="private",
    window="open",
)
X_DM_REQUEST = OutboundRequest(
    message_id=43,
    channel_external_id=BRAND_X_ID,
    credentials={"access_token": "x-token"},
    recipient_id=CUSTOMER_X_ID,
    text="Hi Sam, checking order 4512 now.",
    visibility="private",
    window="open",
)
X_REPLY_REQUEST = replace(
    X_DM_REQUEST,
    message_id=44,
    text="@sam Sorry to hear that, please DM us.",
    visibility="public",
    in_reply_to="1876500000000000555",
)


@pytest.fixture
def fake(settings: Any) -> Iterator[FakePlatform]:
    """A running fake with both platform base URLs pointed at it."""
    with FakePlatform() as platform:
        settings.META_GRAPH_URL = platform.graph_url
        settings.TWITTER_API_URL = platform.url
        yield platform


@pytest.fixture
def nowhere(settings: Any) -> str:
    """Both base URLs pointed at a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings.META_GRAPH_URL = f"{url}/v25.0"
    settings.TWITTER_API_URL = url
    return url


# ---- Messenger: send -------------------------------------------------------------------


def test_messenger_send_posts_a_response_carrying_our_message_id(fake: FakePlatform) -> None:
    result = messenger.send(MESSENGER_REQUEST)

    assert result.external_id == "m_fake_1"
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", f"/v25.0/{PAGE_ID}/messages")
    assert sent.headers["authorization"] == "Bearer page-token"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {
            "text": "Sorry about that! Could you send your order number?",
            "metadata": "parley:out:42",
        },
    }


def test_messenger_send_in_the_human_agent_window_is_tagged(fake: FakePlatform) -> None:
    messenger.send(replace(MESSENGER_REQUEST, window="human_agent"))

    [sent] = fake.requests
    assert sent.json["messaging_type"] == "MESSAGE_TAG"
    assert sent.json["tag"] == "HUMAN_AGENT"
    assert sent.json["message"]["metadata"] == "parley:out:42"


def test_messenger_send_without_a_token_fails_before_calling(fake: FakePlatform) -> None:
    with pytest.raises(PermanentDeliveryError) as info:
        messenger.send(replace(MESSENGER_REQUEST, credentials={}))

    assert info.value.code == "credentials"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "meta_code", "meta_subcode", "expected_code"),
    [
        (500, None, None, "http_500"),
        (503, None, None, "http_503"),
        (400, 613, None, "613"),  # rate limits come back as HTTP 400: the code decides
        (400, 4, None, "4"),
        (400, 32, None, "32"),
        (400, 80006, None, "80006"),
        (500, 1, None, "1"),
        (500, 2, None, "2"),
        (500, 424242, None, "424242"),  # an unknown code on a 5xx: trust the status
    ],
)
def test_messenger_transient_failures_are_retryable(
    fake: FakePlatform,
    status: int,
    meta_code: int | None,
    meta_subcode: int | None,
    expected_code: str,
) -> None:
    fake.fail_next(1, status=status, meta_code=meta_code, meta_subcode=meta_subcode)

    with pytest.raises(RetryableDeliveryError) as info:
        messenger.send(MESSENGER_REQUEST)

    assert info.value.code == expected_code
    assert len(fake.requests) == 1  # the client never retries on its own


@pytest.mark.parametrize(
    ("failure", "expected_code", "reason_start"),
    [
        (
            (400, 10, 2018278),
            "10/2018278",
            "The reply window is closed: the customer must write first.",
        ),
        ((400, 551, None), "551", "This person isn't available right now."),
        ((400, 200, 1545041), "200/1545041", "This person isn't available right now."),
        (
            (401, 190, None),
            "190",
            "The page's access token is invalid or expired: reconnect the channel.",
        ),
        ((400, 1, 99), "1/99", "Meta refused the send: the app lacks a permission"),
        ((400, 100, 2018276), "100/2018276", "This app may not use the HUMAN_AGENT tag"),
        ((400, 100, 2018001), "100/2018001", "Messenger found no person with this id"),
        ((400, 613, 2018338), "613/2018338", "Meta flagged tagged messages"),
        ((500, 10, 2018278), "10/2018278", "The reply window is closed"),  # code beats status
        ((400, 424242, None), "424242", "(#424242) Fake failure"),  # unknown code on a 4xx
    ],
)
def test_messenger_final_failures_are_permanent_with_a_readable_reason(
    fake: FakePlatform,
    failure: tuple[int, int, int | None],
    expected_code: str,
    reason_start: str,
) -> None:
    status, meta_code, meta_subcode = failure
    fake.fail_next(1, status=status, meta_code=meta_code, meta_subcode=meta_subcode)

    with pytest.raises(PermanentDeliveryError) as info:
        messenger.send(MESSENGER_REQUEST)

    assert info.value.code == expected_code
    assert info.value.reason.startswith(reason_start)
    assert info.value.reason.endswith("(fbtrace_id FakeTrace000)")


def test_messenger_http_error_without_meta_body_is_permanent(fake: FakePlatform) -> None:
    fake.fail_next(1, status=404)

    with pytest.raises(PermanentDeliveryError) as info:
        messenger.send(MESSENGER_REQUEST)

    assert info.value.code == "http_404"


def test_messenger_429_carries_retry_after(fake: FakePlatform) -> None:
    fake.fail_next(1, status=429, retry_after=30)

    with pytest.raises(RetryableDeliveryError) as info:
        messenger.send(MESSENGER_REQUEST)

    assert info.value.code == "http_429"
    assert info.value.retry_after == 30


def test_messenger_usage_header_gives_retry_after_for_throttling() -> None:
    headers = {
        "X-Business-Use-Case-Usage": (
            '{"1122334455": [{"type": "messenger", "call_count": 100,'
            ' "estimated_time_to_regain_access": 5}]}'
        )
    }
    body = {"error": {"message": "(#613) Calls exceeded", "code": 613, "fbtrace_id": "T"}}

    error = messenger.classify_failure(400, body, headers, now=time.time())

    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after == 300


def test_messenger_unreachable_platform_is_a_retryable_network_error(nowhere: str) -> None:
    with pytest.raises(RetryableDeliveryError) as info:
        messenger.send(MESSENGER_REQUEST)

    assert info.value.code == "network"


def test_messenger_slow_answer_times_out_as_retryable(
    fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messenger, "READ_TIMEOUT", 0.2)
    fake.delay_next(1, 5.0)

    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError) as info:
        messenger.send(MESSENGER_REQUEST)

    assert info.value.code == "timeout"
    assert time.monotonic() - started < 2.0
    assert messenger.send(MESSENGER_REQUEST).external_id.startswith("m_fake_")


# ---- Messenger: profile ----------------------------------------------------------------


def test_messenger_fetch_profile(fake: FakePlatform) -> None:
    profile = messenger.fetch_profile({"page_access_token": "page-token"}, PSID)

    assert profile == PersonProfile(
        display_name="Fake Customer 3456", avatar_url=f"{fake.url}/avatars/{PSID}.png"
    )
    [call] = fake.requests
    assert (call.method, call.path) == ("GET", f"/v25.0/{PSID}")
    assert call.query == {"fields": "first_name,last_name,profile_pic"}
    assert call.headers["authorization"] == "Bearer page-token"


def test_messenger_fetch_profile_failures_give_none(fake: FakePlatform, settings: Any) -> None:
    fake.fail_next(1, status=400, meta_code=100, meta_subcode=2018218, on="profile")
    assert messenger.fetch_profile({"page_access_token": "page-token"}, PSID) is None
    assert messenger.fetch_profile({}, PSID) is None

    settings.META_GRAPH_URL = "http://127.0.0.1:9/v25.0"
    assert messenger.fetch_profile({"page_access_token": "page-token"}, PSID) is None


# ---- X: send ---------------------------------------------------------------------------


def test_x_dm_posts_to_the_recipient_conversation(fake: FakePlatform) -> None:
    result = twitter.send(X_DM_REQUEST)

    assert X_ID.match(result.external_id)
    [sent] = fake.requests
    assert (sent.method, sent.path) == (
        "POST",
        f"/2/dm_conversations/with/{CUSTOMER_X_ID}/messages",
    )
    assert sent.headers["authorization"] == "Bearer x-token"
    assert sent.json == {"text": "Hi Sam, checking order 4512 now."}


def test_x_public_reply_posts_a_tweet_in_reply(fake: FakePlatform) -> None:
    result = twitter.send(X_REPLY_REQUEST)

    assert X_ID.match(result.external_id)
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/2/tweets")
    assert sent.json == {
        "text": "@sam Sorry to hear that, please DM us.",
        "reply": {"in_reply_to_tweet_id": "1876500000000000555"},
    }


def test_x_public_post_without_a_tweet_to_answer_omits_reply(fake: FakePlatform) -> None:
    twitter.send(replace(X_REPLY_REQUEST, in_reply_to=None))

    [sent] = fake.requests
    assert sent.json == {"text": "@sam Sorry to hear that, please DM us."}


def test_x_ids_differ_between_sends(fake: FakePlatform) -> None:
    first = twitter.send(X_DM_REQUEST)
    second = twitter.send(X_DM_REQUEST)

    assert first.external_id != second.external_id


def test_x_429_retries_after_the_rate_limit_reset(fake: FakePlatform) -> None:
    fake.fail_next(1, status=429, retry_after=60)

    with pytest.raises(RetryableDeliveryError) as info:
        twitter.send(X_DM_REQUEST)

    assert info.value.code == "http_429"
    assert info.value.retry_after is not None
    assert 57 <= info.value.retry_after <= 61


def test_x_429_falls_back_to_retry_after() -> None:
    error = twitter.classify_failure(429, None, {"Retry-After": "12"}, now=time.time())

    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after == 12


def test_x_server_error_is_retryable(fake: FakePlatform) -> None:
    fake.fail_next(1, status=503)

    with pytest.raises(RetryableDeliveryError) as info:
        twitter.send(X_REPLY_REQUEST)

    assert info.value.code == "http_503"


def test_x_403_is_permanent_with_the_platform_detail(fake: FakePlatform) -> None:
    fake.fail_next(1, status=403, x_detail="You cannot send messages to this user.")

    with pytest.raises(PermanentDeliveryError) as info:
        twitter.send(X_DM_REQUEST)

    assert info.value.code == "403"
    assert info.value.reason == "You cannot send messages to this user."
    assert not info.value.reauthorize


def test_x_401_is_permanent_and_asks_to_reconnect(fake: FakePlatform) -> None:
    fake.fail_next(1, status=401)

    with pytest.raises(PermanentDeliveryError) as info:
        twitter.send(X_DM_REQUEST)

    assert info.value.code == "401"
    assert info.value.reason == "The X access token is invalid or expired: reconnect the channel."
    assert info.value.reauthorize


def test_x_400_is_permanent_with_the_specific_complaint() -> None:
    body = {
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "errors": [{"message": "$.text: must be at most 280 characters"}],
    }

    error = twitter.classify_failure(400, body, {}, now=time.time())

    assert isinstance(error, PermanentDeliveryError)
    assert error.code == "400"
    assert error.reason == (
        "One or more parameters to your request was invalid.; "
        "$.text: must be at most 280 characters"
    )


def test_x_unreachable_platform_is_a_retryable_network_error(nowhere: str) -> None:
    with pytest.raises(RetryableDeliveryError) as info:
        twitter.send(X_DM_REQUEST)

    assert info.value.code == "network"


def test_x_slow_answer_times_out_as_retryable(
    fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twitter, "READ_TIMEOUT", 0.2)
    fake.delay_next(1, 5.0)

    with pytest.raises(RetryableDeliveryError) as info:
        twitter.send(X_DM_REQUEST)

    assert info.value.code == "timeout"


def test_x_send_without_a_token_fails_before_calling(fake: FakePlatform) -> None:
    with pytest.raises(PermanentDeliveryError) as info:
        twitter.send(replace(X_DM_REQUEST, credentials={"access_token": ""}))

    assert info.value.code == "credentials"
    assert fake.requests == []


# ---- X: deep link and profile ------------------------------------------------------------


def test_dm_deep_link_prefills_the_compose_box() -> None:
    assert twitter.dm_deep_link(BRAND_X_ID, "Order number: ") == (
        "https://twitter.com/messages/compose"
        "?recipient_id=1290000000000000001&text=Order%20number%3A%20"
    )


def test_dm_deep_link_encodes_everything_in_the_text() -> None:
    link = twitter.dm_deep_link(BRAND_X_ID, "a&b=c #1 é")

    assert link.endswith("&text=a%26b%3Dc%20%231%20%C3%A9")


def test_dm_deep_link_without_text() -> None:
    assert twitter.dm_deep_link(BRAND_X_ID) == (
        "https://twitter.com/messages/compose?recipient_id=1290000000000000001"
    )


@pytest.mark.parametrize("bad_id", ["", "@brand", "12&text=x", "١٢٣"])
def test_dm_deep_link_refuses_what_is_not_a_user_id(bad_id: str) -> None:
    with pytest.raises(ValueError, match="not an X user id"):
        twitter.dm_deep_link(bad_id)


def test_x_fetch_profile(fake: FakePlatform) -> None:
    profile = twitter.fetch_profile({"access_token": "x-token"}, CUSTOMER_X_ID)

    assert profile == PersonProfile(
        display_name="Fake User 4321",
        screen_name=f"fake_{CUSTOMER_X_ID}",
        avatar_url=f"{fake.url}/avatars/{CUSTOMER_X_ID}_normal.jpg",
    )
    [call] = fake.requests
    assert (call.method, call.path) == ("GET", f"/2/users/{CUSTOMER_X_ID}")
    assert call.query == {"user.fields": "profile_image_url,name,username"}
    assert call.headers["authorization"] == "Bearer x-token"


def test_x_fetch_profile_failures_give_none(fake: FakePlatform, settings: Any) -> None:
    fake.fail_next(1, status=404, x_detail="Could not find user", on="profile")
    assert twitter.fetch_profile({"access_token": "x-token"}, CUSTOMER_X_ID) is None
    assert twitter.fetch_profile({}, CUSTOMER_X_ID) is None

    settings.TWITTER_API_URL = "http://127.0.0.1:9"
    assert twitter.fetch_profile({"access_token": "x-token"}, CUSTOMER_X_ID) is None


# ---- the fake itself -------------------------------------------------------------------


def test_fake_fail_next_counts_down_then_succeeds(fake: FakePlatform) -> None:
    fake.fail_next(2, status=500)

    for _ in range(2):
        with pytest.raises(RetryableDeliveryError):
            messenger.send(MESSENGER_REQUEST)
    result = messenger.send(MESSENGER_REQUEST)

    assert result.external_id == "m_fake_1"
    assert [r.status for r in fake.requests] == [500, 500, 200]


def test_fake_failures_apply_to_sends_not_profile_reads(fake: FakePlatform) -> None:
    fake.fail_next(1, status=500)

    assert messenger.fetch_profile({"page_access_token": "t"}, PSID) is not None
    with pytest.raises(RetryableDeliveryError):
        twitter.send(X_DM_REQUEST)


def test_fake_requires_a_bearer_token(fake: FakePlatform) -> None:
    graph = requests.post(f"{fake.graph_url}/{PAGE_ID}/messages", json={}, timeout=5)
    x = requests.post(f"{fake.url}/2/tweets", json={"text": "hi"}, timeout=5)

    assert graph.status_code == 401
    assert graph.json()["error"]["code"] == 190
    assert x.status_code == 401
    assert x.json()["title"] == "Unauthorized"


def test_fake_rejects_what_meta_would_reject(fake: FakePlatform) -> None:
    body = {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}}

    response = requests.post(
        f"{fake.graph_url}/{PAGE_ID}/messages",
        json=body,
        headers={"Authorization": "Bearer t"},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_fake_accepts_any_graph_version(fake: FakePlatform) -> None:
    response = requests.post(
        f"{fake.url}/v19.0/{PAGE_ID}/messages",
        json={"recipient": {"id": PSID}, "messaging_type": "UPDATE", "message": {"text": "x"}},
        headers={"Authorization": "Bearer t"},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.json() == {"recipient_id": PSID, "message_id": "m_fake_1"}


def test_fake_dm_conversation_id_names_both_users(fake: FakePlatform) -> None:
    response = requests.post(
        f"{fake.url}/2/dm_conversations/with/{CUSTOMER_X_ID}/messages",
        json={"text": "hi"},
        headers={"Authorization": "Bearer t"},
        timeout=5,
    )

    assert response.status_code == 201
    assert response.json()["data"]["dm_conversation_id"] == f"{CUSTOMER_X_ID}-{BRAND_X_ID}"


def test_fake_rate_limit_headers_follow_each_platform(fake: FakePlatform) -> None:
    fake.fail_next(2, status=429, retry_after=60)
    auth = {"Authorization": "Bearer t"}

    graph = requests.post(f"{fake.graph_url}/{PAGE_ID}/messages", json={}, headers=auth, timeout=5)
    x = requests.post(f"{fake.url}/2/tweets", json={"text": "x"}, headers=auth, timeout=5)

    assert graph.headers["Retry-After"] == "60"
    assert "x-rate-limit-reset" not in graph.headers
    assert int(x.headers["x-rate-limit-reset"]) - time.time() == pytest.approx(60, abs=2)
    assert "Retry-After" not in x.headers


def test_fake_reset_forgets_requests_and_queued_failures(fake: FakePlatform) -> None:
    messenger.send(MESSENGER_REQUEST)
    fake.fail_next(3)

    fake.reset()

    assert fake.requests == []
    assert messenger.send(MESSENGER_REQUEST).external_id == "m_fake_2"


def test_fake_serves_concurrent_sends_with_distinct_ids(fake: FakePlatform) -> None:
    requests_ = [replace(X_DM_REQUEST, message_id=i) for i in range(40)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(twitter.send, requests_))

    assert len({r.external_id for r in results}) == 40
    assert len(fake.requests) == 40


def test_fake_stop_releases_the_port() -> None:
    platform = FakePlatform()
    platform.start()
    port = int(platform.url.rsplit(":", 1)[1])
    platform.stop()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
