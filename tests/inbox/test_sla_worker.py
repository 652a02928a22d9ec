"""End to end on the production shape: a Celery worker with beat on Redis sweeps the SLA clocks
of PostgreSQL, and the warning and then the breach reach a browser's websocket on a separate
server process, with no request from anyone."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from inbox.models import Role, SLAClock
from inbox.services.customers import Profile
from inbox.services.messages import message_receive
from tests.factories import ChannelFactory, MembershipFactory, SLAPolicyFactory
from tests.support.processes import asgi_server, celery_worker, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def env() -> dict[str, str]:
    """Server and worker share the database, Redis, a queue and a realtime namespace of this
    test's own."""
    return production_env(
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
        REALTIME_PREFIX=f"parley-test-{uuid.uuid4().hex[:8]}",
        CELERY_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # The beat schedule also checks webhook subscriptions: keep them on loopback, where
        # nothing listens (the check fails and is recorded; no test talks to the internet).
        META_GRAPH_URL="http://127.0.0.1:9/v25.0",
        TWITTER_API_URL="http://127.0.0.1:9",
    )


@pytest.fixture
def worker_with_beat(env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    """`celery worker --beat`: the beat schedule of settings (the timer sweep every second)."""
    with celery_worker(env, "--beat", "--schedule", str(tmp_path / "beat-schedule")):
        yield


async def _sla_frames(url: str, cookie: str, origin: str, trigger: Any) -> list[dict[str, Any]]:
    """Connect, let `trigger` start a clock, and collect SLA frames until a breach and a few
    quiet seconds after it (a second announcement would show up there)."""
    frames: list[dict[str, Any]] = []
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=10
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello"
        await asyncio.to_thread(trigger)
        deadline = time.monotonic() + 60
        quiet_until: float | None = None
        while time.monotonic() < (quiet_until or deadline):
            try:
                raw = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            frame = json.loads(raw)
            if frame.get("type") == "event" and frame["event"].startswith("sla."):
                frame["received_at"] = timezone.now()
                frames.append(frame)
                if frame["event"] == "sla.breached" and quiet_until is None:
                    quiet_until = time.monotonic() + 4
    return frames


def test_a_breach_reaches_the_browser_from_worker_and_beat(
    env: dict[str, str], worker_with_beat: None
) -> None:
    supervisor = MembershipFactory(role=Role.SUPERVISOR)
    organization = supervisor.organization
    SLAPolicyFactory(organization=organization, first_response_minutes=1)
    channel = ChannelFactory(organization=organization)
    browser = Client()
    browser.force_login(supervisor.user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    started: dict[str, Any] = {}

    def customer_writes() -> None:
        # Written 56 seconds ago: warned at once (75 % of a minute), due in 4 seconds.
        try:
            received = message_receive(
                organization=organization,
                channel=channel,
                platform_user_id="psid-e2e",
                external_id="m-e2e",
                text="Is anyone there?",
                sent_at=timezone.now() - timedelta(seconds=56),
                profile=Profile(display_name="Ada"),
            )
            started["conversation"] = received.conversation
        finally:
            connection.close()  # this thread's own connection, before the test database goes

    with asgi_server(env) as base:
        ws_url = base.replace("http://", "ws://") + f"/ws/o/{organization.slug}/"
        frames = asyncio.run(_sla_frames(ws_url, cookie, base, customer_writes))
    conversation = started["conversation"]
    clock = SLAClock.all_tenants.get(conversation=conversation, metric="first_response")
    assert [f["event"] for f in frames] == ["sla.warning", "sla.breached"], frames
    breach = frames[-1]
    assert breach["conversation_id"] == conversation.pk
    assert breach["payload"]["metric"] == "first_response"
    due = clock.due_at
    assert due is not None
    assert datetime.fromisoformat(breach["payload"]["due_at"]) == due
    assert clock.state == "breached"
    latency = (breach["received_at"] - due).total_seconds()
    assert 0 <= latency < 10, f"the breach reached the browser {latency:.1f} s after its time"
