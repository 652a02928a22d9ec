"""The whole stack for browser tests: the production ASGI server and a Celery worker on the
test's PostgreSQL database and Redis, a fake of the platforms, and Debian's chromium driven by
Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from connectors.fake_platform import FakePlatform
from tests.support.processes import ROOT, AsgiServer, celery_worker, production_env, running_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
META_SECRET = "e2e-meta-secret"
X_SECRET = "e2e-x-secret"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Stack:
    url: str
    fake: FakePlatform
    env: dict[str, str]
    server: AsgiServer  # stop() and start() again at the same URL: a restart or a deploy


@pytest.fixture
def stack(transactional_db: None, settings: object) -> Iterator[Stack]:
    """Server + worker on this test's database; `settings` of the test process are aligned so
    that signing, encryption and sessions agree with the servers'."""
    suffix = uuid.uuid4().hex[:8]
    with FakePlatform() as fake:
        env = production_env(
            DATABASE_URL=_database_url(),
            REDIS_URL=settings.REDIS_URL,  # type: ignore[attr-defined]  # the settings fixture
            SECRET_KEY=settings.SECRET_KEY,  # type: ignore[attr-defined]  # as above
            FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),  # type: ignore[attr-defined]  # as above
            META_APP_SECRET=META_SECRET,
            TWITTER_CONSUMER_SECRET=X_SECRET,
            META_GRAPH_URL=fake.graph_url,
            TWITTER_API_URL=fake.url,
            CELERY_QUEUE=f"e2e-{suffix}",
            REALTIME_PREFIX=f"e2e-{suffix}",
            ALLOWED_HOSTS="127.0.0.1,localhost",
        )
        settings.META_APP_SECRET = META_SECRET  # type: ignore[attr-defined]  # signing in tests
        settings.TWITTER_CONSUMER_SECRET = X_SECRET  # type: ignore[attr-defined]  # as above
        with celery_worker(env), running_server(env) as server:
            yield Stack(url=server.url, fake=fake, env=env, server=server)


@pytest.fixture(autouse=True)
def _fast_password_hashing() -> None:
    """Overrides the suite's fast hasher: the server process checks passwords with the real
    hashers, so users made here must be hashed by them."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium per test module. Not per session: while Playwright runs, its event loop
    runs on this thread, and the tests collected after this directory (asyncio.run,
    async_to_sync) would find it there."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
    # still synchronous and safe (Playwright's documented setting for Django).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


# How long to wait for anything without a contract of its own (a page load, a sign-in): long
# enough for a busy CI machine. Waits the contract times ("within 2 s") pass their own timeout.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def artifacts_dir() -> Path:
    path = Path(os.environ.get("PARLEY_E2E_ARTIFACTS", ROOT / "docs"))
    path.mkdir(parents=True, exist_ok=True)
    return path
