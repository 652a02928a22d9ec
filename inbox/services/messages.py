"""Messages in and out: receive from a platform, queue a reply, add an internal note."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from connectors.base import ReplyWindow
from connectors.registry import connector_for
from inbox import events
from inbox.errors import (
    ChannelPausedError,
    ConflictError,
    InvalidError,
    NoPostToAnswerError,
    PostDeletedError,
    WindowClosedError,
)
from inbox.models import (
    Channel,
    ChannelStatus,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    DeletedPost,
    Membership,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Organization,
    Visibility,
)
from inbox.selectors.messages import post_to_answer
from inbox.services.conversations import (
    conversation_for_inbound,
    next_conversation_numbers,
    record_referral,
    track_pending,
)
from inbox.services.customers import Profile, customer_identify, profile_fetch_later
from inbox.services.delivery import delivery_create
from inbox.services.sla import sla_batch, sla_inbound, sla_reply
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

PREVIEW_LENGTH = 280
DELETED_PREVIEW = "Deleted by its author"
LINK_WEIGHT = 23  # a link in a public post counts as 23 characters (t.co)


@dataclass(frozen=True)
class Received:
    message: Message
    conversation: Conversation
    created: bool


def preview_of(text: str, attachments: Sequence[dict[str, Any]]) -> str:
    if text.strip():
        return " ".join(text.split())[:PREVIEW_LENGTH]
    if attachments:
        kinds = ", ".join(str(a.get("type", "file")) for a in attachments)
        return f"[{kinds}]"[:PREVIEW_LENGTH]
    return ""


def reply_window(conversation: Conversation, *, now: datetime | None = None) -> ReplyWindow:
    """The conversation's reply window right now (no query: uses the loaded channel)."""
    channel = conversation.channel
    return connector_for(channel.kind).reply_window(
        last_inbound_at=conversation.last_inbound_at,
        channel_settings=channel.settings,
        now=now or timezone.now(),
    )


