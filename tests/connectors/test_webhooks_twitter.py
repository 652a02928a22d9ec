"""X webhooks through the real endpoint: CRC, signatures, storage, processing, no doubles.

Bodies are the fixture payloads' exact bytes (a signature only holds on exact bytes); where a
test needs a variant (an echo of a send made during the test) it is built from a fixture.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

import connectors.twitter
from connectors.fake_platform import FakePlatform
from connectors.simulation import now_ms, twitter_dm
from inbox.events import Event
from inbox.models import (
    Channel,
    ChannelStatus,
    Conversation,
    Customer,
    CustomerIdentity,
    DeletedPost,
    Membership,
    Message,
    MessageStatus,
    Role,
    WebhookEvent,
    WebhookEventStatus,
)
from inbox.tasks import sweep_deliveries
from tests.conftest import api_client
from tests.connectors.conftest import BRAND_X_ID, X_SECRET, post_webhook
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory, MessageFactory
from tests.support.outbox import make_deliveries_due, reply

pytestmark = pytest.mark.django_db

FIXTURES = Path(connectors.twitter.__file__).parent / "fixtures"
SAM = "987654321"
SAM_AVATAR = "https://pbs.twimg.com/profile_images/000/sam_normal.jpg"
MENTION_TWEET_ID = "1876500000000000555"
BRAND_TOKEN = "brand-user-access-token"
OAUTH2_SECRET = "oauth2-client-secret-Vb7Nq2Lx9Rt4Kp1Zs8Mw3Jd6Hf0Gc5Ye"
LEGACY_HEADER = "x-twitter-webhooks-signature"
OAUTH2_HEADER = "x-twitter-webhooks-signature-oauth2"
# PROTOCOLS.md sections 2.1 and 2.2: the worked CRC and the signed example body.
CRC_TOKEN = "Zm9vYmFyLWNyYy10b2tlbi0xNzY3MjI1NjAw"
CRC_RESPONSE = "sha256=5qFYh7uqb1UcuNa/pG3u/Rv/IUqBrXK4Niig5PXr3No="
DOCUMENTED_SIGNATURE = "sha256=/P7zuhCxamaOmwYHcMmbnejbrybXqcZZ842bLI6NbKc="
DOCUMENTED_SIGNATURE_HEX = "sha256=fcfef3ba10b16a668e9b060770c99b9de8dbaf26d7a9c659f38d9b2c8e8d6ca7"
# The fake platform numbers the ids it hands out from this one, in order.
FAKE_FIRST_ID = 1876543200000000001


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def x_signature(secret: str, message: bytes) -> str:
    """Computed here, not with the adapter's helper, so a bug there cannot pass its own test."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def brand_dm_echo(*, event_id: str, text: str, created_ms: int, recipient: str = SAM) -> bytes:
    """The brand's own DM as X delivers it (dm_sent_by_brand.json with another id and text)."""
    payload = json.loads(load("dm_sent_by_brand"))
    event = payload["direct_message_events"][0]
    event["id"] = event_id
    event["created_timestamp"] = str(created_ms)
    event["message_create"]["target"]["recipient_id"] = recipient
    event["message_create"]["message_data"]["text"] = text
    return json.dumps(payload, separators=(",", ":")).encode()


def brand_tweet_echo(*, tweet_id: str, text: str, in_reply_to: str) -> bytes:
    """The brand's public reply coming back through tweet_create_events."""
    payload = json.loads(load("own_tweet_reply"))
    tweet = payload["tweet_create_events"][0]
    tweet.update(id=int(tweet_id), id_str=tweet_id, text=f"@samcustomer {text}")
    tweet.update(in_reply_to_status_id=int(in_reply_to), in_reply_to_status_id_str=in_reply_to)
    payload["tweet_create_events"] = [tweet]
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.fixture
def brand() -> Channel:
    channel: Channel = ChannelFactory(
        kind="twitter",
        external_id=BRAND_X_ID,
        name="Acme Support",
        credentials={"access_token": BRAND_TOKEN},
    )
    return channel


@pytest.fixture
def fake(settings: Any) -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        settings.TWITTER_API_URL = platform.url
        yield platform


