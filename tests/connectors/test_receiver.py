"""The ASGI webhook receiver on PostgreSQL: the same answers and the same stored rows as the
Django view, the checks Django would make (host, body size), one enqueue per accepted POST,
and a connection pool that closes.

The receiver stores through its own pooled connections, so these tests commit for real
(transaction=True) and read what either path stored from the test's own connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import connection

from config.asgi import application, django_asgi_app
from connectors import ingest, store
from connectors import receiver as receiver_module
from connectors import views as views_module
from connectors.messenger.fixtures import load
from connectors.receiver import WebhookReceiver
from connectors.simulation import messenger_messages, messenger_text, now_ms, sign, twitter_dm
from connectors.tasks import enqueue as real_enqueue
from inbox.models import Channel, Message, WebhookEvent, WebhookEventStatus
from tests.connectors.conftest import BRAND_X_ID, META_SECRET, PAGE_ID
from tests.factories import ChannelFactory, ConversationFactory, IdentityFactory
from tests.support.processes import asgi_server, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOST = "testserver"  # allowed in tests: the test environment adds it to ALLOWED_HOSTS
OTHER_PAGE_ID = "104857600654321"
UNKNOWN_PAGE_ID = "104857600999999"
USER_AGENT = "facebookexternalua"
# What Django's middleware adds to every response it makes: the receiver sends none of it.
DJANGO_ONLY_HEADER = "x-frame-options"


# ---- an ASGI client ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


class Spy:
    """The wrapped application, recording what reached it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append((scope.get("method", ""), scope["path"]))
        await self.app(scope, receive, send)


async def call(
    app: Any,
    path: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    method: str = "POST",
    host: str = HOST,
    query: str = "",
    chunk: int | None = None,
) -> Answer:
    """One HTTP request through `app` as an ASGI server makes it; the body arrives in `chunk`
    sized pieces when given. The client stays connected until the application returns."""
    raw = [(b"host", host.encode())] + [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers or []
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    size = chunk or max(1, len(body))
    pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for index, piece in enumerate(pieces):
        more = index < len(pieces) - 1
        incoming.put_nowait({"type": "http.request", "body": piece, "more_body": more})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await incoming.get()  # after the body: waits, as a connected client does

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return Answer(
        status=start["status"],
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        headers={k.decode().lower(): v.decode() for k, v in start.get("headers", [])},
    )


async def settle() -> None:
    """Wait for this loop's hand-overs to the workers, then close its webhook pool."""
    try:
        await receiver_module._handoff().drain()
    finally:
        receiver_module._handoffs.pop(asyncio.get_running_loop(), None)
        await store.close()


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run `scenario` on an event loop of its own, then let it settle (`settle`). Sync code it
    reaches (Django's views) runs in this thread, on the test's connection."""

    async def main() -> Any:
        try:
            return await scenario()
        finally:
            await settle()

    return async_to_sync(main)()


def post(app: Any, kind: str, body: bytes, headers: list[tuple[str, str]], **kwargs: Any) -> Answer:
    result: Answer = run(lambda: call(app, f"/webhooks/{kind}/", body, headers, **kwargs))
    return result


def signed(kind: str, body: bytes) -> list[tuple[str, str]]:
    return [
        *sign(kind, body).items(),
        ("Content-Type", "application/json"),
        ("User-Agent", USER_AGENT),
    ]


def unsigned() -> list[tuple[str, str]]:
    return [("Content-Type", "application/json"), ("User-Agent", USER_AGENT)]


# ---- what either path stored ---------------------------------------------------------------


def stored() -> list[dict[str, Any]]:
    """Every stored webhook event, without what differs by nature (id, received_at)."""
    return [
        {
            "kind": event.kind,
            "status": event.status,
            "error": event.error,
            "organization_id": event.organization_id,
            "channel_id": event.channel_id,
            "body": bytes(event.body),
            "headers": event.headers,
            "attempts": event.attempts,
            "next_attempt_at": event.next_attempt_at,
            "processed_at": event.processed_at,
        }
        for event in WebhookEvent.all_tenants.order_by("pk")
    ]


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Event ids either path hands to the workers (processing itself is tested apart)."""
    seen: list[int] = []
    # The view binds `enqueue` when first imported: imported at the top of this module, it is
    # bound to the real one, never to a stand-in that would outlive the test (an unpatched
    # views.enqueue left as a list's append made later tests' webhooks go unprocessed).
    monkeypatch.setattr(views_module, "enqueue", seen.append)
    monkeypatch.setattr("connectors.tasks.enqueue", seen.append)  # the receiver's hand-over
    return seen


# ---- parity with the Django view -----------------------------------------------------------


def _two_entries_body(second_page: str, first_text: str, second_text: str, tag: str) -> bytes:
    """One POST with an entry for our page and one for `second_page`."""
    first = messenger_text(PAGE_ID, "psid-a", first_text, mid=f"m_{tag}_a")
    second = messenger_text(second_page, "psid-b", second_text, mid=f"m_{tag}_b")
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {"id": PAGE_ID, "time": now_ms(), "messaging": [first]},
                {"id": second_page, "time": now_ms(), "messaging": [second]},
            ],
        },
        separators=(",", ":"),
    ).encode()