@scoped
@transaction.atomic
def message_receive(
    *,
    organization: Organization,
    channel: Channel,
    platform_user_id: str,
    external_id: str | None,
    text: str,
    sent_at: datetime,
    attachments: Sequence[dict[str, Any]] = (),
    visibility: str = Visibility.PRIVATE,
    metadata: dict[str, Any] | None = None,
    profile: Profile | None = None,
    referral: dict[str, Any] | None = None,
) -> Received:
    """Record a customer's message on their one thread; a redelivery is a no-op.

    Finds or creates the customer by (channel, platform user id), reuses their unresolved
    conversation (reopening a pending or snoozed one) or starts a new cycle after a resolved
    one, and inserts the message unique on (channel, external_id). Safe when the same event is
    processed twice at the same moment: the unique index decides, the loser returns the
    winner's row with created=False. Events are published after commit.
    """
    if external_id is not None:
        duplicate = _existing(organization, channel, external_id)
        if duplicate is not None:
            return Received(duplicate, duplicate.conversation, created=False)
    identity, new_person = customer_identify(
        organization=organization,
        channel=channel,
        platform_user_id=platform_user_id,
        profile=profile,
    )
    if new_person and not identity.customer.display_name:
        profile_fetch_later(organization=organization, identity=identity)
    conversation, _ = conversation_for_inbound(
        organization=organization, customer=identity.customer, channel=channel, at=sent_at
    )
    message = _inbound_message(
        organization,
        channel,
        conversation,
        Incoming(
            platform_user_id=platform_user_id,
            external_id=external_id,
            text=text,
            sent_at=sent_at,
            attachments=attachments,
            visibility=visibility,
            metadata=metadata,
        ),
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        duplicate = _existing(organization, channel, external_id or "")
        if duplicate is None:
            raise
        return Received(duplicate, duplicate.conversation, created=False)

    changed = ["last_message"]
    if conversation.status in (ConversationStatus.PENDING, ConversationStatus.SNOOZED):
        conversation.status = ConversationStatus.OPEN
        conversation.snoozed_until = None
        track_pending(conversation, organization, timezone.now())
        changed.append("status")
    _note_inbound(conversation, text, attachments, sent_at, visibility)
    if referral:
        record_referral(identity, conversation, referral, at=sent_at)
    if sla_inbound(organization=organization, conversation=conversation, at=sent_at):
        changed.append("sla")
    conversation.save()
    events.emit(events.message_created(message))
    events.emit(events.conversation_updated(conversation, changed))
    return Received(message, conversation, created=True)


@dataclass(frozen=True)
class Incoming:
    """One customer message of a webhook batch: message_receive's arguments."""

    platform_user_id: str
    external_id: str | None
    text: str
    sent_at: datetime
    attachments: Sequence[dict[str, Any]] = ()
    visibility: str = Visibility.PRIVATE
    metadata: dict[str, Any] | None = None
    profile: Profile | None = None
    referral: dict[str, Any] | None = None

    @property
    def plain(self) -> bool:
        """Nothing but a message: no profile to refresh, no referral to record."""
        return self.external_id is not None and self.profile is None and self.referral is None


@scoped
def messages_receive(
    *, organization: Organization, channel: Channel, incoming: Sequence[Incoming]
) -> dict[int, Exception]:
    """Record many customers' messages of one channel, as message_receive would one by one;
    returns the index and error of each message that failed (the others are stored).

    The bulk path expects the platform ids checked against stored messages (ingest does it
    for the whole batch in one query); a concurrent duplicate is still caught by the unique
    index, and then every message goes one by one. Plain messages go in bulk, whatever
    their number: one query each for the people's identities, their unresolved
    conversations (locked) and SLA clocks; one INSERT each for new customers, their
    identities and new conversations (numbered in one go), one for the messages; one
    pipelined UPDATE per conversation; two more per conversation whose SLA clock starts.
    People with a pending or snoozed thread to reopen, a profile or a referral to record go
    through message_receive, in a savepoint each, in order. Must run inside a transaction;
    events are published after it commits.
    """
    taken: set[int] = set()
    if any(item.plain for item in incoming):
        try:
            with transaction.atomic():
                taken = _receive_in_bulk(organization, channel, incoming)
        except IntegrityError:
            taken = set()  # a concurrent duplicate: one by one, each finds out for itself
        except Exception:
            logger.exception("bulk receive failed; taking the messages one by one")
            taken = set()
    failures: dict[int, Exception] = {}
    for index, item in enumerate(incoming):
        if index in taken:
            continue
        try:
            message_receive(
                organization=organization,
                channel=channel,
                platform_user_id=item.platform_user_id,
                external_id=item.external_id,
                text=item.text,
                sent_at=item.sent_at,
                attachments=item.attachments,
                visibility=item.visibility,
                metadata=item.metadata,
                profile=item.profile,
                referral=item.referral,
            )
        except Exception as exc:
            failures[index] = exc
    return failures


def _receive_in_bulk(
    organization: Organization, channel: Channel, incoming: Sequence[Incoming]
) -> set[int]:
    """The bulk part of messages_receive; returns the indexes it stored.

    Takes everyone whose messages are all plain and whose unresolved conversation, if any, is
    open: new people get their customer, identity and conversation here (numbered in one
    go), and so do known ones whose last conversation was resolved.
    """
    firsts: dict[str, Incoming] = {}
    for item in incoming:
        firsts.setdefault(item.platform_user_id, item)
    identities = {
        identity.platform_user_id: identity
        for identity in CustomerIdentity.objects.select_related("customer").filter(
            organization=organization, channel=channel, platform_user_id__in=list(firsts)
        )
    }
    threads_by_customer = {
        conversation.customer_id: conversation
        for conversation in Conversation.objects.select_for_update()
        .filter(
            organization=organization,
            channel=channel,
            customer_id__in=[identity.customer_id for identity in identities.values()],
        )
        .exclude(status=ConversationStatus.RESOLVED)
        .order_by("pk")
    }
    # Everyone with one message the bulk path cannot take goes one by one, in order.
    slow = {item.platform_user_id for item in incoming if not item.plain}
    for person, identity in identities.items():
        thread = threads_by_customer.get(identity.customer_id)
        if thread is not None and thread.status != ConversationStatus.OPEN:
            slow.add(person)  # pending or snoozed: reopening is message_receive's
    people = [person for person in firsts if person not in slow]
    if not people:
        return set()
    newcomers = [p for p in people if p not in identities]
    newcomers = [p for p in people if p not in identities]
    _identify_newcomers(organization, channel, newcomers, identities)
    started = _open_threads(
        organization,
        channel,
        people=people,
        firsts=firsts,
        identities=identities,
        threads_by_customer=threads_by_customer,
    )
    chosen = [(i, item) for i, item in enumerate(incoming) if item.platform_user_id not in slow]
    threads: dict[int, Conversation] = {}
    messages: list[Message] = []
    for _, item in chosen:
        identity = identities[item.platform_user_id]
        conversation = threads_by_customer[identity.customer_id]
        conversation.channel = channel
        conversation.customer = identity.customer
        threads[conversation.pk] = conversation
        messages.append(_inbound_message(organization, channel, conversation, item))
    Message.objects.bulk_create(messages)
    sla = sla_batch(organization=organization, conversations=list(threads.values()))
    changes: list[tuple[Message, Conversation, list[str]]] = []
    for (_, item), message in zip(chosen, messages, strict=True):
        conversation = threads[message.conversation_id]
        changed = ["last_message"]
        _note_inbound(conversation, item.text, item.attachments, item.sent_at, item.visibility)
        if sla_inbound(
            organization=organization, conversation=conversation, at=item.sent_at, batch=sla
        ):
            changed.append("sla")
        changes.append((message, conversation, changed))
    _save_inbound_fields(organization, list(threads.values()))
    # One conversation.updated per conversation (its final state), and none for those this
    # batch started: their conversation.created already makes every screen load them, after
    # commit, in the state this batch leaves. Fewer frames to fan out to every agent.
    updated: dict[int, list[str]] = {}
    for message, conversation, changed in changes:
        events.emit(events.message_created(message))
        if conversation.pk not in started:
            updated.setdefault(conversation.pk, [])
            updated[conversation.pk] += [c for c in changed if c not in updated[conversation.pk]]
    for conversation_id, changed in updated.items():
        events.emit(events.conversation_updated(threads[conversation_id], changed))
    for person in newcomers:  # after the events: their publishing never waits for the broker
        profile_fetch_later(organization=organization, identity=identities[person])
    return {index for index, _ in chosen}


def _identify_newcomers(
    organization: Organization,
    channel: Channel,
    newcomers: list[str],
    identities: dict[str, CustomerIdentity],
) -> None:
    """Customers and identities for people never seen on this channel, two INSERTs in all
    (a concurrent worker creating one of them first makes the batch go one by one). The
    caller asks for their profiles."""
    if not newcomers:
        return
    customers = Customer.objects.bulk_create(
        [Customer(organization=organization) for _ in newcomers]
    )
    created = CustomerIdentity.objects.bulk_create(
        [
            CustomerIdentity(
                organization=organization,
                customer=customer,
                channel=channel,
                platform_user_id=person,
            )
            for person, customer in zip(newcomers, customers, strict=True)
        ]
    )
    identities.update(zip(newcomers, created, strict=True))


def _open_threads(
    organization: Organization,
    channel: Channel,
    *,
    people: list[str],
    firsts: dict[str, Incoming],
    identities: dict[str, CustomerIdentity],
    threads_by_customer: dict[int, Conversation],
) -> set[int]:
    """A new conversation for each of `people` without an unresolved one, numbered in one go
    (the partial unique index turns a concurrent one into an IntegrityError); returns their
    ids."""
    threadless = [p for p in people if identities[p].customer_id not in threads_by_customer]
    if not threadless:
        return set()
    numbers = next_conversation_numbers(organization, len(threadless))
    created = Conversation.objects.bulk_create(
        [
            Conversation(
                organization=organization,
                number=number,
                customer=identities[person].customer,
                channel=channel,
                last_message_at=firsts[person].sent_at,
            )
            for person, number in zip(threadless, numbers, strict=True)
        ]
    )
    for conversation in created:
        threads_by_customer[conversation.customer_id] = conversation
        events.emit(events.conversation_created(conversation))
    return {conversation.pk for conversation in created}


# What a customer's message changes on their open conversation (besides its SLA summary,
# which sla_inbound stores itself).
_INBOUND_FIELDS = [
    "last_inbound_at",
    "default_visibility",
    "waiting_since",
    "last_message_at",
    "last_message_preview",
    "updated_at",
]


def _save_inbound_fields(organization: Organization, conversations: list[Conversation]) -> None:
    """One UPDATE per conversation, sent together (psycopg pipelines executemany): Django's
    bulk_update builds a CASE per field and row, which cost more CPU than the rest of the
    batch together."""
    now = timezone.now()
    for conversation in conversations:
        conversation.updated_at = now
    fields = [f for f in Conversation._meta.concrete_fields if f.name in _INBOUND_FIELDS]

    def quote(name: str | None) -> str:
        return connection.ops.quote_name(name or "")

    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    statement = (
        f"UPDATE {quote(Conversation._meta.db_table)} SET {assignments} "  # noqa: S608  # identifiers from the model, values bound
        "WHERE id = %s AND organization_id = %s"
    )
    rows = [
        [field.get_db_prep_save(getattr(c, field.attname), connection) for field in fields]
        + [c.pk, organization.pk]
        for c in conversations
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)


def _inbound_message(
    organization: Organization, channel: Channel, conversation: Conversation, item: Incoming
) -> Message:
    return Message(
        organization=organization,
        conversation=conversation,
        channel=channel,
        direction=MessageDirection.INBOUND,
        kind=MessageKind.MESSAGE,
        visibility=item.visibility,
        text=item.text,
        attachments=list(item.attachments),
        metadata=item.metadata or {},
        external_id=item.external_id,
        status=MessageStatus.RECEIVED,
        sent_at=item.sent_at,
    )


def _note_inbound(
    conversation: Conversation,
    text: str,
    attachments: Sequence[dict[str, Any]],
    sent_at: datetime,
    visibility: str,
) -> None:
    """What a customer's message changes on their conversation (the caller saves it)."""
    if conversation.last_inbound_at is None or sent_at > conversation.last_inbound_at:
        conversation.last_inbound_at = sent_at
        conversation.default_visibility = visibility
    if conversation.waiting_since is None:
        conversation.waiting_since = sent_at
    if sent_at >= conversation.last_message_at:
        conversation.last_message_at = sent_at
        conversation.last_message_preview = preview_of(text, attachments)


def _existing(organization: Organization, channel: Channel, external_id: str) -> Message | None:
    return (
        Message.objects.select_related("conversation")
        .filter(organization=organization, channel=channel, external_id=external_id)
        .first()
    )


def _by_idempotency_key(
    organization: Organization, conversation: Conversation, key: str | None
) -> Message | None:
    if key is None:
        return None
    earlier = Message.objects.filter(organization=organization, idempotency_key=key).first()
    if earlier is not None and earlier.conversation_id != conversation.pk:
        raise ConflictError(
            "This idempotency key was used for another conversation.",
            field_errors={"idempotency_key": ["Already used elsewhere."]},
        )
    return earlier


_URL = re.compile(r"https?://\S+")


def _check_text(text: str, limit: int, *, public: bool = False) -> str:
    if not text.strip():
        raise InvalidError("The message is empty.", field_errors={"text": ["Required."]})
    # Public posts count every link as a shortened one, whatever its real length.
    length = len(_URL.sub("x" * LINK_WEIGHT, text)) if public else len(text)
    if length > limit:
        raise InvalidError(
            f"The message is longer than {limit} characters.",
            field_errors={"text": [f"At most {limit} characters."]},
        )
    return text


def _insert_authored(message: Message, organization: Organization) -> tuple[Message, bool]:
    """Insert, or return the first message with the same idempotency key (concurrent retry)."""
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        if message.idempotency_key is None:
            raise
        earlier = Message.objects.get(
            organization=organization, idempotency_key=message.idempotency_key
        )
        return earlier, False
    return message, True


@scoped
@transaction.atomic
def message_send(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    text: str,
    visibility: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Message, bool]:
    """Queue an agent's reply with its outbox record; a Celery task delivers it after commit.

    The visibility follows the customer's last message unless given. Refuses before storing
    anything with ChannelPausedError when an admin paused the channel, WindowClosedError when
    the platform window is closed, InvalidError on empty
    or over-long text or a public reply where the channel has none. A repeated idempotency key
    returns the first message and created=False. The reply meets the first / next response
    SLA clocks. `actor` None is Parley itself (the auto-resolve closing message).
    """
    earlier = _by_idempotency_key(organization, conversation, idempotency_key)
    if earlier is not None:
        return earlier, False
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("channel")
        .get(organization=organization, pk=conversation.pk)
    )
    channel = conversation.channel
    if channel.status == ChannelStatus.PAUSED:
        raise ChannelPausedError()
    connector = connector_for(channel.kind)
    visibility = visibility or conversation.default_visibility
    if visibility not in Visibility.values:
        raise InvalidError("Unknown visibility.", field_errors={"visibility": ["Unknown."]})
    public = visibility == Visibility.PUBLIC
    if public and not connector.supports_public_replies:
        raise InvalidError(
            "This channel has no public replies.",
            field_errors={"visibility": ["Only private on this channel."]},
        )
    _check_text(text, connector.max_text_length(public=public), public=public)
    if public:
        post = post_to_answer(organization=organization, conversation=conversation)
        if post is None:
            raise NoPostToAnswerError()
        if post[1] is not None:
            raise PostDeletedError()
    now = timezone.now()
    window = reply_window(conversation, now=now)
    if not window.can_send:
        raise WindowClosedError(window.closes_at)
    message, created = _insert_authored(
        Message(
            organization=organization,
            conversation=conversation,
            channel=channel,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.MESSAGE,
            visibility=visibility,
            text=text,
            status=MessageStatus.QUEUED,
            author=actor.user if actor is not None else None,
            sent_at=now,
            created_at=now,
            idempotency_key=idempotency_key,
            metadata={"window": window.state},
        ),
        organization,
    )
    if not created:
        return message, False
    delivery_create(organization=organization, message=message)
    conversation.last_message_at = now
    conversation.last_message_preview = preview_of(text, ())
    conversation.waiting_since = None
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    changed = ["last_message"]
    if sla_reply(organization=organization, conversation=conversation, at=now):
        changed.append("sla")
    conversation.save()
    events.emit(events.message_created(message))
    events.emit(events.conversation_updated(conversation, changed))
    return message, True