@pytest.fixture
def outgoing_http(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the server tries to fetch over HTTP (none get through)."""
    seen: list[str] = []

    def refuse(_adapter: Any, request: Any, *_: Any, **__: Any) -> Any:
        seen.append(request.url)
        raise AssertionError(f"unexpected HTTP request to {request.url}")

    monkeypatch.setattr("requests.adapters.HTTPAdapter.send", refuse)
    return seen


def _rows() -> tuple[int, int, int]:
    return (
        Customer.all_tenants.count(),
        Conversation.all_tenants.count(),
        Message.all_tenants.count(),
    )


def _sam(channel: Channel) -> CustomerIdentity:
    identity: CustomerIdentity = CustomerIdentity.all_tenants.select_related("customer").get(
        channel=channel, platform_user_id=SAM
    )
    return identity


# ---- CRC ------------------------------------------------------------------------------------


def test_crc_answers_with_the_consumer_secret(client: Client) -> None:
    response = client.get("/webhooks/twitter/", {"crc_token": CRC_TOKEN})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"response_token": CRC_RESPONSE}


def test_crc_uses_the_oauth2_client_secret_when_configured(client: Client, settings: Any) -> None:
    settings.TWITTER_OAUTH2_CLIENT_SECRET = OAUTH2_SECRET
    response = client.get("/webhooks/twitter/", {"crc_token": CRC_TOKEN})
    assert response.status_code == 200
    token = response.json()["response_token"]
    assert token == x_signature(OAUTH2_SECRET, CRC_TOKEN.encode())
    assert token != CRC_RESPONSE


@pytest.mark.parametrize("query", [{}, {"crc_token": ""}])
def test_crc_without_a_token_is_a_client_error(client: Client, query: dict[str, str]) -> None:
    response = client.get("/webhooks/twitter/", query)
    assert 400 <= response.status_code < 500
    assert WebhookEvent.all_tenants.count() == 0


# ---- signatures -----------------------------------------------------------------------------


def test_the_documented_signed_example_verifies(client: Client, brand: Channel) -> None:
    body = load("dm_signed_example")
    assert len(body) == 458
    response = client.post(
        "/webhooks/twitter/",
        data=body,
        content_type="application/json",
        headers={LEGACY_HEADER: DOCUMENTED_SIGNATURE},
    )
    assert response.status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert bytes(event.body) == body
    assert event.headers[LEGACY_HEADER] == DOCUMENTED_SIGNATURE
    assert event.channel_id == brand.pk
    assert event.organization_id == brand.organization_id
    message = Message.all_tenants.get()
    assert message.text == "Can you help with my refund?"
    assert message.external_id == "1876543210987654321"
    assert message.organization_id == brand.organization_id


def test_the_oauth2_header_alone_is_accepted(client: Client, brand: Channel, settings: Any) -> None:
    settings.TWITTER_CONSUMER_SECRET = ""
    settings.TWITTER_OAUTH2_CLIENT_SECRET = OAUTH2_SECRET
    body = load("dm_signed_example")
    response = client.post(
        "/webhooks/twitter/",
        data=body,
        content_type="application/json",
        headers={OAUTH2_HEADER: x_signature(OAUTH2_SECRET, body)},
    )
    assert response.status_code == 200
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.PROCESSED
    assert Message.all_tenants.get().text == "Can you help with my refund?"


def test_the_legacy_header_needs_the_consumer_secret_configured(
    client: Client, brand: Channel, settings: Any
) -> None:
    settings.TWITTER_CONSUMER_SECRET = ""
    settings.TWITTER_OAUTH2_CLIENT_SECRET = OAUTH2_SECRET
    response = client.post(
        "/webhooks/twitter/",
        data=load("dm_signed_example"),
        content_type="application/json",
        headers={LEGACY_HEADER: DOCUMENTED_SIGNATURE},
    )
    assert response.status_code == 403
    assert WebhookEvent.all_tenants.count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {LEGACY_HEADER: ""},
        {LEGACY_HEADER: DOCUMENTED_SIGNATURE_HEX},  # Meta's hex form is wrong for X
        {LEGACY_HEADER: x_signature("another-secret", load("dm_signed_example"))},
        {LEGACY_HEADER: x_signature(X_SECRET, load("dm_signed_example") + b"\n")},
        {OAUTH2_HEADER: DOCUMENTED_SIGNATURE},  # right digest, wrong header: no OAuth2 secret
        {"X-Hub-Signature-256": DOCUMENTED_SIGNATURE},
    ],
)
def test_a_bad_signature_is_403_and_stores_nothing(
    client: Client, brand: Channel, headers: dict[str, str]
) -> None:
    response = client.post(
        "/webhooks/twitter/",
        data=load("dm_signed_example"),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 403
    assert WebhookEvent.all_tenants.count() == 0
    assert _rows() == (0, 0, 0)


# ---- direct messages ------------------------------------------------------------------------


def test_a_dm_lands_as_a_private_message_with_the_customers_profile(
    client: Client, brand: Channel, outgoing_http: list[str]
) -> None:
    assert post_webhook(client, "twitter", load("dm_received_media")).status_code == 200
    message = Message.all_tenants.get()
    assert message.direction == "inbound"
    assert message.visibility == "private"
    assert message.status == MessageStatus.RECEIVED
    assert message.text == "Here is my order number: 4512 https://t.co/AbCdEf12"
    assert message.external_id == "1876543210987654321"
    assert message.sent_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert message.metadata["initiated_via"] == {"tweet_id": "1876500000000000777"}
    assert message.organization_id == brand.organization_id
    # The media needs an OAuth-signed GET: kept as data for later, never fetched here.
    assert message.attachments == [
        {
            "type": "photo",
            "url": "https://ton.twitter.com/1.1/ton/data/dm/1876543210987654321/"
            "1876543210987654000/receipt.jpg",
            "data": {"media_id": "1876543210987654000"},
        }
    ]
    assert outgoing_http == []
    identity = _sam(brand)
    assert identity.screen_name == "samcustomer"
    assert identity.customer.display_name == "Sam Customer"
    assert identity.customer.avatar_url == SAM_AVATAR
    assert identity.organization_id == brand.organization_id
    conversation = Conversation.all_tenants.get()
    assert conversation.customer_id == identity.customer_id
    assert conversation.default_visibility == "private"
    assert conversation.waiting_since == message.sent_at
    brand.refresh_from_db()
    assert brand.last_event_at is not None


def test_a_dm_without_a_users_map_is_still_received(client: Client, brand: Channel) -> None:
    assert post_webhook(client, "twitter", load("no_users_map")).status_code == 200
    message = Message.all_tenants.get()
    assert message.text == "no profile for me"
    identity = CustomerIdentity.all_tenants.select_related("customer").get()
    assert identity.platform_user_id == "42424242"
    assert identity.screen_name == ""
    assert identity.customer.avatar_url == ""


def test_an_empty_users_map_is_valid(client: Client, brand: Channel) -> None:
    payload = json.loads(load("dm_signed_example"))
    payload["users"] = {}
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert post_webhook(client, "twitter", body).status_code == 200
    assert Message.all_tenants.get().text == "Can you help with my refund?"
    assert _sam(brand).screen_name == ""


def test_an_xaa_dm_received_is_an_inbound_message(client: Client, brand: Channel) -> None:
    assert post_webhook(client, "twitter", load("xaa_dm_received")).status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.channel_id == brand.pk
    message = Message.all_tenants.get()
    assert (message.direction, message.visibility, message.text) == (
        "inbound",
        "private",
        "hello!",
    )
    assert message.external_id == "1876543210987654321"
    identity = _sam(brand)
    assert identity.screen_name == "samcustomer"  # v2 `username`, inside `data`
    assert identity.customer.display_name == "Sam Customer"
    assert identity.customer.avatar_url == SAM_AVATAR


# ---- public mentions, and moving to DM -------------------------------------------------------


def test_a_mention_is_a_public_message_with_its_full_text(client: Client, brand: Channel) -> None:
    assert post_webhook(client, "twitter", load("mention")).status_code == 200
    message = Message.all_tenants.get()
    assert message.direction == "inbound"
    assert message.visibility == "public"
    assert message.text == "@AcmeSupport my parcel is a week late, order 4512"
    assert message.external_id == MENTION_TWEET_ID
    assert message.sent_at == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert message.metadata["tweet_id"] == MENTION_TWEET_ID
    assert message.metadata["display_text_range"] == [13, 49]
    assert message.metadata["user_has_blocked"] is False
    assert Conversation.all_tenants.get().default_visibility == "public"
    identity = _sam(brand)
    assert (identity.screen_name, identity.customer.display_name) == (
        "samcustomer",
        "Sam Customer",
    )


def test_a_truncated_mention_keeps_the_extended_text(client: Client, brand: Channel) -> None:
    assert post_webhook(client, "twitter", load("mention_truncated")).status_code == 200
    message = Message.all_tenants.get()
    assert message.text.startswith("@AcmeSupport I ordered a blue kettle")
    assert message.text.endswith("Can someone please look into this today? 😤")
    assert message.metadata["user_has_blocked"] is False  # sent as the string "false"


def test_a_dm_after_a_mention_joins_the_same_thread_as_private(
    client: Client, brand: Channel
) -> None:
    post_webhook(client, "twitter", load("mention"))
    dm = twitter_dm(
        BRAND_X_ID,
        SAM,
        "Order 4512, thanks",
        event_id="1876543210987659999",
        name="Sam Customer",
        screen_name="samcustomer",
        timestamp_ms=1767225960000,  # six minutes after the mention
    )
    assert post_webhook(client, "twitter", dm).status_code == 200
    conversation = Conversation.all_tenants.get()
    messages = list(Message.all_tenants.filter(conversation=conversation).order_by("sent_at"))
    assert [(m.visibility, m.external_id) for m in messages] == [
        ("public", MENTION_TWEET_ID),
        ("private", "1876543210987659999"),
    ]
    assert {m.direction for m in messages} == {"inbound"}
    assert conversation.default_visibility == "private"  # the next reply follows the DM
    assert Customer.all_tenants.count() == 1


def test_the_brands_own_tweets_are_outside_replies_or_ignored(
    client: Client, brand: Channel
) -> None:
    post_webhook(client, "twitter", load("mention"))
    assert post_webhook(client, "twitter", load("own_tweet_reply")).status_code == 200
    reply = Message.all_tenants.get(direction="outbound")
    assert reply.external_id == "1876500000000000777"
    assert reply.visibility == "public"
    assert reply.sent_outside
    assert reply.metadata["in_reply_to_status_id"] == MENTION_TWEET_ID  # the post it answers
    assert reply.conversation_id == Conversation.all_tenants.get().pk
    assert Message.all_tenants.count() == 2  # the standalone brand post is not a message


# ---- the brand's DMs: sent elsewhere, or our own echo ----------------------------------------


def test_a_dm_the_brand_sent_elsewhere_is_an_outbound_message_sent_outside(
    client: Client, brand: Channel
) -> None:
    post_webhook(client, "twitter", load("dm_received_media"))
    assert post_webhook(client, "twitter", load("dm_sent_by_brand")).status_code == 200
    inbound = Message.all_tenants.get(direction="inbound")
    outbound = Message.all_tenants.get(direction="outbound")
    assert outbound.sent_outside
    assert outbound.status == MessageStatus.SENT
    assert outbound.author_id is None
    assert outbound.visibility == "private"
    assert outbound.external_id == "1876543299999999999"
    assert outbound.text == "Hi Sam, sorry about the delay. Checking order 4512 now."
    assert outbound.conversation_id == inbound.conversation_id
    assert Conversation.all_tenants.get().waiting_since is None
    assert Customer.all_tenants.count() == 1


def test_a_brand_dm_to_a_new_person_starts_their_thread(client: Client, brand: Channel) -> None:
    assert post_webhook(client, "twitter", load("dm_sent_by_brand")).status_code == 200
    outbound = Message.all_tenants.get()
    assert outbound.sent_outside
    identity = _sam(brand)
    assert Conversation.all_tenants.get(pk=outbound.conversation_id).customer_id == (
        identity.customer_id
    )
    assert identity.customer.display_name == "Sam Customer"  # the recipient, not the brand


@pytest.mark.parametrize("status", [MessageStatus.QUEUED, MessageStatus.SENT])
def test_the_echo_of_a_send_we_know_by_id_creates_nothing(
    client: Client, brand: Channel, status: MessageStatus
) -> None:
    identity = IdentityFactory(
        customer__organization=brand.organization, channel=brand, platform_user_id=SAM
    )
    conversation = ConversationFactory(customer=identity.customer, channel=brand)
    ours = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=status,
        external_id="1876543299999999999",
        text="Hi Sam, sorry about the delay. Checking order 4512 now.",
    )
    assert post_webhook(client, "twitter", load("dm_sent_by_brand")).status_code == 200
    assert Message.all_tenants.get() == ours
    ours.refresh_from_db()
    assert not ours.sent_outside
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.PROCESSED


def test_an_echo_overtaking_our_sends_response_completes_our_message(
    client: Client, brand: Channel
) -> None:
    identity = IdentityFactory(
        customer__organization=brand.organization, channel=brand, platform_user_id=SAM
    )
    conversation = ConversationFactory(customer=identity.customer, channel=brand)
    text = "Checking order 4512 now."
    ours = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=MessageStatus.QUEUED,
        external_id=None,
        text=text,
        created_at=timezone.now(),
    )
    echo = brand_dm_echo(event_id="1876543288888888888", text=text, created_ms=now_ms())
    assert post_webhook(client, "twitter", echo).status_code == 200
    assert Message.all_tenants.count() == 1
    ours.refresh_from_db()
    assert ours.external_id == "1876543288888888888"
    assert ours.status == MessageStatus.SENT
    assert not ours.sent_outside


# ---- redelivery, other events, unknown accounts ----------------------------------------------


def test_a_redelivered_batch_creates_each_dm_once(client: Client, brand: Channel) -> None:
    for _ in range(3):
        assert post_webhook(client, "twitter", load("batch")).status_code == 200
    assert WebhookEvent.all_tenants.filter(status=WebhookEventStatus.PROCESSED).count() == 3
    inbound = Message.all_tenants.filter(direction="inbound")
    assert sorted(str(i) for i in inbound.values_list("external_id", flat=True)) == [
        "1876543210987650001",
        "1876543210987650002",
        "1876543210987650004",
    ]
    assert inbound.get(external_id="1876543210987650004").text == "Café ☕ ok, thanks!"
    assert inbound.get(external_id="1876543210987650002").metadata["quick_reply_response"] == {
        "type": "options",
        "metadata": "csat-5",
    }
    echo = Message.all_tenants.get(direction="outbound")
    assert (echo.external_id, echo.sent_outside) == ("1876543210987650003", True)
    assert echo.conversation_id == inbound.get(external_id="1876543210987650001").conversation_id
    assert Customer.all_tenants.count() == 2
    assert Conversation.all_tenants.count() == 2
    ria = CustomerIdentity.all_tenants.select_related("customer").get(platform_user_id="555000111")
    assert (ria.screen_name, ria.customer.display_name) == ("ria_r", "Ria Rossi")


# ---- deleted posts (X's terms: deleted content must go) -------------------------------------


def _mention_and_delete(*, delete_first: bool) -> bytes:
    """One AAA delivery carrying the mention and its deletion, in the order asked."""
    created = json.loads(load("mention"))
    deleted = json.loads(load("tweet_delete"))
    keys = ["tweet_delete_events", "tweet_create_events"]
    payload = {"for_user_id": BRAND_X_ID, "users": created.get("users", {})}
    for key in keys if delete_first else reversed(keys):
        payload[key] = (deleted if key == "tweet_delete_events" else created)[key]
    return json.dumps(payload).encode()


def test_a_deleted_mention_loses_its_content_everywhere(
    client: Client,
    brand: Channel,
    make_member: Callable[..., Membership],
    published: list[Event],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = make_member(Role.SUPERVISOR, organization=brand.organization)
    assert post_webhook(client, "twitter", load("mention")).status_code == 200
    message = Message.all_tenants.get()
    conversation = message.conversation
    assert conversation.last_message_preview.startswith("@AcmeSupport my parcel")

    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(client, "twitter", load("tweet_delete")).status_code == 200

    assert WebhookEvent.all_tenants.latest("pk").status == WebhookEventStatus.PROCESSED
    message.refresh_from_db()
    assert (message.text, message.attachments) == ("", [])
    assert message.deleted_at == datetime(2026, 1, 1, 0, 5, 0, tzinfo=UTC)
    assert "display_text_range" not in message.metadata
    assert message.metadata["tweet_id"] == MENTION_TWEET_ID  # ids stay: they say nothing
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "Deleted by its author"
    assert [(e.name, e.payload["id"]) for e in published] == [
        ("message.updated", message.pk),
        ("conversation.updated", conversation.pk),
    ]

    base = f"/api/v1/orgs/{brand.organization.slug}"
    api = api_client(agent)
    [shown] = api.get(f"{base}/conversations/{conversation.pk}/messages/").json()["results"]
    assert (shown["text"], shown["deleted_at"]) == ("", "2026-01-01T00:05:00Z")
    assert api.get(f"{base}/conversations/", {"q": "parcel"}).json()["results"] == []
    browser = Client()
    browser.force_login(agent.user)
    thread = browser.get(f"/o/{brand.organization.slug}/inbox/{conversation.pk}/")
    assert b"The customer deleted this post." in thread.content
    assert b"parcel" not in thread.content

    # Nor does the raw event we keep: the post is left out of it, the rest stays.
    raw = json.loads(bytes(WebhookEvent.all_tenants.earliest("pk").body))
    assert raw["tweet_create_events"] == []
    assert raw["for_user_id"] == BRAND_X_ID

    # The delete again, and the mention again (an X replay job): nothing comes back, and the
    # replayed raw event is emptied of the post too.
    assert post_webhook(client, "twitter", load("tweet_delete")).status_code == 200
    assert post_webhook(client, "twitter", load("mention")).status_code == 200
    message.refresh_from_db()
    assert (Message.all_tenants.count(), message.text) == (1, "")
    assert b"parcel" not in bytes(WebhookEvent.all_tenants.latest("pk").body)


def test_a_post_deleted_while_its_public_reply_waits_fails_the_reply_unsent(
    client: Client,
    brand: Channel,
    fake: FakePlatform,
    make_member: Callable[..., Membership],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The API refuses a public reply to a deleted post (409 post_deleted) or to no post
    (409 no_post, tests/inbox/api). A reply queued before the deletion is checked again when
    it is sent: it fails rather than go out as a post that answers nobody."""
    agent = make_member(Role.AGENT, organization=brand.organization)
    post_webhook(client, "twitter", load("mention"))
    fake.fail_next(1, status=503)  # the first attempt fails: the reply waits for its retry
    answer = reply(
        agent,
        Conversation.all_tenants.get(),
        "Sorry!",
        django_capture_on_commit_callbacks,
        visibility="public",
    )
    post_webhook(client, "twitter", load("tweet_delete"))

    make_deliveries_due()
    sweep_deliveries()

    answer.refresh_from_db()
    assert (answer.status, answer.failure_code) == (MessageStatus.FAILED, "post_deleted")
    assert [r.status for r in fake.sends()] == [503]  # no post on the brand's timeline
    url = f"/api/v1/orgs/{brand.organization.slug}/conversations/{answer.conversation_id}/messages/"
    again = api_client(agent).post(url, {"text": "Sorry!", "visibility": "public"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "post_deleted")


@pytest.mark.parametrize("delete_first", [True, False])
def test_a_post_deleted_in_the_same_delivery_is_never_shown(
    client: Client, brand: Channel, delete_first: bool
) -> None:
    response = post_webhook(client, "twitter", _mention_and_delete(delete_first=delete_first))

    assert response.status_code == 200
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.PROCESSED
    assert Message.all_tenants.exclude(text="").count() == 0
    assert DeletedPost.all_tenants.get().external_id == MENTION_TWEET_ID


def test_a_post_delivered_after_its_deletion_stores_nothing(client: Client, brand: Channel) -> None:
    assert post_webhook(client, "twitter", load("tweet_delete")).status_code == 200
    assert post_webhook(client, "twitter", load("mention")).status_code == 200

    assert _rows() == (0, 0, 0)
    assert DeletedPost.all_tenants.get().external_id == MENTION_TWEET_ID
    assert not any(b"parcel" in bytes(e.body) for e in WebhookEvent.all_tenants.all())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scrubbing_a_deleted_post_never_waits_on_a_busy_worker(
    client: Client, brand: Channel
) -> None:
    """Another worker holds a stored event that carries the post (it is replaying it). The
    deletion scrubs the raw events it can and goes on: waiting there could deadlock with
    that worker, which may be waiting for this post's lock."""
    for _ in range(2):  # the mention, and X's redelivery of it
        assert post_webhook(client, "twitter", load("mention")).status_code == 200
    first, redelivered = WebhookEvent.all_tenants.order_by("pk")
    holding, release = threading.Event(), threading.Event()
    gave_up: list[bool] = []

    def busy_worker() -> None:
        try:
            with transaction.atomic():
                WebhookEvent.all_tenants.select_for_update().get(pk=redelivered.pk)
                holding.set()
                gave_up.append(not release.wait(timeout=20))  # let go only when told
        finally:
            connection.close()

    worker = threading.Thread(target=busy_worker)
    worker.start()
    try:
        assert holding.wait(timeout=10)
        assert post_webhook(client, "twitter", load("tweet_delete")).status_code == 200
    finally:
        release.set()
        worker.join(timeout=30)

    assert gave_up == [False], "the deletion waited for the busy worker's event"
    assert WebhookEvent.all_tenants.latest("pk").status == WebhookEventStatus.PROCESSED
    assert b"parcel" not in bytes(WebhookEvent.all_tenants.get(pk=first.pk).body)
    assert Message.all_tenants.get().text == ""


BRAND_REPLY_ID = "1876500000000000777"  # own_tweet_reply.json: the brand answering Sam


def brand_reply_deleted() -> bytes:
    """What X sends most: the subscribed account (the brand) deleted one of its own posts."""
    item = {
        "status": {"id": BRAND_REPLY_ID, "user_id": BRAND_X_ID},
        "timestamp_ms": "1767226000000",
    }
    return json.dumps({"for_user_id": BRAND_X_ID, "tweet_delete_events": [item]}).encode()


@pytest.mark.parametrize("delete_first", [False, True])
def test_the_brands_deleted_reply_is_emptied_or_never_stored(
    client: Client, brand: Channel, delete_first: bool
) -> None:
    post_webhook(client, "twitter", load("mention"))
    bodies = [load("own_tweet_reply"), brand_reply_deleted()]
    for body in reversed(bodies) if delete_first else bodies:
        assert post_webhook(client, "twitter", body).status_code == 200

    assert set(WebhookEvent.all_tenants.values_list("status", flat=True)) == {
        WebhookEventStatus.PROCESSED
    }
    replies = Message.all_tenants.filter(direction="outbound")
    if delete_first:
        assert not replies.exists()  # the echo came after the delete: nothing to show
    else:
        [reply] = replies
        assert (reply.external_id, reply.text) == (BRAND_REPLY_ID, "")
        assert reply.deleted_at is not None
    assert Message.all_tenants.get(direction="inbound").text.startswith("@AcmeSupport")


def test_a_delete_touches_only_its_own_channels_post(client: Client, brand: Channel) -> None:
    other = ChannelFactory(kind="twitter", external_id="1290000000000000777")
    kept = MessageFactory(
        conversation=ConversationFactory(channel=other, customer__organization=other.organization),
        external_id=MENTION_TWEET_ID,
        text="same id, another brand",
    )

    assert post_webhook(client, "twitter", load("tweet_delete")).status_code == 200

    kept.refresh_from_db()
    assert (kept.text, kept.deleted_at) == ("same id, another brand", None)
    assert DeletedPost.all_tenants.get().organization_id == brand.organization_id


def test_a_revoked_authorization_marks_the_channel_for_reconnection(
    client: Client, brand: Channel
) -> None:
    assert post_webhook(client, "twitter", load("revoke")).status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert (event.status, event.channel_id) == (WebhookEventStatus.PROCESSED, brand.pk)
    brand.refresh_from_db()
    assert brand.status == ChannelStatus.ERROR
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize("name", ["typing"])
def test_events_we_do_not_act_on_are_stored_and_create_nothing(
    client: Client, brand: Channel, name: str
) -> None:
    response = post_webhook(client, "twitter", load(name))
    assert response.status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert bytes(event.body) == load(name)
    assert event.status == WebhookEventStatus.IGNORED
    assert event.channel_id == brand.pk
    assert _rows() == (0, 0, 0)


def test_events_for_an_unknown_account_are_stored_as_ignored(client: Client) -> None:
    ChannelFactory(kind="twitter", external_id="1290000000000000999")
    assert post_webhook(client, "twitter", load("dm_received_media")).status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.IGNORED
    assert event.channel_id is None
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"hello":"world"}'])
def test_signed_but_not_an_envelope_is_400_stored_as_failed(
    client: Client, brand: Channel, body: bytes
) -> None:
    assert post_webhook(client, "twitter", body).status_code == 400
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.FAILED
    assert bytes(event.body) == body
    assert _rows() == (0, 0, 0)


# ---- replying through the API, end to end against the fake X -------------------------------


def test_replies_go_out_publicly_then_privately_and_their_echoes_create_nothing(
    client: Client,
    brand: Channel,
    fake: FakePlatform,
    make_member: Callable[..., Membership],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = make_member(Role.AGENT, organization=brand.organization)
    post_webhook(client, "twitter", load("mention"))
    conversation = Conversation.all_tenants.get()
    url = f"/api/v1/orgs/{brand.organization.slug}/conversations/{conversation.pk}/messages/"
    api = api_client(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"text": "Sorry!"}, format="json")
    assert response.status_code == 201, response.json()
    [tweet] = fake.sends()
    assert tweet.path == "/2/tweets"
    assert tweet.json == {"text": "Sorry!", "reply": {"in_reply_to_tweet_id": MENTION_TWEET_ID}}
    assert tweet.headers["authorization"] == f"Bearer {BRAND_TOKEN}"
    public = Message.all_tenants.get(pk=response.json()["id"])
    assert (public.visibility, public.status) == ("public", MessageStatus.SENT)
    assert public.external_id == str(FAKE_FIRST_ID)
    assert public.author_id == agent.user_id

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            url, {"text": "Could you DM us?", "visibility": "private"}, format="json"
        )
    assert response.status_code == 201, response.json()
    dm = fake.sends()[-1]
    assert dm.path == f"/2/dm_conversations/with/{SAM}/messages"
    assert dm.json == {"text": "Could you DM us?"}
    assert dm.headers["authorization"] == f"Bearer {BRAND_TOKEN}"
    private = Message.all_tenants.get(pk=response.json()["id"])
    assert (private.visibility, private.status) == ("private", MessageStatus.SENT)
    assert private.external_id == str(FAKE_FIRST_ID + 1)  # the DM's dm_event_id

    # X then reports both sends through the webhook (sender / author == for_user_id).
    dm_echo = brand_dm_echo(
        event_id=private.external_id, text="Could you DM us?", created_ms=now_ms()
    )
    tweet_echo = brand_tweet_echo(
        tweet_id=public.external_id, text="Sorry!", in_reply_to=MENTION_TWEET_ID
    )
    assert post_webhook(client, "twitter", dm_echo).status_code == 200
    assert post_webhook(client, "twitter", tweet_echo).status_code == 200
    assert Message.all_tenants.count() == 3
    assert not Message.all_tenants.filter(sent_outside=True).exists()
    private.refresh_from_db()
    assert (private.status, private.external_id) == (MessageStatus.SENT, str(FAKE_FIRST_ID + 1))
    assert len(fake.sends()) == 2
