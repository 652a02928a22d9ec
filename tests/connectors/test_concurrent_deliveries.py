"""The same signed webhook arriving at the same moment on several connections (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from connectors.messenger.fixtures import load
from inbox.models import Conversation, Customer, Message, WebhookEvent
from tests.connectors.conftest import PAGE_ID, post_webhook
from tests.factories import ChannelFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4


def test_simultaneous_redeliveries_through_the_endpoint_store_one_message() -> None:
    ChannelFactory(kind="messenger", external_id=PAGE_ID)
    body = load("text_message")
    barrier = threading.Barrier(WORKERS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            client = Client()
            barrier.wait()
            statuses.append(post_webhook(client, "messenger", body).status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert statuses == [200] * WORKERS
    assert WebhookEvent.all_tenants.count() == WORKERS, "every delivery is kept raw"
    assert Message.all_tenants.count() == 1
    assert Customer.all_tenants.count() == 1
    assert Conversation.all_tenants.count() == 1
