"""Stored webhook events processed in batches: the same rows as one event at a time, a constant
number of queries for known customers, budgets that leave the rest for later, no double
processing when two workers race, failures that stay local, and events published after commit.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from connectors import ingest
from connectors.messenger.adapter import MessengerConnector
from connectors.tasks import process_webhook_event
from inbox import events as inbox_events
from inbox.events import Event
from inbox.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Message,
    MessageDirection,
    Organization,
    SLAClock,
    SLAClockState,
    SLAMetric,
    SLAPolicy,
    WebhookEvent,
    WebhookEventStatus,
)
from inbox.services import messages as messages_service
from inbox.services.channels import channel_create
from inbox.services.conversations import conversation_set_status, conversation_snooze
from inbox.services.messages import message_receive, message_send
from inbox.services.organizations import organization_create
from inbox.services.webhooks import retry_delay

PAGE = "104857600777001"
OTHER_PAGE = "104857600777002"
UNKNOWN_PAGE = "104857600777999"
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # when the batch is processed
T0 = NOW - timedelta(hours=1)  # the customers' first messages
SET_UP = T0 + timedelta(minutes=20)  # when agents answered, snoozed, resolved


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ---- Messenger bodies ----------------------------------------------------------------------


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def text(page: str, psid: str, mid: str, minutes: int, words: str = "") -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": page},
        "timestamp": _ms(at(minutes)),
        "message": {"mid": mid, "text": words or f"{psid} at {minutes}"},
    }


def image(page: str, psid: str, mid: str, minutes: int) -> dict[str, Any]:
    item = text(page, psid, mid, minutes)
    item["message"] = {
        "mid": mid,
        "attachments": [{"type": "image", "payload": {"url": "https://cdn.example.com/a.jpg"}}],
    }
    return item


def with_referral(page: str, psid: str, mid: str, minutes: int) -> dict[str, Any]:
    item = text(page, psid, mid, minutes, "Is this still available?")
    item["message"]["referral"] = {"ref": "spring-sale", "source": "ADS", "type": "OPEN_THREAD"}
    return item


def echo(page: str, psid: str, mid: str, minutes: int) -> dict[str, Any]:
    return {
        "sender": {"id": page},
        "recipient": {"id": psid},
        "timestamp": _ms(at(minutes)),
        "message": {"is_echo": True, "app_id": 42, "mid": mid, "text": "Answered from the app"},
    }


def read(page: str, psid: str, minutes: int) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": page},
        "timestamp": _ms(at(minutes)),
        "read": {"watermark": _ms(at(minutes))},
    }


def envelope(*entries: tuple[str, list[dict[str, Any]]]) -> bytes:
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {"id": page, "time": _ms(NOW), "messaging": items} for page, items in entries
            ],
        },
        separators=(",", ":"),
    ).encode()


def store(*bodies: bytes) -> list[int]:
    """Store POSTs as the webhook endpoint does (routed, received); their ids in order."""
    ids = []
    for body in bodies:
        event, outcome = ingest.accept(kind="messenger", body=body, headers={})
        assert outcome is ingest.Outcome.ACCEPTED
        ids.append(event.pk)
    return ids


# ---- the scenario --------------------------------------------------------------------------

OPEN = ("open-1", "open-2", "open-3", "open-4")


@dataclass
class World:
    organizations: list[Organization]
    page: Channel
    events: list[int]


def build() -> World:
    """Two organizations with their pages; customers on open (one answered by an agent),
    pending, snoozed and resolved conversations; then the POSTs of a busy minute, stored."""
    with time_machine.travel(SET_UP, tick=False):
        organization, admin = organization_create(
            slug="batch-a",
            name="Batch A",
            admin_email="admin@batch-a.example.com",
            admin_password="a long passphrase 123",
        )
        other, _ = organization_create(
            slug="batch-b",
            name="Batch B",
            admin_email="admin@batch-b.example.com",
            admin_password="a long passphrase 123",
        )
        page = _page(organization, PAGE)
        other_page = _page(other, OTHER_PAGE)

        def start(channel: Channel, psid: str) -> Conversation:
            return message_receive(
                organization=channel.organization,
                channel=channel,
                platform_user_id=psid,
                external_id=f"m-{psid}-0",
                text="first",
                sent_at=at(0),
            ).conversation

        for psid in OPEN:
            start(page, psid)
        message_send(
            organization=organization, actor=admin, conversation=start(page, "answered"), text="Hi"
        )
        conversation_set_status(
            organization=organization,
            actor=admin,
            conversation=start(page, "pending"),
            status=ConversationStatus.PENDING,
        )
        conversation_snooze(
            organization=organization,
            actor=admin,
            conversation=start(page, "snoozed"),
            until=NOW + timedelta(days=1),
        )
        conversation_set_status(
            organization=organization,
            actor=admin,
            conversation=start(page, "resolved"),
            status=ConversationStatus.RESOLVED,
        )
        start(other_page, "elsewhere")

    events = store(
        envelope(
            (
                PAGE,
                [
                    text(PAGE, "new-1", "m-e1-a", 30, "Hello, I am new here"),
                    text(PAGE, "open-1", "m-e1-b", 40),
                    text(PAGE, "open-2", "m-e1-c", 31),
                ],
            )
        ),
        envelope(
            (
                PAGE,
                [
                    text(PAGE, "open-1", "m-e2-a", 33),  # before its message of E1
                    text(PAGE, "pending", "m-e2-b", 34),
                    text(PAGE, "answered", "m-e2-c", 35),
                ],
            )
        ),
        envelope(
            (
                PAGE,
                [
                    with_referral(PAGE, "open-3", "m-e3-a", 36),
                    text(PAGE, "snoozed", "m-e3-b", 37),
                    image(PAGE, "open-2", "m-e3-c", 38),
                ],
            )
        ),
        envelope(
            (
                PAGE,
                [
                    echo(PAGE, "open-4", "m-e4-a", 39),
                    read(PAGE, "open-4", 39),
                    text(PAGE, "open-4", "m-e4-b", 41),
                ],
            )
        ),
        envelope(
            (
                PAGE,
                [
                    text(PAGE, "resolved", "m-e5-a", 42),
                    text(PAGE, "new-1", "m-e5-b", 43),
                    text(PAGE, "new-2", "m-e5-c", 44),
                    text(PAGE, "open-2", "m-e1-c", 31),  # twice in the batch
                ],
            )
        ),
        envelope(
            (
                PAGE,
                [
                    text(PAGE, "open-1", "m-open-1-0", 0, "first"),  # stored already
                    text(PAGE, "pending", "m-e6-a", 45),
                    text(PAGE, "open-1", "m-e6-b", 36),
                ],
            )
        ),
        envelope(
            (PAGE, [text(PAGE, "open-2", "m-e7-a", 46)]),
            (
                OTHER_PAGE,
                [
                    text(OTHER_PAGE, "elsewhere", "m-e7-b", 46),
                    text(OTHER_PAGE, "new-3", "m-e7-c", 47),
                ],
            ),
            (UNKNOWN_PAGE, [text(UNKNOWN_PAGE, "stranger", "m-e7-d", 47)]),
        ),
    )
    return World([organization, other], page, events)


def _page(organization: Organization, external_id: str) -> Channel:
    return channel_create(
        organization=organization,
        kind="messenger",
        name=f"Page {external_id}",
        external_id=external_id,
        credentials={"page_access_token": "t"},
        settings={"human_agent_approved": True},
    )


# ---- what the rows came to -------------------------------------------------------------------

_IDS = {"id", "organization_id", "conversation_id", "channel_id", "customer_id", "author_id"}


def _fields(row: Model, **renamed: Any) -> dict[str, Any]:
    values = {
        field.attname: getattr(row, field.attname)
        for field in row._meta.concrete_fields
        if field.attname not in _IDS
    }
    values.update(renamed)
    return values


def snapshot(world: World) -> dict[str, Any]:
    """Every row the scenario touches, keyed by what does not depend on row ids."""
    organizations = world.organizations
    psids = {
        identity.customer_id: identity.platform_user_id
        for identity in CustomerIdentity.all_tenants.filter(organization__in=organizations)
    }
    policies: dict[int | None, str] = {
        p.pk: p.name for p in SLAPolicy.all_tenants.filter(organization__in=organizations)
    }
    conversations = Conversation.all_tenants.filter(organization__in=organizations).order_by("pk")
    keys = {c.pk: f"{c.organization.slug}/{psids[c.customer_id]}/{c.number}" for c in conversations}
    rows: dict[str, Any] = {}
    for conversation in conversations:
        key = keys[conversation.pk]
        messages = Message.all_tenants.filter(conversation=conversation)
        clocks = SLAClock.all_tenants.filter(conversation=conversation)
        rows[key] = {
            "conversation": _fields(
                conversation, sla_policy_id=policies.get(conversation.sla_policy_id)
            ),
            "messages": sorted(
                (_fields(m) for m in messages),
                key=lambda m: (m["sent_at"], m["direction"], m["external_id"] or ""),
            ),
            "clocks": sorted(
                (_fields(c, policy_id=policies.get(c.policy_id)) for c in clocks),
                key=lambda c: (c["cycle"], c["metric"]),
            ),
        }
    rows["customers"] = sorted(
        (psids[c.pk], _fields(c))
        for c in Customer.all_tenants.filter(organization__in=organizations)
    )
    rows["identities"] = sorted(
        (i.platform_user_id, i.profile)
        for i in CustomerIdentity.all_tenants.filter(organization__in=organizations)
    )
    rows["events"] = [
        _fields(event, body=None, received_at=None)
        for event in WebhookEvent.all_tenants.filter(pk__in=world.events).order_by("pk")
    ]
    return rows


def one_at_a_time(world: World) -> None:
    for event_id in world.events:
        ingest.process(event_id)


def in_batches(limit: int) -> Callable[[World], None]:
    def process(world: World) -> None:
        pending = list(world.events)
        while pending:
            batch = ingest.process_pending(pending[0], limit=limit)
            assert batch.statuses, "a batch made no progress"
            pending = [pk for pk in pending if pk not in batch.statuses]

    return process


def outcome(process: Callable[[World], None]) -> dict[str, Any]:
    """Build the scenario, process it, read the rows, and undo it all."""
    with transaction.atomic():
        world = build()
        with time_machine.travel(NOW, tick=False):
            process(world)
        rows = snapshot(world)
        transaction.set_rollback(True)
    return rows


@pytest.fixture
def bulk_taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many messages each call of the bulk path stored."""
    taken: list[int] = []
    original = messages_service._receive_in_bulk

    def spy(*args: Any) -> set[int]:
        result = original(*args)
        taken.append(len(result))
        return result

    monkeypatch.setattr(messages_service, "_receive_in_bulk", spy)
    return taken


