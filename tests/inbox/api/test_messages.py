"""/orgs/<slug>/conversations/<id>/messages/: the thread, replies, notes and the reply window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inbox.models import Channel, Conversation, Delivery, Membership, Message, Role
from inbox.services.messages import message_receive
from inbox.tenancy import tenant_scope
from tests.conftest import api_client
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

MESSAGE_FIELDS = {
    "id",
    "conversation",
    "direction",
    "kind",
    "visibility",
    "text",
    "attachments",
    "status",
    "failure_code",
    "failure_reason",
    "external_id",
    "author",
    "sent_at",
    "created_at",
}


def url(membership: Membership, conversation_id: int) -> str:
    return f"/api/v1/orgs/{membership.organization.slug}/conversations/{conversation_id}/messages/"


def conversation_on(membership: Membership, kind: str = "messenger", **kwargs: Any) -> Conversation:
    channel = ChannelFactory(organization=membership.organization, kind=kind)
    conversation: Conversation = ConversationFactory(
        customer__organization=membership.organization, channel=channel, **kwargs
    )
    return conversation


def rows_of(conversation: Conversation) -> list[Message]:
    return list(Message.all_tenants.filter(conversation=conversation).order_by("id"))


def post(membership: Membership, conversation_id: int, data: dict[str, Any]):
    return api_client(membership).post(url(membership, conversation_id), data, "json")


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    return body


# ---- the thread -------------------------------------------------------------------------------


def test_list_is_in_platform_time_order_not_insertion_order(agent):
    conversation = conversation_on(agent)
    now = timezone.now()
    second = MessageFactory(conversation=conversation, sent_at=now - timedelta(minutes=5))
    third = MessageFactory(conversation=conversation, sent_at=now - timedelta(minutes=1))
    # Delivered late by the platform: stored last, but sent first.
    first = MessageFactory(conversation=conversation, sent_at=now - timedelta(minutes=30))
    r = api_client(agent).get(url(agent, conversation.pk))
    assert r.status_code == 200, r.content
    body = r.json()
    assert [m["id"] for m in body["results"]] == [first.pk, second.pk, third.pk]
    assert body["next"] is None
    assert body["previous"] is None


def test_list_rows_have_the_contract_fields(agent):
    conversation = conversation_on(agent)
    inbound = MessageFactory(conversation=conversation, text="Hi there", external_id="mid.1")
    row = api_client(agent).get(url(agent, conversation.pk)).json()["results"][0]
    assert row.keys() >= MESSAGE_FIELDS
    assert row["id"] == inbound.pk
    assert row["conversation"] == conversation.pk
    assert row["direction"] == "inbound"
    assert row["kind"] == "message"
    assert row["status"] == "received"
    assert row["text"] == "Hi there"
    assert row["external_id"] == "mid.1"
    assert row["author"] is None
    assert parse_datetime(row["sent_at"]) == inbound.sent_at


def test_list_pages_walk_the_whole_thread(agent):
    conversation = conversation_on(agent)
    now = timezone.now()
    messages = [
        MessageFactory(conversation=conversation, sent_at=now - timedelta(minutes=10 - i))
        for i in range(5)
    ]
    client = api_client(agent)
    seen: list[int] = []
    link: str | None = f"{url(agent, conversation.pk)}?page_size=2"
    while link is not None:
        body = client.get(link).json()
        seen.extend(m["id"] for m in body["results"])
        link = body["next"]
        assert link is None or link.startswith("http://testserver/")
        assert len(seen) <= 5
    assert seen == [m.pk for m in messages]


def test_list_shows_only_this_conversations_messages(agent):
    conversation = conversation_on(agent)
    other = conversation_on(agent)
    mine = MessageFactory(conversation=conversation)
    MessageFactory(conversation=other)
    body = api_client(agent).get(url(agent, conversation.pk)).json()
    assert [m["id"] for m in body["results"]] == [mine.pk]


def test_foreign_conversation_messages_is_404_not_empty(agent):
    foreign = ConversationFactory()
    MessageFactory(conversation=foreign, text="not for you")
    r = api_client(agent).get(url(agent, foreign.pk))
    assert_problem(r, 404)
    assert b"not for you" not in r.content


@pytest.mark.parametrize("pk", ["0", "abc", "987654321"])
def test_missing_conversation_messages_is_404(agent, pk):
    assert_problem(
        api_client(agent).get(
            f"/api/v1/orgs/{agent.organization.slug}/conversations/{pk}/messages/"
        ),
        404,
    )


# ---- replies ----------------------------------------------------------------------------------


def test_reply_is_a_queued_outbound_message(agent):
    conversation = conversation_on(agent)
    before = timezone.now()
    r = post(agent, conversation.pk, {"text": "We have you booked for Friday."})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body.keys() >= MESSAGE_FIELDS
    assert isinstance(body["id"], int)
    assert body["conversation"] == conversation.pk
    assert body["direction"] == "outbound"
    assert body["kind"] == "message"
    assert body["visibility"] == "private"
    assert body["text"] == "We have you booked for Friday."
    assert body["attachments"] == []
    assert body["status"] == "queued"
    assert body["failure_code"] == ""
    assert body["failure_reason"] == ""
    assert body["external_id"] is None
    assert body["author"] == agent.user_id
    sent_at = parse_datetime(body["sent_at"])
    created_at = parse_datetime(body["created_at"])
    assert sent_at is not None
    assert created_at is not None
    assert before <= sent_at <= timezone.now()
    assert before <= created_at <= timezone.now()
    for key in ("direction", "kind", "visibility", "status"):
        assert body[key] == body[key].lower()

    (stored,) = rows_of(conversation)
    assert stored.pk == body["id"]
    assert stored.status == "queued"
    assert stored.organization_id == agent.organization_id
    assert stored.channel_id == conversation.channel_id


def test_reply_updates_the_conversation_row(agent):
    conversation = conversation_on(agent, waiting_since=timezone.now() - timedelta(minutes=4))
    post(agent, conversation.pk, {"text": "On it!"})
    client = api_client(agent)
    row = client.get(
        f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/"
    ).json()
    assert row["last_message"] == "On it!"
    assert row["waiting_since"] is None
    thread = client.get(url(agent, conversation.pk)).json()["results"]
    assert [m["text"] for m in thread] == ["On it!"]


def test_repeated_idempotency_key_returns_the_first_message(agent):
    conversation = conversation_on(agent)
    first = post(agent, conversation.pk, {"text": "Hello", "idempotency_key": "abc-1"})
    again = post(agent, conversation.pk, {"text": "Hello", "idempotency_key": "abc-1"})
    changed = post(agent, conversation.pk, {"text": "Hello?", "idempotency_key": "abc-1"})
    assert first.status_code == 201, first.content
    assert again.status_code in (200, 201)
    assert again.json() == first.json()
    assert changed.json()["id"] == first.json()["id"]
    assert changed.json()["text"] == "Hello"
    assert len(rows_of(conversation)) == 1


def test_idempotency_key_reused_on_another_conversation_is_409(agent):
    conversation = conversation_on(agent)
    other = conversation_on(agent)
    assert post(agent, conversation.pk, {"text": "Hi", "idempotency_key": "k"}).status_code == 201
    assert_problem(post(agent, other.pk, {"text": "Hi", "idempotency_key": "k"}), 409)
    assert rows_of(other) == []


def test_different_idempotency_keys_make_different_messages(agent):
    conversation = conversation_on(agent)
    a = post(agent, conversation.pk, {"text": "Hello", "idempotency_key": "a"}).json()
    b = post(agent, conversation.pk, {"text": "Hello", "idempotency_key": "b"}).json()
    c = post(agent, conversation.pk, {"text": "Hello"}).json()
    assert len({a["id"], b["id"], c["id"]}) == 3
    assert len(rows_of(conversation)) == 3


@pytest.mark.parametrize("last_inbound", [timedelta(hours=30), None])
def test_reply_in_a_closed_window_is_409_and_stores_nothing(agent, last_inbound):
    inbound_at = None if last_inbound is None else timezone.now() - last_inbound
    conversation = conversation_on(agent, last_inbound_at=inbound_at, last_message_preview="Hi")
    r = post(agent, conversation.pk, {"text": "Sorry for the wait", "idempotency_key": "late"})
    body = assert_problem(r, 409)
    assert body["code"] == "window_closed"
    assert "window_closed_at" in body
    if inbound_at is None:
        assert body["window_closed_at"] is None
    else:
        assert parse_datetime(body["window_closed_at"]) == inbound_at + timedelta(hours=24)
    assert rows_of(conversation) == []
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "Hi"


def test_a_reply_on_a_paused_channel_is_409_and_stores_nothing_but_notes_still_go(
    agent, make_member
):
    conversation = conversation_on(agent, last_inbound_at=timezone.now(), last_message_preview="Hi")
    admin = make_member(Role.ADMIN, organization=agent.organization)
    channel_url = f"/api/v1/orgs/{agent.organization.slug}/channels/{conversation.channel_id}/"
    paused = api_client(admin).patch(channel_url, {"status": "paused"}, "json")
    assert paused.status_code == 200, paused.content

    body = assert_problem(post(agent, conversation.pk, {"text": "On it"}), 409)
    assert body["code"] == "channel_paused"
    assert rows_of(conversation) == []
    assert Delivery.all_tenants.count() == 0

    note = post(agent, conversation.pk, {"text": "Paused for the migration", "kind": "note"})
    assert note.status_code == 201, note.content
    assert api_client(admin).patch(channel_url, {"status": "active"}, "json").status_code == 200
    assert post(agent, conversation.pk, {"text": "On it"}).status_code == 201


def test_a_failed_reply_cannot_be_retried_while_its_channel_is_paused(agent):
    conversation = conversation_on(agent, last_inbound_at=timezone.now())
    failed = MessageFactory(
        conversation=conversation, direction="outbound", status="failed", failure_code="500"
    )
    Channel.all_tenants.filter(pk=conversation.channel_id).update(status="paused")
    retry = api_client(agent).post(f"{url(agent, conversation.pk)}{failed.pk}/retry/")

    assert assert_problem(retry, 409)["code"] == "channel_paused"
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_human_agent_window_allows_a_reply(agent):
    channel = ChannelFactory(
        organization=agent.organization, kind="messenger", settings={"human_agent_approved": True}
    )
    conversation = ConversationFactory(
        customer__organization=agent.organization,
        channel=channel,
        last_inbound_at=timezone.now() - timedelta(days=3),
    )
    r = post(agent, conversation.pk, {"text": "Following up"})
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "queued"


def test_note_is_accepted_in_a_closed_window_and_never_queued(agent):
    conversation = conversation_on(agent, last_inbound_at=timezone.now() - timedelta(days=30))
    r = post(agent, conversation.pk, {"text": "Customer called; refund approved.", "kind": "note"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body.keys() >= MESSAGE_FIELDS
    assert body["kind"] == "note"
    assert body["status"] != "queued"
    assert body["visibility"] == "private"
    assert body["author"] == agent.user_id
    assert body["external_id"] is None
    (stored,) = rows_of(conversation)
    assert stored.kind == "note"
    assert stored.status != "queued"


@pytest.mark.parametrize("kind", ["messenger", "twitter"])
def test_note_in_an_open_window_is_not_queued_either(agent, kind):
    conversation = conversation_on(agent, kind=kind)
    r = post(agent, conversation.pk, {"text": "internal", "kind": "note"})
    assert r.status_code == 201
    assert r.json()["kind"] == "note"
    assert r.json()["status"] != "queued"


def test_note_idempotency(agent):
    conversation = conversation_on(agent)
    first = post(agent, conversation.pk, {"text": "n", "kind": "note", "idempotency_key": "n1"})
    again = post(agent, conversation.pk, {"text": "n", "kind": "note", "idempotency_key": "n1"})
    assert again.json()["id"] == first.json()["id"]
    assert len(rows_of(conversation)) == 1


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
@pytest.mark.parametrize("kind", ["message", "note"])
def test_empty_text_is_400(agent, text, kind):
    conversation = conversation_on(agent)
    body = assert_problem(post(agent, conversation.pk, {"text": text, "kind": kind}), 400)
    assert "text" in body["errors"]
    assert rows_of(conversation) == []


def test_missing_text_is_400(agent):
    conversation = conversation_on(agent)
    body = assert_problem(post(agent, conversation.pk, {}), 400)
    assert "text" in body["errors"]


def test_text_over_the_platform_limit_is_400(agent):
    conversation = conversation_on(agent, kind="messenger")
    body = assert_problem(post(agent, conversation.pk, {"text": "a" * 2001}), 400)
    assert "text" in body["errors"]
    assert post(agent, conversation.pk, {"text": "a" * 2000}).status_code == 201


def test_public_reply_on_messenger_is_400(agent):
    conversation = conversation_on(agent, kind="messenger")
    body = assert_problem(
        post(agent, conversation.pk, {"text": "Thanks!", "visibility": "public"}), 400
    )
    assert "visibility" in body["errors"]
    assert rows_of(conversation) == []


def test_public_reply_on_twitter_is_accepted(agent):
    conversation = conversation_on(agent, kind="twitter")
    MessageFactory(conversation=conversation, visibility="public", external_id="t-1")
    r = post(agent, conversation.pk, {"text": "Thanks for the shout-out!", "visibility": "public"})
    assert r.status_code == 201, r.content
    assert r.json()["visibility"] == "public"
    assert r.json()["status"] == "queued"


@pytest.mark.parametrize("deleted", [None, "post_deleted"])
def test_a_public_reply_needs_a_live_public_post_to_answer(agent, deleted):
    conversation = conversation_on(agent, kind="twitter")
    MessageFactory(conversation=conversation, visibility="private", external_id="dm-1")
    if deleted:
        MessageFactory(
            conversation=conversation,
            visibility="public",
            external_id="t-1",
            text="",
            deleted_at=timezone.now(),
        )
    r = post(agent, conversation.pk, {"text": "Thanks!", "visibility": "public"})
    assert assert_problem(r, 409)["code"] == (deleted or "no_post")
    assert [m.direction for m in rows_of(conversation)] == ["inbound"] * (2 if deleted else 1)
    private = post(agent, conversation.pk, {"text": "Thanks!", "visibility": "private"})
    assert private.status_code == 201, private.content


def test_public_tweet_length_limit(agent):
    conversation = conversation_on(agent, kind="twitter")
    body = assert_problem(
        post(agent, conversation.pk, {"text": "a" * 281, "visibility": "public"}), 400
    )
    assert "text" in body["errors"]
    long_dm = post(agent, conversation.pk, {"text": "a" * 281, "visibility": "private"})
    assert long_dm.status_code == 201


def test_unknown_visibility_or_kind_is_400(agent):
    conversation = conversation_on(agent, kind="twitter")
    body = assert_problem(post(agent, conversation.pk, {"text": "x", "visibility": "secret"}), 400)
    assert "visibility" in body["errors"]
    body = assert_problem(post(agent, conversation.pk, {"text": "x", "kind": "sms"}), 400)
    assert "kind" in body["errors"]
    assert rows_of(conversation) == []


def receive(channel: Channel, *, visibility: str, minutes_ago: int, external_id: str) -> Any:
    return message_receive(
        organization=channel.organization,
        channel=channel,
        platform_user_id="x-user-1",
        external_id=external_id,
        text="hello",
        sent_at=timezone.now() - timedelta(minutes=minutes_ago),
        visibility=visibility,
    )


def test_default_visibility_follows_the_customers_last_message(agent):
    channel = ChannelFactory(organization=agent.organization, kind="twitter")
    received = receive(channel, visibility="public", minutes_ago=10, external_id="t1")
    conversation_id = received.conversation.pk
    r = post(agent, conversation_id, {"text": "Replying in public"})
    assert r.status_code == 201, r.content
    assert r.json()["visibility"] == "public"

    receive(channel, visibility="private", minutes_ago=1, external_id="t2")
    r = post(agent, conversation_id, {"text": "Now by DM"})
    assert r.json()["visibility"] == "private"

    # A late-arriving older public mention does not flip the default back.
    receive(channel, visibility="public", minutes_ago=30, external_id="t0")
    r = post(agent, conversation_id, {"text": "Still by DM"})
    assert r.json()["visibility"] == "private"

    # An explicit visibility wins over the default.
    r = post(agent, conversation_id, {"text": "Public anyway", "visibility": "public"})
    assert r.json()["visibility"] == "public"


def test_default_visibility_on_messenger_is_private(agent):
    conversation = conversation_on(agent, kind="messenger")
    r = post(agent, conversation.pk, {"text": "Hi"})
    assert r.json()["visibility"] == "private"


# ---- tenancy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["message", "note"])
def test_posting_to_a_foreign_conversation_is_404_and_writes_nothing(agent, kind):
    foreign = ConversationFactory(last_message_preview="untouched")
    before = Message.all_tenants.count()
    r = post(agent, foreign.pk, {"text": "hijack", "kind": kind, "idempotency_key": "x"})
    assert_problem(r, 404)
    assert Message.all_tenants.count() == before
    foreign.refresh_from_db()
    assert foreign.last_message_preview == "untouched"


def test_foreign_member_cannot_post_into_my_conversation(agent, make_member):
    conversation = conversation_on(agent)
    outsider = make_member("admin")
    r = api_client(outsider).post(url(agent, conversation.pk), {"text": "hi"}, "json")
    assert_problem(r, 404)
    with tenant_scope(agent.organization):
        assert not Message.objects.filter(conversation=conversation).exists()