@scoped
@transaction.atomic
def note_add(
    *,
    organization: Organization,
    actor: Membership | None,
    conversation: Conversation,
    text: str,
    idempotency_key: str | None = None,
) -> tuple[Message, bool]:
    """An internal note: visible to the team only, whatever the channel or window; never sent.

    It answers nobody, so no SLA clock changes. `actor` None is Parley itself (a follow-up's
    reminder)."""
    earlier = _by_idempotency_key(organization, conversation, idempotency_key)
    if earlier is not None:
        return earlier, False
    _check_text(text, 20_000)
    # Fresh: the event's audience is whoever holds the conversation now.
    conversation = Conversation.objects.get(organization=organization, pk=conversation.pk)
    now = timezone.now()
    message, created = _insert_authored(
        Message(
            organization=organization,
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.NOTE,
            visibility=Visibility.PRIVATE,
            text=text,
            status=MessageStatus.SENT,
            author=actor.user if actor is not None else None,
            sent_at=now,
            created_at=now,
            idempotency_key=idempotency_key,
        ),
        organization,
    )
    if created:
        events.emit(events.message_created(message))
    return message, created


ECHO_MATCH_WINDOW = timedelta(minutes=10)


@scoped
@transaction.atomic
def message_record_echo(
    *,
    organization: Organization,
    channel: Channel,
    platform_user_id: str,
    external_id: str,
    text: str,
    sent_at: datetime,
    our_message_id: int | None = None,
    from_our_app: bool = False,
    visibility: str = Visibility.PRIVATE,
    attachments: Sequence[dict[str, Any]] = (),
    profile: Profile | None = None,
    metadata: dict[str, Any] | None = None,
) -> Message | None:
    """The platform reports a message the brand sent to this customer.

    Our own sends are matched (by platform id, by the id we put in the send's metadata, or
    for X by text within a short window while the send's response is still in flight) and
    create nothing. A message the brand sent from another app is stored as an outbound
    message marked `sent_outside`, in the customer's conversation. Returns the new row or None.
    """
    known = _existing(organization, channel, external_id)
    if known is not None:
        return None
    ours = _our_send(
        organization=organization,
        channel=channel,
        platform_user_id=platform_user_id,
        our_message_id=our_message_id,
        text=text,
        sent_at=sent_at,
    )
    if ours is not None:
        if ours.external_id is None:
            ours.external_id = external_id
            if ours.status in (MessageStatus.QUEUED, MessageStatus.FAILED):
                ours.status = MessageStatus.SENT
                ours.failure_code = ours.failure_reason = ""
            ours.save(update_fields=["external_id", "status", "failure_code", "failure_reason"])
            events.emit(events.message_updated(ours, ["status", "external_id"]))
        return None
    if from_our_app or our_message_id is not None:
        return None  # ours, but its row is gone (deleted conversation): nothing to show
    identity, _ = customer_identify(
        organization=organization,
        channel=channel,
        platform_user_id=platform_user_id,
        profile=profile,
    )
    conversation = _conversation_for_brand_message(organization, identity.customer_id, channel)
    if conversation is None:
        conversation, _ = conversation_for_inbound(
            organization=organization, customer=identity.customer, channel=channel, at=sent_at
        )
        conversation.status = ConversationStatus.PENDING  # the brand wrote first
        track_pending(conversation, organization, timezone.now())
    message = Message(
        organization=organization,
        conversation=conversation,
        channel=channel,
        direction=MessageDirection.OUTBOUND,
        kind=MessageKind.MESSAGE,
        visibility=visibility,
        text=text,
        attachments=list(attachments),
        metadata=metadata or {},
        external_id=external_id,
        status=MessageStatus.SENT,
        sent_outside=True,
        sent_at=sent_at,
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        return None  # the same echo, processed concurrently
    if sent_at >= conversation.last_message_at:
        conversation.last_message_at = sent_at
        conversation.last_message_preview = preview_of(text, attachments)
    conversation.waiting_since = None
    if conversation.first_response_at is None:
        conversation.first_response_at = sent_at
    changed = ["last_message"]
    # The brand answered, from another app: the customer got their response.
    if sla_reply(organization=organization, conversation=conversation, at=sent_at):
        changed.append("sla")
    conversation.save()
    events.emit(events.message_created(message))
    events.emit(events.conversation_updated(conversation, changed))
    return message


def _our_send(
    *,
    organization: Organization,
    channel: Channel,
    platform_user_id: str,
    our_message_id: int | None,
    text: str,
    sent_at: datetime,
) -> Message | None:
    mine = (
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation")
        .filter(
            organization=organization,
            channel=channel,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.MESSAGE,
            sent_outside=False,
        )
    )
    if our_message_id is not None:
        return mine.filter(pk=our_message_id).first()
    # No metadata (X): our send whose response has not been stored yet, same text, same person.
    return (
        mine.filter(
            external_id__isnull=True,
            status=MessageStatus.QUEUED,
            text=text,
            conversation__customer__identities__channel=channel,
            conversation__customer__identities__platform_user_id=platform_user_id,
            created_at__gte=sent_at - ECHO_MATCH_WINDOW,
            created_at__lte=sent_at + ECHO_MATCH_WINDOW,
        )
        .order_by("created_at")
        .first()
    )


def _conversation_for_brand_message(
    organization: Organization, customer_id: int, channel: Channel
) -> Conversation | None:
    """The customer's open conversation, else their latest one (a resolved thread stays so)."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .filter(organization=organization, customer_id=customer_id, channel=channel)
        .order_by(
            # unresolved first, then the most recent
            models.Case(
                models.When(status=ConversationStatus.RESOLVED, then=1),
                default=0,
                output_field=models.IntegerField(),
            ),
            "-last_message_at",
        )
        .first()
    )


MOVE_TO_DM_TEXT = "Let's continue in a private message, so we can look at your details:"


@scoped
@transaction.atomic
def message_delete_by_author(
    *,
    organization: Organization,
    channel: Channel,
    external_id: str,
    deleted_at: datetime,
) -> Message | None:
    """The author deleted their post on the platform: its content goes from Parley too.

    The message keeps its row, so the thread still shows that something was said and a
    redelivered post stays a duplicate, but its text and attachments are removed and it is
    marked deleted. A tombstone (DeletedPost) is kept whether or not the post was stored, so a
    post delivered after its deletion (an X replay job) stores nothing. Idempotent; returns
    the message it emptied, if any.
    """
    DeletedPost.objects.bulk_create(
        [
            DeletedPost(
                organization=organization,
                channel=channel,
                external_id=external_id,
                deleted_at=deleted_at,
            )
        ],
        ignore_conflicts=True,
    )
    message = (
        Message.objects.select_for_update()
        .select_related("conversation")
        .filter(organization=organization, channel=channel, external_id=external_id)
        .first()
    )
    if message is None or message.deleted_at is not None:
        return None
    message.text = ""
    message.attachments = []
    message.metadata = {k: v for k, v in message.metadata.items() if k != "display_text_range"}
    message.deleted_at = deleted_at
    message.save(update_fields=["text", "attachments", "metadata", "deleted_at"])
    events.emit(events.message_updated(message, ["text", "attachments", "deleted_at"]))

    conversation = message.conversation
    latest = (
        Message.objects.filter(organization=organization, conversation=conversation)
        .exclude(kind=MessageKind.NOTE)
        .order_by("-sent_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if latest == message.pk:
        conversation.last_message_preview = DELETED_PREVIEW
        conversation.save(update_fields=["last_message_preview", "updated_at"])
        events.emit(events.conversation_updated(conversation, ["last_message"]))
    return message


@scoped
@transaction.atomic
def conversation_move_to_dm(
    *,
    organization: Organization,
    actor: Membership,
    conversation: Conversation,
    text: str = "",
    idempotency_key: str | None = None,
) -> tuple[Message, bool]:
    """Answer publicly with a link that opens a private conversation, and make private the
    thread's default from now on (PROTOCOLS.md 2.9). Raises InvalidError where the channel
    has no public side; the window and length rules of message_send apply."""
    channel = conversation.channel
    connector = connector_for(channel.kind)
    link = connector.move_to_dm_link(channel_external_id=channel.external_id)
    if link is None:
        raise InvalidError(
            "This channel is private already.",
            field_errors={"conversation": ["Move to DM needs a channel with public posts."]},
        )
    intro = (text or MOVE_TO_DM_TEXT).strip()
    limit = connector.max_text_length(public=True) - LINK_WEIGHT - 1
    if len(intro) > limit:
        raise InvalidError(
            f"The public part is longer than {limit} characters.",
            field_errors={"text": [f"At most {limit} characters before the link."]},
        )
    message, created = message_send(
        organization=organization,
        actor=actor,
        conversation=conversation,
        text=f"{intro} {link}",
        visibility=Visibility.PUBLIC,
        idempotency_key=idempotency_key,
    )
    Conversation.objects.filter(organization=organization, pk=conversation.pk).update(
        default_visibility=Visibility.PRIVATE
    )
    return message, created
