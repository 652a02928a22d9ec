"""The real path: a Celery worker process on Redis delivers a reply stored in PostgreSQL,
retrying through injected server errors, and sends it exactly once."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from connectors.fake_platform import FakePlatform
from inbox.models import Membership, Message, MessageStatus
from inbox.services.messages import message_send
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory, MembershipFactory
from tests.support.processes import celery_worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own, so no other test's tasks reach its worker."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous


@pytest.fixture
def worker(queue: str, fake: FakePlatform) -> Iterator[None]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "META_GRAPH_URL": fake.graph_url,
        "TWITTER_API_URL": fake.url,
        "CELERY_QUEUE": queue,
        "DEBUG": "1",
    }
    with celery_worker(env):
        yield


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_retries_through_server_errors_and_sends_once(
    fake: FakePlatform, worker: None
) -> None:
    agent: Membership = MembershipFactory()
    page = ChannelFactory(organization=agent.organization, kind="messenger")
    identity = IdentityFactory(customer__organization=agent.organization, channel=page)
    conversation = ConversationFactory(
        customer=identity.customer,
        channel=page,
        last_inbound_at=timezone.now() - timedelta(minutes=1),
    )
    fake.fail_next(2, status=500)
    started = time.monotonic()
    message, _ = message_send(
        organization=agent.organization, actor=agent, conversation=conversation, text="Hi!"
    )

    def sent() -> bool:
        return Message.all_tenants.get(pk=message.pk).status == MessageStatus.SENT

    assert _wait_for(sent, 60), f"not sent; platform saw {[r.status for r in fake.sends()]}"
    assert time.monotonic() - started < 60
    assert [r.status for r in fake.sends()] == [500, 500, 200]
    time.sleep(1)
    assert len(fake.sends()) == 3, "sent exactly once"
