"""Thread history."""

from __future__ import annotations

from django.db.models import QuerySet

from inbox.models import Conversation, Message, Organization
from inbox.tenancy import scoped


@scoped
def message_list(*, organization: Organization, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages and notes in platform-time order (arrival breaks ties)."""
    return Message.objects.filter(organization=organization, conversation=conversation).order_by(
        "sent_at", "id"
    )
