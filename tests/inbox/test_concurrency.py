"""The same event processed twice at the same moment on two connections (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from inbox.models import Conversation, Customer, CustomerIdentity, Message
from inbox.services.messages import message_receive
from tests.factories import ChannelFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4
ROUNDS = 10


def _race(target: Any, args_list: list[tuple[Any, ...]]) -> list[Any]:
    barrier = threading.Barrier(len(args_list))
    results: list[Any] = [None] * len(args_list)
    errors: list[BaseException] = []

    def run(i: int, args: tuple[Any, ...]) -> None:
        try:
            barrier.wait()
            results[i] = target(*args)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return results


def test_simultaneous_duplicate_deliveries_create_one_of_everything() -> None:
    channel = ChannelFactory()
    sent_at = timezone.now() - timedelta(minutes=1)

    def deliver(round_no: int) -> Any:
        return message_receive(
            organization=channel.organization,
            channel=channel,
            platform_user_id=f"psid-{round_no}",
            external_id=f"m_{round_no}",
            text=f"hello {round_no}",
            sent_at=sent_at,
        )

    for round_no in range(ROUNDS):
        results = _race(deliver, [(round_no,)] * WORKERS)
        assert sum(r.created for r in results) == 1
        assert len({r.message.pk for r in results}) == 1
    assert Message.all_tenants.count() == ROUNDS
    assert Customer.all_tenants.count() == ROUNDS
    assert CustomerIdentity.all_tenants.count() == ROUNDS
    assert Conversation.all_tenants.count() == ROUNDS
    numbers = sorted(Conversation.all_tenants.values_list("number", flat=True))
    assert numbers == list(range(1, ROUNDS + 1))


def test_simultaneous_different_messages_of_one_customer_share_one_thread() -> None:
    channel = ChannelFactory()
    sent_at = timezone.now() - timedelta(minutes=1)

    def deliver(n: int) -> Any:
        return message_receive(
            organization=channel.organization,
            channel=channel,
            platform_user_id="same-person",
            external_id=f"m_{n}",
            text=f"part {n}",
            sent_at=sent_at + timedelta(seconds=n),
        )

    results = _race(deliver, [(n,) for n in range(WORKERS)])
    assert all(r.created for r in results)
    assert Conversation.all_tenants.count() == 1
    assert Message.all_tenants.count() == WORKERS
