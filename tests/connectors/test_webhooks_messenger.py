"""Messenger webhooks through the real endpoint: signature, storage, processing, no doubles."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from connectors.fake_platform import FakePlatform
from connectors.messenger.fixtures import load
from connectors.simulation import messenger_messages
from connectors.tasks import sweep_webhook_events
from inbox.models import (
    Channel,
    Conversation,
    Customer,
    Message,
    MessageStatus,
    Organization,
    WebhookEvent,
    WebhookEventStatus,
)
from inbox.services import messages as messages_service
from tests.connectors.conftest import PAGE_ID, post_webhook
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def page() -> Channel:
    channel: Channel = ChannelFactory(kind="messenger", external_id=PAGE_ID, name="Acme")
    return channel


def _rows() -> tuple[int, int, int]:
    return (
        Customer.all_tenants.count(),
        Conversation.all_tenants.count(),
        Message.all_tenants.count(),
    )


def test_verification_handshake(client: Client) -> None:
    ok = client.get(
        "/webhooks/messenger/",
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200
    assert ok.content == b"1158201444"
    assert ok["Content-Type"].startswith("text/plain")
    wrong = client.get(
        "/webhooks/messenger/",
        {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403


def test_a_message_lands_on_the_customers_thread(client: Client, page: Channel) -> None:
    response = post_webhook(client, "messenger", load("text_message"))
    assert response.status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert bytes(event.body) == load("text_message")
    assert event.channel_id == page.pk
    message = Message.all_tenants.get()
    assert message.text == "Hi, my order #4512 has not arrived"
    assert message.external_id == "m_AbCdEf0123456789"
    assert message.direction == "inbound"
    assert message.sent_at.timestamp() == pytest.approx(1767225599.876)
    assert message.organization_id == page.organization_id
    page.refresh_from_db()
    assert page.last_event_at is not None


def test_escaped_unicode_is_verified_on_raw_bytes(client: Client, page: Channel) -> None:
    assert post_webhook(client, "messenger", load("escaped_unicode")).status_code == 200
    assert Message.all_tenants.get().text == "Grüße aus Köln"


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "sha1=abc"])
def test_a_bad_signature_is_403_and_stores_nothing(
    client: Client, page: Channel, header: str | None
) -> None:
    extra = {"X-Hub-Signature-256": header} if header else {}
    response = client.post(
        "/webhooks/messenger/",
        data=load("text_message"),
        content_type="application/json",
        headers=extra,
    )
    assert response.status_code == 403
    assert WebhookEvent.all_tenants.count() == 0
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"object":"page"}', b'{"entry":[]}'])
def test_signed_but_not_an_envelope_is_400_stored_as_failed(
    client: Client, page: Channel, body: bytes
) -> None:
    assert post_webhook(client, "messenger", body).status_code == 400
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.FAILED
    assert bytes(event.body) == body
    assert _rows() == (0, 0, 0)


def test_events_for_an_unknown_page_are_stored_as_ignored(client: Client) -> None:
    assert post_webhook(client, "messenger", load("text_message")).status_code == 200
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.IGNORED
    assert _rows() == (0, 0, 0)


def test_another_object_is_acknowledged_and_ignored(client: Client, page: Channel) -> None:
    assert post_webhook(client, "messenger", load("instagram_object")).status_code == 200
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.IGNORED


def test_a_routing_error_still_stores_the_post_before_failing(
    page: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("routing hiccup")

    monkeypatch.setattr("connectors.ingest.channel_routes", broken)
    client = Client(raise_request_exception=False)
    assert post_webhook(client, "messenger", load("text_message")).status_code == 500
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.RECEIVED  # the sweep re-drives it
    assert bytes(event.body) == load("text_message")
    monkeypatch.undo()
    call_command("replay_webhooks", "--since", "1h")
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.PROCESSED
    assert Message.all_tenants.count() == 1


def test_redelivered_batches_create_each_message_once(client: Client, page: Channel) -> None:
    other = ChannelFactory(kind="messenger", external_id="104857600654321")
    payload = json.loads(load("batch"))
    rng = random.Random(7)
    for _ in range(3):
        for entry in payload["entry"]:
            rng.shuffle(entry["messaging"])
        rng.shuffle(payload["entry"])
        body = json.dumps(payload, separators=(",", ":")).encode()
        assert post_webhook(client, "messenger", body).status_code == 200
    inbound = Message.all_tenants.filter(direction="inbound")
    assert sorted(str(i) for i in inbound.values_list("external_id", flat=True)) == [
        "m_Batch_A1",
        "m_Batch_B1",
        "m_Batch_B3",
        "m_Batch_B4",
    ]
    assert inbound.get(external_id="m_Batch_B1").text == "Menu"
    assert inbound.get(external_id="m_Batch_B4").metadata["standby"] is True
    assert {m.organization_id for m in inbound.filter(channel=other)} == {other.organization_id}
    assert Conversation.all_tenants.count() == 2


def test_echo_of_our_send_creates_nothing_and_marks_it_sent(client: Client, page: Channel) -> None:
    identity = IdentityFactory(
        customer__organization=page.organization, channel=page, platform_user_id="6022448899123456"
    )
    conversation = ConversationFactory(customer=identity.customer, channel=page)
    ours = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=MessageStatus.QUEUED,
        external_id=None,
        text="Sorry about that! Could you send your order number?",
    )
    body = load("echo_ours").replace(b"parley:out:42", f"parley:out:{ours.pk}".encode())
    assert post_webhook(client, "messenger", body).status_code == 200
    ours.refresh_from_db()
    assert ours.external_id == "m_EchoEcho33333333"
    assert ours.status == MessageStatus.SENT
    assert Message.all_tenants.count() == 1


def test_echo_from_another_app_is_an_outbound_message_sent_outside(
    client: Client, page: Channel
) -> None:
    post_webhook(client, "messenger", load("text_message"))
    assert post_webhook(client, "messenger", load("echo_other_app")).status_code == 200
    echo = Message.all_tenants.get(direction="outbound")
    assert echo.sent_outside
    assert echo.status == MessageStatus.SENT
    assert echo.author_id is None
    assert echo.conversation_id == Message.all_tenants.get(direction="inbound").conversation_id
    assert Conversation.all_tenants.get().waiting_since is None


def test_delivery_and_read_watermarks_raise_outbound_statuses(
    client: Client, page: Channel
) -> None:
    identity = IdentityFactory(
        customer__organization=page.organization, channel=page, platform_user_id="6022448899123456"
    )
    conversation = ConversationFactory(customer=identity.customer, channel=page)
    at = datetime.fromtimestamp(1767225699, tz=UTC)
    before = MessageFactory(
        conversation=conversation, direction="outbound", status=MessageStatus.SENT, sent_at=at
    )
    after = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=MessageStatus.SENT,
        sent_at=at + timedelta(hours=1),
    )
    post_webhook(client, "messenger", load("delivery"))
    before.refresh_from_db()
    after.refresh_from_db()
    assert (before.status, after.status) == (MessageStatus.DELIVERED, MessageStatus.SENT)
    post_webhook(client, "messenger", load("read"))
    post_webhook(client, "messenger", load("delivery"))  # late delivery never lowers a read
    before.refresh_from_db()
    assert before.status == MessageStatus.READ


def test_postback_with_referral_records_where_the_customer_came_from(
    client: Client, page: Channel
) -> None:
    post_webhook(client, "messenger", load("postback_referral"))
    message = Message.all_tenants.get()
    assert message.text == "Get Started"
    assert message.metadata["postback"] == "GET_STARTED"
    conversation = Conversation.all_tenants.get()
    assert conversation.source["referral"]["ref"] == "site-header.cust-8812.sig-5f2a"


def test_referral_on_an_existing_thread_reopens_the_window(client: Client, page: Channel) -> None:
    post_webhook(client, "messenger", load("text_message"))
    post_webhook(client, "messenger", load("referral"))
    conversation = Conversation.all_tenants.get()
    assert conversation.last_inbound_at is not None
    assert conversation.last_inbound_at.timestamp() == pytest.approx(1767225900.0)
    assert conversation.source["referral"]["ref"] == "order-page.cust-8812.sig-5f2a"


def test_unknown_and_malformed_items_are_stored_never_a_500(client: Client, page: Channel) -> None:
    for name in ("unknown_event", "malformed_items"):
        assert post_webhook(client, "messenger", load(name)).status_code == 200


def test_a_processing_error_keeps_the_event_for_retry_and_replay(
    client: Client, page: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("connectors.ingest.messages_receive", broken)
    assert post_webhook(client, "messenger", load("text_message")).status_code == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.FAILED
    assert "database hiccup" in event.error
    assert event.next_attempt_at is not None
    assert event.attempts == 1
    monkeypatch.undo()
    call_command("replay_webhooks", "--failed")
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert Message.all_tenants.count() == 1
    call_command("replay_webhooks", "--since", "1h")
    assert Message.all_tenants.count() == 1


def test_the_sweep_re_drives_due_failures(
    client: Client, page: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = messages_service.messages_receive

    def flaky(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first time fails")
        return original(**kwargs)

    monkeypatch.setattr("connectors.ingest.messages_receive", flaky)
    post_webhook(client, "messenger", load("text_message"))
    assert sweep_webhook_events() == 0  # not due yet
    WebhookEvent.all_tenants.update(next_attempt_at=timezone.now())
    assert sweep_webhook_events() == 1
    assert WebhookEvent.all_tenants.get().status == WebhookEventStatus.PROCESSED
    assert Message.all_tenants.count() == 1
    assert Organization.objects.count() == 1


def test_a_new_customer_gets_their_profile_after_the_message(
    client: Client, page: Channel, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with FakePlatform() as fake:
        settings.META_GRAPH_URL = fake.graph_url
        with django_capture_on_commit_callbacks(execute=True):
            assert post_webhook(client, "messenger", load("text_message")).status_code == 200
        [lookup] = [r for r in fake.requests if r.method == "GET"]
        assert lookup.path == "/v25.0/6022448899123456"
    customer = Customer.all_tenants.get()
    assert customer.display_name == "Fake Customer 3456"
    assert customer.avatar_url.endswith("/avatars/6022448899123456.png")


def test_a_failing_profile_lookup_never_blocks_the_message(
    client: Client, page: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(client, "messenger", load("text_message")).status_code == 200
    assert Message.all_tenants.count() == 1
    assert Customer.all_tenants.get().display_name == ""


def test_a_replayed_referral_changes_nothing(client: Client, page: Channel) -> None:
    post_webhook(client, "messenger", load("referral"))
    first = Conversation.all_tenants.get()
    Conversation.all_tenants.filter(pk=first.pk).update(
        status="resolved", resolved_at=first.created_at
    )
    call_command("replay_webhooks", "--since", "1h")
    assert Conversation.all_tenants.count() == 1, "no new empty conversation from a replay"


def test_one_bad_item_does_not_hold_back_the_rest_of_the_batch(
    client: Client, page: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = ChannelFactory(kind="messenger", external_id="104857600654321")
    original = messages_service._inbound_message

    def picky(organization: Any, channel: Any, conversation: Any, item: Any) -> Any:
        # Both the bulk path and the one-by-one fallback build their rows here.
        if item.external_id == "m_Batch_A1":
            raise RuntimeError("this one item is broken")
        return original(organization, channel, conversation, item)

    monkeypatch.setattr("inbox.services.messages._inbound_message", picky)
    post_webhook(client, "messenger", load("batch"))
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.FAILED
    assert "this one item is broken" in event.error
    assert Message.all_tenants.filter(channel=other, direction="inbound").count() == 3
    monkeypatch.undo()
    call_command("replay_webhooks", "--failed")
    assert Message.all_tenants.filter(external_id="m_Batch_A1").count() == 1


def _reaction(psid: str, at: datetime) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(at.timestamp() * 1000),
        "reaction": {"mid": "m_earlier", "action": "react", "reaction": "like", "emoji": "+1"},
    }


def _envelope(*items: dict[str, Any]) -> bytes:
    return messenger_messages(PAGE_ID, list(items))


def test_a_reaction_reopens_the_reply_window(client: Client, page: Channel) -> None:
    """PROTOCOLS 9: a reaction is a customer action; the 24-hour window runs from it."""
    now = timezone.now().replace(microsecond=0)
    written = now - timedelta(hours=30)
    message = {
        "sender": {"id": "7001"},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(written.timestamp() * 1000),
        "message": {"mid": "m_earlier", "text": "Any news?"},
    }
    assert post_webhook(client, "messenger", _envelope(message)).status_code == 200
    conversation = Conversation.all_tenants.get()
    assert messages_service.reply_window(conversation).state != "open"

    reacted = now - timedelta(minutes=5)
    assert (
        post_webhook(client, "messenger", _envelope(_reaction("7001", reacted))).status_code == 200
    )
    conversation.refresh_from_db()
    assert conversation.last_inbound_at == reacted
    assert messages_service.reply_window(conversation).state == "open"
    assert Message.all_tenants.count() == 1, "a reaction is not a message"

    # A replayed or older reaction changes nothing; a stranger's starts no conversation.
    post_webhook(client, "messenger", _envelope(_reaction("7001", reacted - timedelta(hours=1))))
    post_webhook(client, "messenger", _envelope(_reaction("9999", now)))
    conversation.refresh_from_db()
    assert conversation.last_inbound_at == reacted
    assert Conversation.all_tenants.count() == 1
    assert set(WebhookEvent.all_tenants.values_list("status", flat=True)) == {
        WebhookEventStatus.PROCESSED
    }
