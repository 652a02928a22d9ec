"""Two workers whose sends meet the same expired X token at the same time (PostgreSQL).

X rotates refresh tokens, so only one of them may spend it: the other waits for the channel's
row lock and sends with the token the first one stored.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from connectors.fake_platform import BRAND_X_USER_ID, FakePlatform
from inbox.models import (
    Channel,
    ChannelStatus,
    Delivery,
    Membership,
    Message,
    MessageDirection,
    MessageStatus,
)
from inbox.tasks import deliver_message
from tests.connectors.twitter.conftest import REFRESH
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    IdentityFactory,
    MembershipFactory,
    MessageFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXPIRED_ACCESS = "x-access-expired-Cc1R"
WORKERS = 2


def _queued_replies(count: int) -> tuple[Channel, list[Delivery]]:
    """Replies stored with their outbox rows but not yet attempted, each to its own customer."""
    agent: Membership = MembershipFactory()
    brand: Channel = ChannelFactory(
        organization=agent.organization,
        kind="twitter",
        external_id=BRAND_X_USER_ID,
        credentials={"access_token": EXPIRED_ACCESS, "refresh_token": REFRESH},
    )
    deliveries = []
    for n in range(count):
        identity = IdentityFactory(
            customer__organization=agent.organization,
            channel=brand,
            platform_user_id=f"98765432{n}",
        )
        conversation = ConversationFactory(
            customer=identity.customer,
            channel=brand,
            last_inbound_at=timezone.now() - timedelta(minutes=2),
        )
        message = MessageFactory(
            conversation=conversation,
            direction=MessageDirection.OUTBOUND,
            status=MessageStatus.QUEUED,
            external_id=None,
            author=agent.user,
        )
        deliveries.append(
            Delivery.all_tenants.create(organization=brand.organization, message=message)
        )
    return brand, deliveries


def test_two_workers_meeting_the_same_401_renew_once_and_both_send(
    fake: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.twitter")
    brand, deliveries = _queued_replies(WORKERS)
    # The first renewal takes a while, so the other worker meets its 401 meanwhile.
    fake.delay_next(1, 1.0, on="token")
    barrier = threading.Barrier(WORKERS)
    results: list[str] = []
    errors: list[BaseException] = []

    def work(delivery: Delivery) -> None:
        try:
            barrier.wait()
            results.append(deliver_message(brand.organization_id, delivery.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(d,)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert results == ["sent"] * WORKERS
    assert len(fake.token_requests()) == 1, "the refresh token was spent once"
    [(new_access, new_refresh)] = fake.issued_x_tokens()
    sends = sorted((r.status, r.headers["authorization"]) for r in fake.sends())
    assert (
        sends
        == [(201, f"Bearer {new_access}")] * WORKERS + [(401, f"Bearer {EXPIRED_ACCESS}")] * WORKERS
    )
    assert caplog.text.count("sending with the access token renewed meanwhile") == 1
    statuses = Message.all_tenants.filter(delivery__in=deliveries).values_list("status", flat=True)
    assert list(statuses) == [MessageStatus.SENT] * WORKERS
    stored = Channel.all_tenants.get(pk=brand.pk)
    assert stored.status == ChannelStatus.ACTIVE
    assert (stored.credentials or {})["access_token"] == new_access
    assert (stored.credentials or {})["refresh_token"] == new_refresh
