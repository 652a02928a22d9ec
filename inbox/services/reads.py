"""What each person has read: moves their read marker forward when a thread is shown to them."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox.models import Conversation, ConversationRead, Membership, Organization
from inbox.tenancy import scoped


@scoped
@transaction.atomic
def conversation_mark_read(
    *,
    organization: Organization,
    actor: Membership,
    conversation: Conversation,
    last_message_id: int,
) -> None:
    """Record that `actor` has seen `conversation` up to message `last_message_id`.

    The marker only moves forward (a stale tab cannot mark newer messages unread again), and
    two tabs marking at once are safe: the unique (user, conversation) row decides. Publishes
    nothing: read markers are personal.
    """
    if last_message_id <= 0:
        return
    mine = ConversationRead.objects.filter(
        organization=organization, user_id=actor.user_id, conversation=conversation
    )
    marker = mine.values_list("last_read_message_id", flat=True).first()
    if marker is None:
        try:
            with transaction.atomic():
                ConversationRead.objects.create(
                    organization=organization,
                    user_id=actor.user_id,
                    conversation=conversation,
                    last_read_message_id=last_message_id,
                    updated_at=timezone.now(),
                )
        except IntegrityError:
            marker = 0  # another tab created it a moment ago: move theirs forward below
        else:
            return
    if marker < last_message_id:
        mine.filter(last_read_message_id__lt=last_message_id).update(
            last_read_message_id=last_message_id, updated_at=timezone.now()
        )