@pytest.fixture(scope="module")
def reference(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        yield outcome(one_at_a_time)


@pytest.mark.django_db
def test_the_scenario_is_what_it_claims(reference: dict[str, Any]) -> None:
    """One event at a time, the rows are as message_receive's contract says; the batch tests
    below compare with these rows."""
    assert [e["status"] for e in reference["events"]] == [WebhookEventStatus.PROCESSED] * 7
    assert [e["attempts"] for e in reference["events"]] == [1] * 7
    conversations = {k: v for k, v in reference.items() if k.count("/") == 2}
    texts = {
        key: [m["external_id"] for m in rows["messages"] if m["direction"] == "inbound"]
        for key, rows in conversations.items()
    }
    assert texts["batch-a/open-1/1"] == ["m-open-1-0", "m-e2-a", "m-e6-b", "m-e1-b"]
    assert texts["batch-a/open-2/2"] == ["m-open-2-0", "m-e1-c", "m-e3-c", "m-e7-a"]
    assert texts["batch-a/new-1/9"] == ["m-e1-a", "m-e5-b"]
    assert texts["batch-a/resolved/8"] == ["m-resolved-0"]
    assert texts["batch-a/resolved/10"] == ["m-e5-a"]  # a new conversation after resolved
    assert texts["batch-b/new-3/2"] == ["m-e7-c"]
    assert sum(len(t) for t in texts.values()) == 27
    open_1 = conversations["batch-a/open-1/1"]["conversation"]
    assert open_1["last_message_at"] == at(40)
    assert open_1["last_inbound_at"] == at(40)
    assert open_1["last_message_preview"] == "open-1 at 40"
    assert open_1["waiting_since"] == at(0)
    assert conversations["batch-a/open-2/2"]["conversation"]["last_message_preview"] == (
        "open-2 at 46"
    )
    for reopened in ("batch-a/pending/6", "batch-a/snoozed/7"):
        assert conversations[reopened]["conversation"]["status"] == ConversationStatus.OPEN
        assert {c["state"] for c in conversations[reopened]["clocks"]} == {SLAClockState.RUNNING}
    answered = {c["metric"]: c for c in conversations["batch-a/answered/5"]["clocks"]}
    assert answered[SLAMetric.FIRST_RESPONSE]["state"] == SLAClockState.MET
    assert answered[SLAMetric.NEXT_RESPONSE]["started_at"] == at(35)
    open_4 = {c["metric"]: c for c in conversations["batch-a/open-4/4"]["clocks"]}
    assert open_4[SLAMetric.FIRST_RESPONSE]["met_at"] == at(39)  # the echo answered
    assert open_4[SLAMetric.NEXT_RESPONSE]["started_at"] == at(41)
    referral = {"ref": "spring-sale", "data": {}, "type": "OPEN_THREAD", "source": "ADS"}
    assert conversations["batch-a/open-3/3"]["conversation"]["source"] == {"referral": referral}
    assert dict(reference["identities"])["open-3"]["last_referral"] == referral
    new_1 = conversations["batch-a/new-1/9"]["conversation"]
    assert (new_1["sla_cycle"], new_1["sla_due_at"]) == (1, at(30) + timedelta(minutes=15))


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [3, ingest.BATCH_SIZE])
def test_batches_store_what_one_event_at_a_time_stores(
    limit: int, reference: dict[str, Any], bulk_taken: list[int]
) -> None:
    assert outcome(in_batches(limit)) == reference
    assert sum(bulk_taken) > 0, "the bulk path took part"


