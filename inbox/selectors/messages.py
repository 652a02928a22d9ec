"""Thread history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from inbox.models import (
    Channel,
    Conversation,
    CustomerIdentity,
    Delivery,
    Message,
    MessageDirection,
    Organization,
    Visibility,
)
from inbox.tenancy import scoped, tenant_scope


@scoped
def message_list(*, organization: Organization, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages and notes in platform-time order (arrival breaks ties)."""
    return Message.objects.filter(organization=organization, conversation=conversation).order_by(
        "sent_at", "id"
    )


@scoped
def thread_messages(
    *, organization: Organization, conversation: Conversation, after_id: int = 0
) -> QuerySet[Message]:
    """The conversation's messages with their authors, in thread order; with `after_id`, only
    those stored after that message (what a live thread has not shown yet)."""
    queryset = Message.objects.filter(
        organization=organization, conversation=conversation, id__gt=after_id
    )
    return queryset.select_related("author").order_by("sent_at", "id")


@dataclass(frozen=True)
class DeliveryContext:
    conversation: Conversation
    channel: Channel
    recipient_id: str
    in_reply_to: str | None  # a public reply: the customer's latest public post
    in_reply_to_deleted: bool = False  # ... which its author deleted


def delivery_for_attempt(*, organization_id: int, delivery_id: int) -> Delivery:
    """The outbox row with everything one delivery attempt reads, in one query: the
    organization, the message, its conversation and channel, and the customer's platform id on
    that channel (annotated as `recipient_id`, None when the identity is gone).

    Raises Delivery.DoesNotExist.
    """
    with tenant_scope(organization_id):
        recipient = CustomerIdentity.objects.filter(
            organization_id=OuterRef("organization_id"),
            customer_id=OuterRef("message__conversation__customer_id"),
            channel_id=OuterRef("message__conversation__channel_id"),
        ).values("platform_user_id")[:1]
        return (
            Delivery.objects.select_related("organization", "message__conversation__channel")
            .annotate(recipient_id=Subquery(recipient))
            .get(organization_id=organization_id, pk=delivery_id)
        )


@scoped
def delivery_context(*, organization: Organization, delivery: Delivery) -> DeliveryContext:
    """What sending the delivery's message needs: its channel, the customer's platform id
    there and, for a public reply, the customer's latest public post it answers.

    No query for a delivery loaded by `delivery_for_attempt`, except the public post.
    Raises CustomerIdentity.DoesNotExist when the customer has no identity on the channel.
    """
    message = delivery.message
    conversation = message.conversation
    recipient_id = getattr(delivery, "recipient_id", None)
    if recipient_id is None:  # not loaded by delivery_for_attempt, or the identity is gone
        recipient_id = (
            CustomerIdentity.objects.filter(
                organization=organization,
                customer_id=conversation.customer_id,
                channel_id=conversation.channel_id,
            )
            .values_list("platform_user_id", flat=True)
            .first()
        )
    if recipient_id is None:
        raise CustomerIdentity.DoesNotExist(f"no identity for conversation {conversation.pk}")
    post = None
    if message.visibility == Visibility.PUBLIC:
        post = post_to_answer(organization=organization, conversation=conversation)
    in_reply_to, deleted_at = post or (None, None)
    return DeliveryContext(
        conversation, conversation.channel, str(recipient_id), in_reply_to, deleted_at is not None
    )


@scoped
def post_to_answer(
    *, organization: Organization, conversation: Conversation
) -> tuple[str | None, datetime | None] | None:
    """What a public reply answers: the customer's latest public post on the conversation's
    channel, as (platform id, when its author deleted it); None when they have posted none."""
    post: tuple[str | None, datetime | None] | None = (
        Message.objects.filter(
            organization=organization,
            conversation__customer_id=conversation.customer_id,
            channel_id=conversation.channel_id,
            direction=MessageDirection.INBOUND,
            visibility=Visibility.PUBLIC,
        )
        .order_by("-sent_at", "-id")
        .values_list("external_id", "deleted_at")
        .first()
    )
    return post