def _two_pages_body() -> bytes:
    return _two_entries_body(OTHER_PAGE_ID, "for the first page", "for the second page", "two")


def _known_and_unknown_page_body() -> bytes:
    return _two_entries_body(UNKNOWN_PAGE_ID, "for our page", "for nobody", "mixed")


def _twitter_body() -> bytes:
    return twitter_dm(BRAND_X_ID, "987654321", "Hello from X", event_id="1876543210000000042")


@dataclass(frozen=True)
class Case:
    """A POST, and what both paths must make of it."""

    kind: str
    body: Callable[[], bytes]
    headers: Callable[[bytes], list[tuple[str, str]]]
    status: int
    answer: bytes
    stored_status: str | None  # None: nothing stored
    owner: str | None = None  # "page", "x": the event's tenant is that channel's; None: nobody
    error_prefix: str = ""


def _bad_signature(body: bytes) -> list[tuple[str, str]]:
    return [("X-Hub-Signature-256", "sha256=" + "0" * 64), *unsigned()]


def _bad_x_signature(body: bytes) -> list[tuple[str, str]]:
    return [("X-Twitter-Webhooks-Signature", "sha256=AAAA"), *unsigned()]


CASES = {
    "bad signature": Case(
        "messenger", lambda: load("text_message"), _bad_signature, 403, b"Invalid signature", None
    ),
    "missing signature": Case(
        "messenger",
        lambda: load("text_message"),
        lambda _: unsigned(),
        403,
        b"Invalid signature",
        None,
    ),
    "empty list": Case(
        "messenger",
        lambda: b"[]",
        lambda body: signed("messenger", body),
        400,
        b"Signed, but not a webhook envelope",
        WebhookEventStatus.FAILED,
        error_prefix="invalid payload: ",
    ),
    "not json": Case(
        "messenger",
        lambda: b"{not json",
        lambda body: signed("messenger", body),
        400,
        b"Signed, but not a webhook envelope",
        WebhookEventStatus.FAILED,
        error_prefix="invalid payload: ",
    ),
    "unclaimed page": Case(
        "messenger",
        lambda: messenger_messages(
            UNKNOWN_PAGE_ID, [messenger_text(UNKNOWN_PAGE_ID, "psid-x", "hi", mid="m_nobody")]
        ),
        lambda body: signed("messenger", body),
        200,
        b"OK",
        WebhookEventStatus.IGNORED,
    ),
    "another object": Case(
        "messenger",
        lambda: load("instagram_object"),
        lambda body: signed("messenger", body),
        200,
        b"OK",
        WebhookEventStatus.IGNORED,
    ),
    "one message for a known page": Case(
        "messenger",
        lambda: load("text_message"),
        lambda body: signed("messenger", body),
        200,
        b"OK",
        WebhookEventStatus.RECEIVED,
        owner="page",
    ),
    "two pages of two organizations": Case(
        "messenger",
        _two_pages_body,
        lambda body: signed("messenger", body),
        200,
        b"OK",
        WebhookEventStatus.RECEIVED,
    ),
    "a known page and an unknown one": Case(
        "messenger",
        _known_and_unknown_page_body,
        lambda body: signed("messenger", body),
        200,
        b"OK",
        WebhookEventStatus.RECEIVED,
        owner="page",
    ),
    "an X direct message": Case(
        "twitter",
        _twitter_body,
        lambda body: signed("twitter", body),
        200,
        b"OK",
        WebhookEventStatus.RECEIVED,
        owner="x",
    ),
    "an X message with a bad signature": Case(
        "twitter", _twitter_body, _bad_x_signature, 403, b"Invalid signature", None
    ),
}