@pytest.mark.django_db
def test_the_bulk_path_stores_what_message_receive_stores(
    reference: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the bulk path every message goes through message_receive: same rows."""
    monkeypatch.setattr(messages_service, "_receive_in_bulk", lambda *_: set())
    assert outcome(in_batches(ingest.BATCH_SIZE)) == reference


@pytest.mark.django_db
def test_a_failing_bulk_path_falls_back_to_one_by_one(
    reference: dict[str, Any], monkeypatch: pytest.MonkeyPatch, bulk_taken: list[int]
) -> None:
    """The bulk path breaks once, after its INSERT and part of its work: the savepoint undoes
    it all and every message still lands, exactly once."""
    failures = itertools.count()
    original = messages_service._save_inbound_fields

    def breaks_once(*args: Any) -> None:
        original(*args)
        if next(failures) == 0:
            raise RuntimeError("connection hiccup")

    monkeypatch.setattr(messages_service, "_save_inbound_fields", breaks_once)
    assert outcome(in_batches(ingest.BATCH_SIZE)) == reference
    assert next(failures) > 1, "the bulk path was taken after the failure as well"


# ---- query counts --------------------------------------------------------------------------


def _known_customers(count: int, *, waiting: bool) -> tuple[Channel, list[str]]:
    """`count` known customers on open conversations with SLA clocks: already waiting for an
    answer (their first response running), or answered (a new message starts next response)."""
    with time_machine.travel(SET_UP, tick=False):
        organization, admin = organization_create(
            slug=f"known-{count}",
            name="Known",
            admin_email=f"admin-{count}@known.example.com",
            admin_password="a long passphrase 123",
        )
        page = _page(organization, PAGE)
        psids = [f"known-{n}" for n in range(count)]
        for psid in psids:
            conversation = message_receive(
                organization=organization,
                channel=page,
                platform_user_id=psid,
                external_id=f"m-{psid}-0",
                text="first",
                sent_at=at(0),
            ).conversation
            if not waiting:
                message_send(
                    organization=organization, actor=admin, conversation=conversation, text="Hi"
                )
    return page, psids


# BEGIN/savepoints and COMMIT are counted: the claim, the parse-free routes, the stored mids,
# identities, conversations (locked), SLA clocks, the INSERT, the pipelined UPDATE, the channel
# touch and the status UPDATE; on PostgreSQL also the people's advisory locks and the
# transaction's synchronous_commit setting.
WAITING_QUERIES = 17


def waiting_queries() -> int:
    return WAITING_QUERIES + 2 * (connection.vendor == "postgresql")


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 20])
@pytest.mark.parametrize("shape", ["an event each", "one event"])
def test_known_customers_cost_a_constant_number_of_queries(
    count: int, shape: str, bulk_taken: list[int]
) -> None:
    _, psids = _known_customers(count, waiting=True)
    items = [text(PAGE, psid, f"m-{psid}-1", 30 + n % 20) for n, psid in enumerate(psids)]
    if shape == "one event":
        events = store(envelope((PAGE, items)))
    else:
        events = store(*(envelope((PAGE, [item])) for item in items))
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
        batch = ingest.process_pending(events[0])
    assert batch.statuses == dict.fromkeys(events, WebhookEventStatus.PROCESSED)
    assert bulk_taken == [count]
    assert Message.all_tenants.filter(external_id__endswith="-1").count() == count
    assert len(queries) == waiting_queries(), "\n".join(q["sql"] for q in queries.captured_queries)


# ---- budgets -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_more_events_than_a_batch_are_left_to_their_own_tasks(bulk_taken: list[int]) -> None:
    _, psids = _known_customers(3, waiting=True)
    events = store(
        *(
            envelope((PAGE, [text(PAGE, psids[n % 3], f"m-many-{n}", 30 + n % 20)]))
            for n in range(ingest.BATCH_SIZE + 5)
        )
    )
    with time_machine.travel(NOW, tick=False):
        batch = ingest.process_pending(events[0])
    assert list(batch.statuses) == events[: ingest.BATCH_SIZE]
    assert batch.left == []
    unclaimed = WebhookEvent.all_tenants.filter(status=WebhookEventStatus.RECEIVED)
    assert sorted(unclaimed.values_list("pk", flat=True)) == events[ingest.BATCH_SIZE :]
    assert Message.all_tenants.filter(external_id__startswith="m-many-").count() == 20

    with time_machine.travel(NOW, tick=False):
        assert process_webhook_event(events[-1]) == 5  # the task of any of them takes the rest
    assert not unclaimed.exists()
    assert Message.all_tenants.filter(external_id__startswith="m-many-").count() == 25


@pytest.mark.django_db
def test_over_the_message_budget_the_rest_is_left_and_handed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "MESSAGE_BUDGET", 5)
    _, psids = _known_customers(2, waiting=True)
    events = store(
        *(
            envelope(
                (
                    PAGE,
                    [
                        text(PAGE, psids[0], f"m-budget-{n}-a", 30 + n),
                        text(PAGE, psids[1], f"m-budget-{n}-b", 30 + n),
                    ],
                )
            )
            for n in range(6)
        )
    )
    with transaction.atomic(), time_machine.travel(NOW, tick=False):
        batch = ingest.process_pending(events[0])
        transaction.set_rollback(True)
    # Taken while under the budget: 0, 2, 4 messages before each; the rest stays received.
    assert list(batch.statuses) == events[:3]
    assert batch.left == events[3:]

    with time_machine.travel(NOW, tick=False):
        assert process_webhook_event(events[0]) == 3  # and hands the 3 left on (inline here)
    assert set(WebhookEvent.all_tenants.values_list("status", flat=True)) == {
        WebhookEventStatus.PROCESSED
    }
    assert Message.all_tenants.filter(external_id__startswith="m-budget-").count() == 12


@pytest.mark.django_db
def test_one_event_over_the_budget_is_taken_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MESSAGE_BUDGET", 2)
    _, psids = _known_customers(4, waiting=True)
    [big] = store(envelope((PAGE, [text(PAGE, p, f"m-big-{p}", 30) for p in psids])))
    with time_machine.travel(NOW, tick=False):
        batch = ingest.process_pending(big)
    assert batch == ingest.Batch({big: WebhookEventStatus.PROCESSED}, [])
    assert Message.all_tenants.filter(external_id__startswith="m-big-").count() == 4


# ---- failures ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_item_fails_only_its_event_with_a_retry_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, psids = _known_customers(2, waiting=True)
    original = messages_service.message_receive

    def picky(**kwargs: Any) -> Any:
        if kwargs["external_id"] == "m-bad":
            raise RuntimeError("this one item is broken")
        return original(**kwargs)

    monkeypatch.setattr(messages_service, "message_receive", picky)
    events = store(
        envelope((PAGE, [text(PAGE, psids[0], "m-fine-1", 30)])),
        envelope(
            (
                PAGE,
                [with_referral(PAGE, "new-x", "m-bad", 31), text(PAGE, psids[1], "m-co", 32)],
            )
        ),
        envelope((PAGE, [text(PAGE, "new-y", "m-fine-2", 33)])),
    )
    with time_machine.travel(NOW, tick=False):
        batch = ingest.process_pending(events[0])
    assert batch.statuses == {
        events[0]: WebhookEventStatus.PROCESSED,
        events[1]: WebhookEventStatus.FAILED,
        events[2]: WebhookEventStatus.PROCESSED,
    }
    failed = WebhookEvent.all_tenants.get(pk=events[1])
    assert "this one item is broken" in failed.error
    assert failed.attempts == 1
    assert failed.next_attempt_at == NOW + timedelta(seconds=retry_delay(1))
    stored = set(Message.all_tenants.values_list("external_id", flat=True))
    assert {"m-fine-1", "m-co", "m-fine-2"} <= stored
    assert "m-bad" not in stored

    monkeypatch.undo()
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert ingest.process(events[1]) == WebhookEventStatus.PROCESSED
    assert Message.all_tenants.filter(external_id__in=["m-bad", "m-co"]).count() == 2


@pytest.mark.django_db
def test_when_the_bulk_path_and_one_item_fail_the_others_still_land(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, psids = _known_customers(3, waiting=True)
    original = messages_service.message_receive

    def broken(*_: Any) -> set[int]:
        raise RuntimeError("bulk path down")

    def picky(**kwargs: Any) -> Any:
        if kwargs["external_id"] == "m-item-1":
            raise RuntimeError("this one item is broken")
        return original(**kwargs)

    monkeypatch.setattr(messages_service, "_receive_in_bulk", broken)
    monkeypatch.setattr(messages_service, "message_receive", picky)
    events = store(
        *(envelope((PAGE, [text(PAGE, p, f"m-item-{n}", 30 + n)])) for n, p in enumerate(psids))
    )
    with time_machine.travel(NOW, tick=False):
        batch = ingest.process_pending(events[0])
    assert batch.statuses == {
        events[0]: WebhookEventStatus.PROCESSED,
        events[1]: WebhookEventStatus.FAILED,
        events[2]: WebhookEventStatus.PROCESSED,
    }
    stored = Message.all_tenants.filter(external_id__startswith="m-item-")
    assert set(stored.values_list("external_id", flat=True)) == {"m-item-0", "m-item-2"}
    assert stored.count() == 2


# ---- events --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_stored_messages_are_published_after_commit(
    published: list[Event], bulk_taken: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    _, psids = _known_customers(3, waiting=False)  # each message starts next response
    published.clear()
    events = store(
        envelope((PAGE, [text(PAGE, psids[0], "m-p0", 30), text(PAGE, psids[1], "m-p1", 31)])),
        envelope((PAGE, [text(PAGE, psids[2], "m-p2", 32), text(PAGE, psids[0], "m-p3", 33)])),
    )
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        ingest.process_pending(events[0])
        assert published == []  # nothing before the commit
    assert bulk_taken == [4]
    messages = {m.external_id: m for m in Message.all_tenants.filter(external_id__startswith="m-p")}
    # Every message is announced; each conversation's update goes once, after its messages,
    # with what changed over the batch (psids[0] wrote twice).
    expected = [
        ("message.created", messages[mid].conversation_id, messages[mid].pk)
        for mid in ("m-p0", "m-p1", "m-p2", "m-p3")
    ] + [
        ("conversation.updated", messages[mid].conversation_id, messages[mid].conversation_id)
        for mid in ("m-p0", "m-p1", "m-p2")
    ]
    assert [(e.name, e.conversation_id, e.payload["id"]) for e in published] == expected
    updates = [e.payload for e in published if e.name == "conversation.updated"]
    # The first message of each answered conversation starts its next response clock.
    assert [u["changed"] for u in updates] == [
        ["last_message", "sla"],
        ["last_message", "sla"],
        ["last_message", "sla"],
    ]
    assert {u["status"] for u in updates} == {ConversationStatus.OPEN}
    organization_id = messages["m-p0"].organization_id
    assert all(e.organization_id == organization_id for e in published)


@pytest.mark.django_db
def test_a_rolled_back_bulk_path_publishes_nothing_twice(
    published: list[Event], monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """The bulk path breaks after announcing its messages: what it announced is dropped with
    its savepoint, and the one-by-one retry announces each message once."""
    _, psids = _known_customers(2, waiting=True)
    published.clear()
    original_emit = inbox_events.emit
    emitted = itertools.count()

    def emit_then_break(event: Event) -> None:
        original_emit(event)
        if next(emitted) == 3:  # the bulk path's last event
            raise RuntimeError("broken after publishing")

    monkeypatch.setattr(inbox_events, "emit", emit_then_break)
    events = store(
        envelope((PAGE, [text(PAGE, p, f"m-r{n}", 30 + n) for n, p in enumerate(psids)]))
    )
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        batch = ingest.process_pending(events[0])
    assert batch.statuses == {events[0]: WebhookEventStatus.PROCESSED}
    created = [e.payload["id"] for e in published if e.name == "message.created"]
    assert sorted(created) == sorted(
        Message.all_tenants.filter(external_id__startswith="m-r").values_list("pk", flat=True)
    )
    assert len(created) == 2


# ---- two workers at once (PostgreSQL) ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_process_an_event_twice(caplog: pytest.LogCaptureFixture) -> None:
    """Two workers go through the same received events at the same moment, in opposite
    orders, a few at a time: each event is claimed by one of them (SKIP LOCKED), none is
    applied twice, and none fails under contention."""
    _, psids = _known_customers(5, waiting=True)
    newcomers = [f"newcomer-{n}" for n in range(5)]
    bodies = []
    for n in range(40):
        known, newcomer = psids[n % 5], newcomers[(n * 3) % 5]
        items = [
            text(PAGE, known, f"m-c{n}-a", 30 + n % 25),
            text(PAGE, newcomer, f"m-c{n}-b", 30 + n % 25),
            text(PAGE, known, f"m-c{(n + 1) % 40}-a", 31),  # a redelivery, in the next event
        ]
        bodies.append(envelope((PAGE, items)))
    events = store(*bodies)
    barrier = threading.Barrier(2)
    outcomes: list[list[tuple[int, str]]] = [[], []]
    errors: list[BaseException] = []

    def worker(index: int, order: list[int]) -> None:
        try:
            barrier.wait()
            for event_id in order:
                batch = ingest.process_pending(event_id, limit=4)
                outcomes[index] += batch.statuses.items()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(0, events)),
        threading.Thread(target=worker, args=(1, events[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert outcomes[0], "both workers took part"
    assert outcomes[1], "both workers took part"
    processed = [
        pk for pk, status in outcomes[0] + outcomes[1] if status == WebhookEventStatus.PROCESSED
    ]
    assert sorted(processed) == sorted(set(processed)), "an event processed twice"
    attempts = dict.fromkeys(events, 0)
    for pk, _ in outcomes[0] + outcomes[1]:
        attempts[pk] += 1
    rows = WebhookEvent.all_tenants.filter(pk__in=events)
    assert dict(rows.values_list("pk", "attempts")) == attempts

    # Batches take their people's advisory locks first, so overlapping ones wait for each other
    # instead of deadlocking over the same conversations and new identities: nothing fails.
    failed = dict(rows.filter(status=WebhookEventStatus.FAILED).values_list("pk", "error"))
    assert failed == {}, failed
    assert "deadlock" not in caplog.text
    assert "bulk receive failed" not in caplog.text
    assert set(rows.values_list("status", flat=True)) == {WebhookEventStatus.PROCESSED}
    expected = {f"m-c{n}-{s}" for n in range(40) for s in "ab"}
    inbound = Message.all_tenants.filter(direction=MessageDirection.INBOUND, sent_at__gt=at(0))
    mids = list(inbound.values_list("external_id", flat=True))
    assert len(mids) == len(set(mids)), "a message stored twice"
    assert set(mids) == expected
    assert Customer.all_tenants.count() == 10
    assert CustomerIdentity.all_tenants.count() == 10
    assert Conversation.all_tenants.filter(status=ConversationStatus.OPEN).count() == 10
    assert Conversation.all_tenants.count() == 10


@pytest.mark.django_db
def test_a_new_person_is_announced_by_conversation_created_and_message_created_only(
    published: list[Event], bulk_taken: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    """The conversation a batch starts is loaded by every screen on conversation.created,
    after commit, in its final state: no conversation.updated follows it."""
    _known_customers(1, waiting=True)
    published.clear()
    events = store(
        envelope((PAGE, [text(PAGE, "newcomer", "m-n1", 30), text(PAGE, "newcomer", "m-n2", 31)]))
    )
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        ingest.process_pending(events[0])
    assert bulk_taken == [2]
    conversation = Conversation.all_tenants.get(customer__identities__platform_user_id="newcomer")
    first, second = Message.all_tenants.filter(conversation=conversation).order_by("sent_at")
    assert [(e.name, e.payload["id"]) for e in published] == [
        ("conversation.created", conversation.pk),
        ("message.created", first.pk),
        ("message.created", second.pk),
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the batch's own transaction, as in production
def test_processing_commits_without_waiting_for_the_disk_and_accepting_still_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Processing is re-driven from the raw event if a crash forgets its commit, so it need
    not wait for the WAL flush; storing that raw event, before the platform's 200, must."""
    _known_customers(1, waiting=True)
    seen: list[str] = []
    original = messages_service.messages_receive

    def spy(**kwargs: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
        return original(**kwargs)

    monkeypatch.setattr("connectors.ingest.messages_receive", spy)
    [event] = store(envelope((PAGE, [text(PAGE, "known-0", "m-sc-1", 30)])))
    ingest.process_pending(event)
    assert seen == ["off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on", "only the processing transaction"


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["the parser", "the batch"])
def test_one_event_that_breaks_its_batch_holds_back_no_other(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The oldest received event joins every batch: if it broke them all, nothing would be
    processed again. It fails alone (failed, with a retry time) and the others land."""
    _known_customers(1, waiting=True)
    [poison] = store(envelope((PAGE, [text(PAGE, "known-0", "m-poison", 30, "poison")])))
    good = store(
        *(envelope((PAGE, [text(PAGE, "known-0", f"m-good-{n}", 31 + n)])) for n in range(3))
    )
    if where == "the parser":
        original_parse = MessengerConnector.parse

        def parse(self: Any, body: bytes) -> Any:
            if b"poison" in body:
                raise KeyError("a parser bug")
            return original_parse(self, body)

        monkeypatch.setattr(MessengerConnector, "parse", parse)
    else:
        original_stored = ingest._stored_messages

        def stored(work: Any, routes: Any) -> Any:
            if any(event.pk == poison for event, _ in work):
                raise RuntimeError("a bug outside any savepoint")
            return original_stored(work, routes)

        monkeypatch.setattr(ingest, "_stored_messages", stored)
    for event_id in good:
        process_webhook_event(event_id)
    statuses = dict(WebhookEvent.all_tenants.values_list("pk", "status"))
    assert [statuses[pk] for pk in good] == [WebhookEventStatus.PROCESSED] * 3
    poisoned = WebhookEvent.all_tenants.get(pk=poison)
    assert poisoned.status == WebhookEventStatus.FAILED
    assert poisoned.next_attempt_at is not None
    assert poisoned.attempts >= 1
    assert set(
        Message.all_tenants.filter(external_id__startswith="m-good-").values_list(
            "external_id", flat=True
        )
    ) == {"m-good-0", "m-good-1", "m-good-2"}
