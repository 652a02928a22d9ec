"""Shared fixtures. Under PARLEY_REQUIRE_SERVICES=1 (CI) a test that needs PostgreSQL or Redis
fails when the service is missing instead of skipping."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django.conf import settings
from rest_framework.test import APIClient

from config.celery import app as celery_app
from inbox.api.tokens import token_for
from inbox.events import Event
from inbox.models import Membership, Role
from inbox.realtime import event_log
from tests.factories import ChannelFactory, MembershipFactory, OrganizationFactory

REQUIRE_SERVICES = os.environ.get("PARLEY_REQUIRE_SERVICES") == "1"


def _missing(item: pytest.Item, what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (PARLEY_REQUIRE_SERVICES=1) but not configured")
    pytest.skip(f"needs {what}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if (
        item.get_closest_marker("postgres")
        and "postgresql" not in settings.DATABASES["default"]["ENGINE"]
    ):
        _missing(item, "PostgreSQL (DATABASE_URL)")
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        _missing(item, "Redis (REDIS_URL)")


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every event services publish after commit, in order."""
    seen: list[Event] = []
    monkeypatch.setattr("inbox.realtime.publish", seen.append)
    return seen


def api_client(membership: Membership) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(membership.user)}")
    return client


@pytest.fixture
def make_member(db: Any) -> Callable[..., Membership]:
    def make(role: str = Role.AGENT, **kwargs: Any) -> Membership:
        membership: Membership = MembershipFactory(role=role, **kwargs)
        return membership

    return make


@pytest.fixture
def agent(make_member: Callable[..., Membership]) -> Membership:
    return make_member(Role.AGENT)


@pytest.fixture
def admin(agent: Membership, make_member: Callable[..., Membership]) -> Membership:
    return make_member(Role.ADMIN, organization=agent.organization)


@pytest.fixture
def supervisor(agent: Membership, make_member: Callable[..., Membership]) -> Membership:
    return make_member(Role.SUPERVISOR, organization=agent.organization)


@pytest.fixture
def channel(agent: Membership) -> Any:
    return ChannelFactory(organization=agent.organization)


@pytest.fixture
def other_org(db: Any) -> Any:
    return OrganizationFactory()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests create many users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_runs_inline() -> Iterator[None]:
    """Tests run tasks in-process even when REDIS_URL is set; the worker tests opt out."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _no_real_platforms(settings: Any) -> None:
    """Tests talk only to loopback: unless a test points them at a fake, platform calls go to
    a closed local port and fail at once."""
    settings.META_GRAPH_URL = "http://127.0.0.1:9/v25.0"
    settings.TWITTER_API_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _webhooks_go_to_the_workers(settings: Any) -> None:
    """The receiver hands every accepted event to Celery (eager here) unless a test opts in to
    inline processing, which runs in a thread of its own with its own connection."""
    settings.WEBHOOK_INLINE_SLOTS = 0


@pytest.fixture(autouse=True, scope="session")
def _own_realtime_namespace(worker_id: str) -> Iterator[None]:
    """Parallel test processes share one Redis: give each its own keys and groups. Random, not
    just the pid: the realtime log and sequence keys never expire, and a later run whose worker
    got the same pid (a fresh CI container) would start from this run's events."""
    prefix = f"parley-test-{worker_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    previous_prefix = settings.REALTIME_PREFIX
    previous_layers = settings.CHANNEL_LAYERS
    settings.REALTIME_PREFIX = prefix
    layer: dict[str, Any] = dict(settings.CHANNEL_LAYERS["default"])
    if "CONFIG" in layer:
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": prefix}
        settings.CHANNEL_LAYERS = {"default": layer}
    channel_layers.backends = {}
    event_log.cache_clear()
    yield
    settings.REALTIME_PREFIX = previous_prefix
    settings.CHANNEL_LAYERS = previous_layers
    channel_layers.backends = {}
    event_log.cache_clear()
