"""Follow-ups: "check on this conversation at <time>", with a note for whoever does."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from inbox import events
from inbox.errors import ConflictError, InvalidError
from inbox.models import Conversation, FollowUp, Membership, Organization
from inbox.tenancy import scoped

MAX_AHEAD = timedelta(days=366)
MAX_NOTE = 2000


@scoped
@transaction.atomic
def follow_up_create(
    *,
    organization: Organization,
    actor: Membership,
    conversation: Conversation,
    at: datetime,
    note: str = "",
) -> FollowUp:
    """Schedule a follow-up by `actor`: at `at` the conversation reopens, goes back to them
    if they are still a member, and shows `note`. Raises InvalidError unless `at` is in the
    future (within a year) and the note fits."""
    now = timezone.now()
    if at <= now:
        raise InvalidError("Follow up at a future time.", field_errors={"at": ["In the future."]})
    if at > now + MAX_AHEAD:
        raise InvalidError("Follow up within a year.", field_errors={"at": ["Within a year."]})
    if len(note) > MAX_NOTE:
        raise InvalidError(
            "The note is too long.", field_errors={"note": [f"At most {MAX_NOTE} characters."]}
        )
    follow_up = FollowUp.objects.create(
        organization=organization,
        conversation=conversation,
        at=at,
        note=note.strip(),
        created_by=actor.user,
        assign_back_to=actor.user,
    )
    events.emit(events.conversation_updated(conversation, ["follow_ups"]))
    return follow_up


@scoped
@transaction.atomic
def follow_up_cancel(
    *, organization: Organization, actor: Membership, follow_up: FollowUp
) -> FollowUp:
    """Cancel a follow-up that has not happened yet (cancelling twice is harmless). Raises
    ConflictError when it already happened."""
    locked = FollowUp.objects.select_for_update().get(organization=organization, pk=follow_up.pk)
    if locked.done_at is not None:
        raise ConflictError("This follow-up already happened.")
    if locked.cancelled_at is None:
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["cancelled_at"])
        conversation = Conversation.objects.get(
            organization=organization, pk=locked.conversation_id
        )
        events.emit(events.conversation_updated(conversation, ["follow_ups"]))
    return locked