@pytest.fixture
def channels() -> dict[str, Channel]:
    """Our page, another organization's page, and an X account."""
    return {
        "page": ChannelFactory(kind="messenger", external_id=PAGE_ID),
        "other": ChannelFactory(kind="messenger", external_id=OTHER_PAGE_ID),
        "x": ChannelFactory(kind="twitter", external_id=BRAND_X_ID),
    }


@pytest.mark.parametrize("name", list(CASES))
def test_the_receiver_answers_and_stores_as_the_django_view_does(
    name: str, channels: dict[str, Channel], enqueued: list[int]
) -> None:
    case = CASES[name]
    body = case.body()
    headers = case.headers(body)

    # Django's own handling of the POST: the view and ingest.accept, through the ORM.
    by_django = post(django_asgi_app, case.kind, body, headers)
    django_rows = stored()
    django_enqueued = list(enqueued)
    expected_enqueue = [e.pk for e in WebhookEvent.all_tenants.filter(status="received")]
    WebhookEvent.all_tenants.all().delete()
    enqueued.clear()

    # The receiver's: one SQL statement on its own pool; Django never sees the request.
    inner = Spy(django_asgi_app)
    by_receiver = post(WebhookReceiver(inner), case.kind, body, headers)
    receiver_rows = stored()
    accepted = [e.pk for e in WebhookEvent.all_tenants.filter(status="received")]

    assert inner.calls == []
    assert (by_receiver.status, by_receiver.body) == (by_django.status, by_django.body)
    assert by_receiver.headers["content-type"] == by_django.headers["content-type"] == "text/plain"
    assert DJANGO_ONLY_HEADER in by_django.headers  # the comparison above did compare two paths
    assert DJANGO_ONLY_HEADER not in by_receiver.headers
    assert receiver_rows == django_rows
    assert django_enqueued == expected_enqueue
    assert enqueued == accepted

    # And both are what the platform and the inbox must see.
    assert (by_receiver.status, by_receiver.body) == (case.status, case.answer)
    if case.stored_status is None:
        assert receiver_rows == []
        return
    [row] = receiver_rows
    owner = channels[case.owner] if case.owner else None
    assert row["kind"] == case.kind
    assert row["status"] == case.stored_status
    assert row["organization_id"] == (owner.organization_id if owner else None)
    assert row["channel_id"] == (owner.pk if owner else None)
    assert row["body"] == body
    assert row["headers"] == {name.lower(): value for name, value in headers}
    assert row["attempts"] == 0
    assert row["error"].startswith(case.error_prefix)
    if case.stored_status == WebhookEventStatus.IGNORED:
        assert row["error"] == ingest.UNCLAIMED
    elif case.stored_status == WebhookEventStatus.RECEIVED:
        assert row["error"] == ""
    assert len(enqueued) == (1 if case.stored_status == WebhookEventStatus.RECEIVED else 0)


