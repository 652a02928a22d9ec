"""Replies go out through the outbox task: retried on 429/5xx, failed at once on permanent
errors, never sent twice. HTTP goes to a real local fake of the platforms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.fake_platform import FakePlatform
from inbox.events import Event
from inbox.models import (
    Channel,
    ChannelStatus,
    Conversation,
    Delivery,
    DeliveryStatus,
    Membership,
    Message,
    MessageDirection,
    MessageStatus,
)
from inbox.services.channels import channel_update
from inbox.services.delivery import MAX_ATTEMPTS, delivery_claim, delivery_sent
from inbox.tasks import deliver_message, sweep_deliveries
from tests.conftest import api_client
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory, MessageFactory
from tests.support.outbox import make_deliveries_due, reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings: Any) -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        settings.META_GRAPH_URL = platform.graph_url
        settings.TWITTER_API_URL = platform.url
        yield platform


@pytest.fixture
def conversation(agent: Membership) -> Conversation:
    page: Channel = ChannelFactory(
        organization=agent.organization,
        kind="messenger",
        external_id="104857600123456",
        credentials={"page_access_token": "EAA-page-token"},
    )
    identity = IdentityFactory(
        customer__organization=agent.organization, channel=page, platform_user_id="psid-42"
    )
    conv: Conversation = ConversationFactory(
        customer=identity.customer,
        channel=page,
        last_inbound_at=timezone.now() - timedelta(minutes=3),
    )
    return conv


def test_a_reply_is_sent_with_our_id_in_the_metadata(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    message = reply(agent, conversation, "On it!", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.external_id is not None
    assert message.external_id.startswith("m_")
    [sent] = fake.sends()
    assert sent.path == "/v25.0/104857600123456/messages"
    assert sent.headers["authorization"] == "Bearer EAA-page-token"
    assert sent.json == {
        "recipient": {"id": "psid-42"},
        "messaging_type": "RESPONSE",
        "message": {"text": "On it!", "metadata": f"parley:out:{message.pk}"},
    }
    assert Delivery.all_tenants.get(message=message).status == DeliveryStatus.DONE


def test_server_errors_retry_with_backoff_and_send_once(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(2, status=500)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    delivery = Delivery.all_tenants.get(message=message)
    first_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 0 < first_wait < 4, "the first retry comes within seconds"
    assert sweep_deliveries() == 0, "not due yet"
    make_deliveries_due()
    assert sweep_deliveries() == 1
    make_deliveries_due()
    assert sweep_deliveries() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len(fake.sends()) == 3
    assert [r.status for r in fake.sends()] == [500, 500, 200]
    make_deliveries_due()
    assert sweep_deliveries() == 0
    assert deliver_message(agent.organization_id, delivery.pk) == "skipped"
    assert len(fake.sends()) == 3


def test_rate_limit_waits_at_least_retry_after(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(1, status=429, retry_after=30)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    delivery = Delivery.all_tenants.get(message=message)
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() >= 29


@pytest.mark.parametrize(
    ("meta_code", "subcode", "expected"),
    [(551, None, "551"), (10, 2018278, "10/2018278"), (190, None, "190"), (1, 99, "1/99")],
)
def test_permanent_errors_fail_at_once_with_a_readable_reason(  # noqa: PLR0917  # fixtures
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
    meta_code: int,
    subcode: int | None,
    expected: str,
) -> None:
    fake.fail_next(1, status=400, meta_code=meta_code, meta_subcode=subcode)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.failure_code == expected
    assert message.failure_reason
    assert len(fake.sends()) == 1
    assert Delivery.all_tenants.get(message=message).status == DeliveryStatus.FAILED
    conversation.channel.refresh_from_db()
    expected_status = ChannelStatus.ERROR if meta_code == 190 else ChannelStatus.ACTIVE
    assert conversation.channel.status == expected_status, "only a bad token needs reconnecting"


def test_new_credentials_reconnect_a_channel_whose_token_failed(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(1, status=400, meta_code=190)
    reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    channel = Channel.all_tenants.get(pk=conversation.channel_id)
    assert channel.status == ChannelStatus.ERROR
    channel_update(
        organization=channel.organization,
        channel=channel,
        credentials={"page_access_token": "a-fresh-token"},
    )
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ACTIVE
    assert (channel.credentials or {}).get("page_access_token") == "a-fresh-token"


def test_gives_up_after_the_last_attempt(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(MAX_ATTEMPTS, status=503)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    for _ in range(MAX_ATTEMPTS - 1):
        make_deliveries_due()
        sweep_deliveries()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "gave up" in message.failure_reason
    assert len(fake.sends()) == MAX_ATTEMPTS


def test_a_window_that_closed_while_queued_fails_without_a_call(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(1, status=500)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    Conversation.all_tenants.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(days=2)
    )
    make_deliveries_due()
    sweep_deliveries()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.failure_code == "window_closed"
    assert len(fake.sends()) == 1


def test_a_channel_paused_while_a_reply_waits_fails_it_without_a_call(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(1, status=500)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    Channel.all_tenants.filter(pk=conversation.channel_id).update(status="paused")
    make_deliveries_due()
    sweep_deliveries()
    message.refresh_from_db()
    assert (message.status, message.failure_code) == (MessageStatus.FAILED, "channel_paused")
    assert "retry once it is resumed" in message.failure_reason
    assert len(fake.sends()) == 1  # only the attempt before the pause

    Channel.all_tenants.filter(pk=conversation.channel_id).update(status="active")
    url = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/messages/"
    with django_capture_on_commit_callbacks(execute=True):
        retried = api_client(agent).post(f"{url}{message.pk}/retry/")
    assert retried.status_code == 200, retried.content
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len(fake.sends()) == 2


def test_human_agent_tag_between_one_and_seven_days(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    Channel.all_tenants.filter(pk=conversation.channel_id).update(
        settings={"human_agent_approved": True}
    )
    Conversation.all_tenants.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(days=3)
    )
    reply(agent, conversation, "Following up", django_capture_on_commit_callbacks)
    [sent] = fake.sends()
    assert sent.json["messaging_type"] == "MESSAGE_TAG"
    assert sent.json["tag"] == "HUMAN_AGENT"


def test_two_workers_never_send_the_same_message(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(1, status=500)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    delivery = Delivery.all_tenants.get(message=message)
    make_deliveries_due()
    results = [deliver_message(agent.organization_id, delivery.pk) for _ in range(3)]
    assert results == ["sent", "skipped", "skipped"]
    assert len(fake.sends()) == 2


def test_a_failed_reply_can_be_retried_by_the_agent(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake.fail_next(1, status=400, meta_code=551)
    message = reply(agent, conversation, "Hello", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    url = (
        f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}"
        f"/messages/{message.pk}/retry/"
    )
    client = api_client(agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.failure_code == ""
    assert len(fake.sends()) == 2
    again = client.post(url)
    assert again.status_code == 409, "only a failed reply can be retried"


def test_move_to_dm_replies_publicly_with_the_dm_link_then_goes_private(
    agent: Membership, fake: FakePlatform, django_capture_on_commit_callbacks: Any
) -> None:
    brand = ChannelFactory(
        organization=agent.organization, kind="twitter", external_id="1290000000000000001"
    )
    identity = IdentityFactory(
        customer__organization=agent.organization, channel=brand, platform_user_id="987654321"
    )
    conv = ConversationFactory(customer=identity.customer, channel=brand)
    tweet = MessageFactory(
        conversation=conv, visibility="public", external_id="1876500000000000555"
    )
    Conversation.all_tenants.filter(pk=conv.pk).update(default_visibility="public")
    base = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conv.pk}"
    client = api_client(agent)
    with django_capture_on_commit_callbacks(execute=True):
        moved = client.post(f"{base}/move-to-dm/", {"text": "Sorry! DM us please:"}, format="json")
    assert moved.status_code == 201, moved.json()
    assert moved.json()["visibility"] == "public"
    [public] = fake.sends()
    assert public.path == "/2/tweets"
    assert public.json["reply"] == {"in_reply_to_tweet_id": tweet.external_id}
    assert public.json["text"].startswith("Sorry! DM us please: https://twitter.com/messages/")
    assert "recipient_id=1290000000000000001" in public.json["text"]
    with django_capture_on_commit_callbacks(execute=True):
        private = client.post(f"{base}/messages/", {"text": "Order number?"}, format="json")
    assert private.json()["visibility"] == "private"
    assert fake.sends()[-1].path == "/2/dm_conversations/with/987654321/messages"


def test_move_to_dm_is_refused_on_messenger(agent: Membership, conversation: Conversation) -> None:
    url = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/move-to-dm/"
    response = api_client(agent).post(url, {}, format="json")
    assert response.status_code == 400


def test_an_unexpected_error_backs_off_and_never_blocks_other_deliveries(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("inbox.tasks.delivery_context", broken)
    stuck = reply(agent, conversation, "first", django_capture_on_commit_callbacks)
    delivery = Delivery.all_tenants.get(message=stuck)
    assert delivery.claimed_until is None, "the claim is released"
    assert delivery.next_attempt_at > timezone.now(), "with a backoff"
    monkeypatch.undo()
    healthy = reply(agent, conversation, "second", django_capture_on_commit_callbacks)
    healthy.refresh_from_db()
    assert healthy.status == MessageStatus.SENT


def test_a_timeout_waits_for_the_echo_before_any_resend(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("connectors.messenger.client.READ_TIMEOUT", 0.2)
    fake.delay_next(1, 1.0)
    message = reply(agent, conversation, "slow", django_capture_on_commit_callbacks)
    delivery = Delivery.all_tenants.get(message=message)
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert "timeout" in delivery.last_error
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() >= 55


def _queued_reply(agent: Membership, conversation: Conversation, text: str) -> Delivery:
    """A reply stored with its outbox row, its delivery task not run yet."""
    url = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/messages/"
    response = api_client(agent).post(url, {"text": text}, format="json")
    assert response.status_code == 201, response.json()
    return Delivery.all_tenants.get(message_id=response.json()["id"])


@pytest.mark.postgres
def test_one_delivery_attempt_is_two_statements_on_postgresql(  # noqa: PLR0917  # fixtures
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    published: list[Event],
    django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation.assignee = agent.user
    conversation.save(update_fields=["assignee"])
    delivery = _queued_reply(agent, conversation, "On it!")
    # One statement claims the delivery (committed before the call) and loads what the send
    # needs; one records the message sent and the delivery done and reads the event's audience.
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(2):
        assert deliver_message(agent.organization_id, delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.claimed_until) == (
        DeliveryStatus.DONE,
        1,
        None,
    )
    message = Message.all_tenants.get(pk=delivery.message_id)
    [sent] = fake.sends()
    assert sent.json["recipient"] == {"id": "psid-42"}
    assert (message.status, message.external_id) == (MessageStatus.SENT, "m_fake_1")
    assert message.sent_at is not None
    [event] = [e for e in published if e.name == "message.updated"]
    assert event.payload["status"] == MessageStatus.SENT
    assert event.assignees == (agent.user_id,)


def test_a_receipt_that_overtook_the_send_response_keeps_its_status(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    published: list[Event],
    django_capture_on_commit_callbacks: Any,
) -> None:
    delivery = _queued_reply(agent, conversation, "Hello")
    claimed = delivery_claim(
        organization_id=agent.organization_id, delivery_id=delivery.pk, now=timezone.now()
    )
    assert claimed is not None
    # The echo and the delivery receipt arrive while the Send API's answer is in flight.
    Message.all_tenants.filter(pk=delivery.message_id).update(
        status=MessageStatus.DELIVERED, external_id="m_from_echo"
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery_sent(
            organization=agent.organization,
            delivery=claimed,
            external_id="m_from_echo",
            sent_at=timezone.now(),
        )
    message = Message.all_tenants.get(pk=delivery.message_id)
    assert (message.status, message.external_id) == (MessageStatus.DELIVERED, "m_from_echo")
    assert Delivery.all_tenants.get(pk=delivery.pk).status == DeliveryStatus.DONE
    assert [e.payload["status"] for e in published if e.name == "message.updated"] == [
        MessageStatus.DELIVERED
    ]


def test_an_echo_stored_as_its_own_row_is_merged_into_the_sent_reply(
    agent: Membership,
    conversation: Conversation,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    delivery = _queued_reply(agent, conversation, "Hello")
    claimed = delivery_claim(
        organization_id=agent.organization_id, delivery_id=delivery.pk, now=timezone.now()
    )
    assert claimed is not None
    echo = MessageFactory(
        conversation=conversation,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.SENT,
        external_id="1876543210987650003",
        sent_outside=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery_sent(
            organization=agent.organization,
            delivery=claimed,
            external_id="1876543210987650003",
            sent_at=timezone.now(),
        )
    assert not Message.all_tenants.filter(pk=echo.pk).exists()
    message = Message.all_tenants.get(pk=delivery.message_id)
    assert (message.status, message.external_id) == (MessageStatus.SENT, "1876543210987650003")
    assert Delivery.all_tenants.get(pk=delivery.pk).status == DeliveryStatus.DONE
