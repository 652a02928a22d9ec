"""What the delivery tests share: an agent's reply through the API, and the outbox made due."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from inbox.models import Conversation, Delivery, DeliveryStatus, Membership, Message
from tests.conftest import api_client


def reply(
    agent: Membership, conversation: Conversation, text: str, capture: Any, **fields: Any
) -> Message:
    """POST the reply as the agent; the outbox task runs when the request commits (`capture`
    is pytest-django's django_capture_on_commit_callbacks)."""
    url = f"/api/v1/orgs/{agent.organization.slug}/conversations/{conversation.pk}/messages/"
    with capture(execute=True):
        response = api_client(agent).post(url, {"text": text, **fields}, format="json")
    assert response.status_code == 201, response.json()
    return Message.all_tenants.get(pk=response.json()["id"])


def make_deliveries_due() -> None:
    """Skip the backoff: every pending delivery may be tried now."""
    Delivery.all_tenants.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )
