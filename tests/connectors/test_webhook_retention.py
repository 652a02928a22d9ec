"""Raw webhook events are kept for WEBHOOK_RETENTION_DAYS once done with; failed ones stay
for a replay whatever their age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.tasks import prune_webhook_events
from inbox.models import WebhookEvent, WebhookEventStatus
from inbox.services import webhooks

pytestmark = pytest.mark.django_db


def _event(status: str, age_days: float, processed_days: float | None = None) -> WebhookEvent:
    now = timezone.now()
    return WebhookEvent.all_tenants.create(
        kind="messenger",
        body=b"{}",
        status=status,
        received_at=now - timedelta(days=age_days),
        processed_at=None if processed_days is None else now - timedelta(days=processed_days),
    )


def test_done_events_past_the_retention_go_and_everything_else_stays(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBHOOK_RETENTION_DAYS = 30
    monkeypatch.setattr(webhooks, "PRUNE_CHUNK", 2)  # several chunks
    old = [_event(WebhookEventStatus.PROCESSED, 31) for _ in range(3)]
    old.append(_event(WebhookEventStatus.IGNORED, 45))
    old.append(_event(WebhookEventStatus.PROCESSED, 40, processed_days=35))
    kept = [
        _event(WebhookEventStatus.PROCESSED, 29),
        _event(WebhookEventStatus.PROCESSED, 60, processed_days=2),  # failed long, replayed now
        _event(WebhookEventStatus.FAILED, 90),  # for replay_webhooks --failed
        _event(WebhookEventStatus.RECEIVED, 31),  # not processed yet: never dropped
    ]

    assert prune_webhook_events() == len(old)

    assert set(WebhookEvent.all_tenants.values_list("pk", flat=True)) == {e.pk for e in kept}
    assert prune_webhook_events() == 0