def test_only_the_connectors_headers_are_kept(
    channels: dict[str, Channel], enqueued: list[int]
) -> None:
    body = load("text_message")
    headers = [*signed("messenger", body), ("Cookie", "sessionid=secret"), ("X-Extra", "1")]
    assert post(WebhookReceiver(django_asgi_app), "messenger", body, headers).status == 200
    assert WebhookEvent.all_tenants.get().headers == {
        "x-hub-signature-256": sign("messenger", body)["X-Hub-Signature-256"],
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


# ---- what Django would refuse before the view ----------------------------------------------


def test_an_oversize_body_is_413_and_stores_nothing(
    settings: Any, channels: dict[str, Channel], enqueued: list[int]
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    at_limit = b"{" + b" " * 998 + b"}"  # signed, the limit exactly, not an envelope
    over = b"{" + b" " * 999 + b"}"
    inner = Spy(django_asgi_app)
    receiver = WebhookReceiver(inner)

    refused = post(receiver, "messenger", over, signed("messenger", over), chunk=300)
    assert (refused.status, refused.body) == (413, b"Request body too large")
    assert stored() == []

    taken = post(receiver, "messenger", at_limit, signed("messenger", at_limit), chunk=300)
    assert taken.status == 400
    assert [row["body"] for row in stored()] == [at_limit]
    assert inner.calls == []
    assert enqueued == []


@pytest.mark.parametrize(
    ("allowed", "debug", "host", "status"),
    [
        ([HOST], False, HOST, 200),
        ([HOST], False, f"{HOST}:8443", 200),
        ([HOST], False, "evil.example.com", 400),
        ([".example.com"], False, "hooks.example.com", 200),
        ([], True, "localhost", 200),  # Django's DEBUG default
        ([], True, "hooks.localhost:8000", 200),
        ([], True, "[::1]", 200),
        ([], True, "evil.example.com", 400),
        ([], False, "localhost", 400),  # nothing allowed without DEBUG
        ([HOST], False, "", 400),
        ([HOST], False, "bad host!", 400),
    ],
)
def test_the_host_is_checked_as_django_checks_it(  # noqa: PLR0917  # fixtures and parameters
    settings: Any,
    channels: dict[str, Channel],
    enqueued: list[int],
    allowed: list[str],
    debug: bool,
    host: str,
    status: int,
) -> None:
    settings.ALLOWED_HOSTS = allowed
    settings.DEBUG = debug
    body = load("text_message")
    headers = signed("messenger", body)

    by_django = post(django_asgi_app, "messenger", body, headers, host=host)
    django_count = WebhookEvent.all_tenants.count()
    WebhookEvent.all_tenants.all().delete()
    inner = Spy(django_asgi_app)
    by_receiver = post(WebhookReceiver(inner), "messenger", body, headers, host=host)

    assert by_receiver.status == by_django.status == status
    assert inner.calls == []
    assert WebhookEvent.all_tenants.count() == django_count == (1 if status == 200 else 0)
    if status == 400:
        assert by_receiver.body == b"Invalid host"
        assert enqueued == []


# ---- what goes to Django ---------------------------------------------------------------------


def test_handshakes_other_paths_and_unknown_platforms_go_to_django(
    channels: dict[str, Channel], enqueued: list[int]
) -> None:
    inner = Spy(django_asgi_app)
    receiver = WebhookReceiver(inner)

    async def scenario() -> list[Answer]:
        return [
            await call(
                receiver,
                "/webhooks/messenger/",
                method="GET",
                query="hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
            ),
            await call(receiver, "/webhooks/unknown/", b"{}", unsigned()),
            await call(receiver, "/webhooks/messenger/extra/", b"{}", unsigned()),
            await call(receiver, "/webhooks/messenger", b"{}", unsigned()),
        ]

    handshake, unknown, longer, no_slash = run(scenario)
    assert (handshake.status, handshake.body) == (200, b"1158201444")
    assert (unknown.status, unknown.body) == (404, b"Unknown platform")
    assert longer.status == 404
    assert no_slash.status in (301, 404)  # Django's, whatever APPEND_SLASH makes of it
    assert inner.calls == [
        ("GET", "/webhooks/messenger/"),
        ("POST", "/webhooks/unknown/"),
        ("POST", "/webhooks/messenger/extra/"),
        ("POST", "/webhooks/messenger"),
    ]
    assert stored() == []


def test_the_deployed_application_routes_webhook_posts_through_the_receiver(
    channels: dict[str, Channel], enqueued: list[int]
) -> None:
    body = load("text_message")
    answer = post(application, "messenger", body, signed("messenger", body))
    assert (answer.status, answer.body) == (200, b"OK")
    assert DJANGO_ONLY_HEADER not in answer.headers  # answered before Django's middleware
    event = WebhookEvent.all_tenants.get()
    assert enqueued == [event.pk]


# ---- after the answer: processing ----------------------------------------------------------


def test_an_accepted_post_is_enqueued_once_and_processed(
    monkeypatch: pytest.MonkeyPatch, channels: dict[str, Channel]
) -> None:
    """Celery runs inline here: the enqueue the receiver makes turns the event into rows."""
    calls: list[int] = []

    def enqueue(event_id: int) -> None:
        calls.append(event_id)
        try:
            real_enqueue(event_id)
        finally:
            connection.close()  # the receiver's worker thread: do not leak its connection

    monkeypatch.setattr("connectors.tasks.enqueue", enqueue)
    page = channels["page"]
    body = load("text_message")
    assert post(WebhookReceiver(django_asgi_app), "messenger", body, signed("messenger", body)) == (
        Answer(200, b"OK", {"content-type": "text/plain", "content-length": "2"})
    )
    event = WebhookEvent.all_tenants.get()
    assert calls == [event.pk]
    assert event.status == WebhookEventStatus.PROCESSED
    message = Message.all_tenants.get()
    assert (message.external_id, message.organization_id) == (
        "m_AbCdEf0123456789",
        page.organization_id,
    )

    # Refused, ignored and invalid POSTs hand nothing over.
    for payload, headers in [
        (body, unsigned()),
        (b"[]", signed("messenger", b"[]")),
        (load("instagram_object"), signed("messenger", load("instagram_object"))),
    ]:
        post(WebhookReceiver(django_asgi_app), "messenger", payload, headers)
    assert calls == [event.pk]


def test_a_broker_outage_does_not_fail_the_answer(
    monkeypatch: pytest.MonkeyPatch, channels: dict[str, Channel]
) -> None:
    def down(*_: Any, **__: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("connectors.tasks.process_webhook_event.delay", down)
    body = load("text_message")
    answer = post(WebhookReceiver(django_asgi_app), "messenger", body, signed("messenger", body))
    assert (answer.status, answer.body) == (200, b"OK")
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.RECEIVED  # for the sweep
    assert Message.all_tenants.count() == 0


# ---- the pool ----------------------------------------------------------------------------------


def _sessions() -> dict[int, str]:
    """Other sessions on the test database: backend pid → what they last ran."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return dict(cursor.fetchall())


def test_the_pool_opens_on_first_use_and_closes(
    channels: dict[str, Channel], enqueued: list[int]
) -> None:
    body = load("text_message")
    app = WebhookReceiver(django_asgi_app)
    sessions = sync_to_async(_sessions)

    async def scenario() -> tuple[set[int], dict[int, str], int]:
        answers = [
            await call(app, "/webhooks/messenger/", body, signed("messenger", body))
            for _ in range(3)
        ]
        assert [a.status for a in answers] == [200, 200, 200]
        [pool] = store._pools.values()
        async with pool.connection() as conn:
            pooled = {conn.info.backend_pid}
        assert pooled <= set(await sessions())
        await settle()
        await store.close()  # closing twice is harmless
        return pooled, await sessions(), len(store._pools)

    pooled, after, pools = async_to_sync(scenario)()
    deadline = time.monotonic() + 5  # a backend takes a moment to go once its socket closes
    while pooled & set(after) and time.monotonic() < deadline:
        time.sleep(0.05)
        after = _sessions()
    assert not pooled & set(after), after
    assert pools == 0
    assert WebhookEvent.all_tenants.count() == 3


def test_each_event_loop_has_its_own_pool(
    channels: dict[str, Channel], enqueued: list[int]
) -> None:
    body = load("text_message")
    receiver = WebhookReceiver(django_asgi_app)
    for _ in range(2):  # a loop each, its pool closed with it
        assert post(receiver, "messenger", body, signed("messenger", body)).status == 200
    assert store._pools == {}
    assert WebhookEvent.all_tenants.count() == 2


# ---- through the production server -----------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def server() -> Iterator[str]:
    env = production_env(
        DATABASE_URL=_database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
        ALLOWED_HOSTS="127.0.0.1",
        META_APP_SECRET=META_SECRET,
        META_GRAPH_URL="http://127.0.0.1:9/v25.0",
        TWITTER_API_URL="http://127.0.0.1:9",
    )
    with asgi_server(env) as url:
        yield url


def _wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_through_the_production_server(server: str) -> None:
    page = ChannelFactory(kind="messenger", external_id=PAGE_ID)
    conversation = ConversationFactory(channel=page, customer__organization=page.organization)
    IdentityFactory(
        customer=conversation.customer, channel=page, platform_user_id="6022448899123456"
    )
    url = f"{server}/webhooks/messenger/"
    body = load("text_message")

    accepted = requests.post(url, data=body, headers=sign("messenger", body), timeout=10)
    assert (accepted.status_code, accepted.text) == (200, "OK")
    assert DJANGO_ONLY_HEADER not in accepted.headers  # the receiver answered
    _wait_for(lambda: Message.all_tenants.filter(conversation=conversation).exists())
    _wait_for(lambda: WebhookEvent.all_tenants.get().status == WebhookEventStatus.PROCESSED)

    refused = requests.post(url, data=b"{}", headers={"X-Hub-Signature-256": "x"}, timeout=10)
    assert (refused.status_code, refused.text) == (403, "Invalid signature")
    evil = requests.post(
        url, data=body, headers={**sign("messenger", body), "Host": "evil.example"}, timeout=10
    )
    assert (evil.status_code, evil.text) == (400, "Invalid host")
    handshake = requests.get(url, params={"hub.mode": "subscribe"}, timeout=10)
    assert handshake.status_code == 403  # Django's view: no verify token configured
    assert DJANGO_ONLY_HEADER in handshake.headers
    assert WebhookEvent.all_tenants.count() == 1
    assert Message.all_tenants.count() == 1


# ---- inline processing ---------------------------------------------------------------------


def run_and_shut_down(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Like `run`, ending as the server does: inline batches finished and their thread's
    connection closed, hand-overs drained, the pool closed."""

    async def main() -> Any:
        try:
            return await scenario()
        finally:
            await receiver_module.shutdown()

    return async_to_sync(main)()


def test_a_free_inline_slot_processes_the_event_in_the_server_process(
    monkeypatch: pytest.MonkeyPatch, channels: dict[str, Channel], settings: Any
) -> None:
    settings.WEBHOOK_INLINE_SLOTS = 1
    handed: list[int] = []
    monkeypatch.setattr("connectors.tasks.enqueue", handed.append)
    body = load("text_message")

    async def scenario() -> Answer:
        return await call(
            WebhookReceiver(django_asgi_app),
            "/webhooks/messenger/",
            body,
            signed("messenger", body),
        )

    assert run_and_shut_down(scenario).status == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert handed == [], "processed here: nothing queued for the workers"
    assert Message.all_tenants.get().external_id == "m_AbCdEf0123456789"


def test_when_the_slots_are_busy_events_go_to_the_workers(
    monkeypatch: pytest.MonkeyPatch, channels: dict[str, Channel], settings: Any
) -> None:
    settings.WEBHOOK_INLINE_SLOTS = 1
    handed: list[int] = []
    inline: list[int] = []
    monkeypatch.setattr("connectors.tasks.enqueue", handed.append)
    first = messenger_messages(PAGE_ID, [messenger_text(PAGE_ID, "7001", "one", mid="m-in-1")])
    second = messenger_messages(PAGE_ID, [messenger_text(PAGE_ID, "7002", "two", mid="m-in-2")])

    async def scenario() -> None:
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow(event_id: int) -> None:  # holds the only slot until released
            inline.append(event_id)
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)

        monkeypatch.setattr("connectors.receiver.process_inline", slow)
        app = WebhookReceiver(django_asgi_app)
        await call(app, "/webhooks/messenger/", first, signed("messenger", first))
        await call(app, "/webhooks/messenger/", second, signed("messenger", second))
        await receiver_module._handoff().drain()
        release.set()

    run_and_shut_down(scenario)
    one, two = WebhookEvent.all_tenants.order_by("pk").values_list("pk", flat=True)
    assert inline == [one]
    assert handed == [two]


def test_an_inline_failure_hands_the_event_to_the_workers(
    monkeypatch: pytest.MonkeyPatch, channels: dict[str, Channel], settings: Any
) -> None:
    settings.WEBHOOK_INLINE_SLOTS = 1
    handed: list[int] = []
    monkeypatch.setattr("connectors.tasks.enqueue", handed.append)

    def broken(event_id: int) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr("connectors.tasks.process_batch", broken)
    body = load("text_message")

    async def scenario() -> Answer:
        return await call(
            WebhookReceiver(django_asgi_app),
            "/webhooks/messenger/",
            body,
            signed("messenger", body),
        )

    assert run_and_shut_down(scenario).status == 200
    event = WebhookEvent.all_tenants.get()
    assert event.status == WebhookEventStatus.RECEIVED, "still there for the workers"
    assert handed == [event.pk]
