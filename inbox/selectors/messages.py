"""Thread history."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from inbox.models import (
    Channel,
    Conversation,
    CustomerIdentity,
    Message,
    MessageDirection,
    Organization,
    Visibility,
)
from inbox.tenancy import scoped


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
    in_reply_to: str | None


@scoped
def delivery_context(*, organization: Organization, message: Message) -> DeliveryContext:
    """What sending `message` needs: its channel, the customer's platform id there and, for a
    public reply, the customer's latest public post it answers."""
    conversation = Conversation.objects.select_related("channel", "customer").get(
        organization=organization, pk=message.conversation_id
    )
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
    in_reply_to = None
    if message.visibility == Visibility.PUBLIC:
        in_reply_to = (
            Message.objects.filter(
                organization=organization,
                conversation__customer_id=conversation.customer_id,
                channel_id=conversation.channel_id,
                direction=MessageDirection.INBOUND,
                visibility=Visibility.PUBLIC,
            )
            .order_by("-sent_at", "-id")
            .values_list("external_id", flat=True)
            .first()
        )
    return DeliveryContext(conversation, conversation.channel, recipient_id, in_reply_to)
