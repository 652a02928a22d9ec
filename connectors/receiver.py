"""The webhook POST on the ASGI hot path: verify, store durably, answer, then enqueue.

Platforms send every customer message as a POST and expect a quick 200; under a burst they
send hundreds a second. Through Django's request stack each POST pays its middleware chain and
a hop into the sync thread that serialises every sync view of the process, plus an ORM insert
and a fresh connection: about 140 POSTs a second on two cores. This ASGI middleware answers
`POST /webhooks/<platform>/` itself when the database is PostgreSQL:

1. the Host header is checked against ALLOWED_HOSTS and the body size against
   DATA_UPLOAD_MAX_MEMORY_SIZE, as Django would;
2. the connector checks the signature on the raw bytes in constant time (403, nothing stored);
3. the connector parses the body (a signed non-envelope is stored as failed and answered 400);
4. one INSERT, autocommitted on a pooled async connection, routes the event to its channel and
   stores it with its verdict (`connectors.store`);
5. the 200 goes out, then the event is processed here when an inline slot is free (`Inline`:
   the quickest way to the agents' screens), else handed to the Celery workers (`Handoff`:
   under load, many events per task). If that fails or the process dies first, the periodic
   sweep re-drives the stored event.

Everything else, the platforms' GET handshakes included, goes to Django. So does every
request on SQLite (the embedded default), where `connectors.views.webhook` handles the POST
with the same connector calls and the same answers; a test holds the two paths to that.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
from django.conf import settings
from django.db import connection
from django.http.request import split_domain_port, validate_host

from connectors import ingest, store
from connectors.base import InvalidPayloadError
from connectors.registry import UnknownChannelKindError, connector_for
from connectors.tasks import enqueue_many, process_inline
from inbox.models import WebhookEventStatus

logger = logging.getLogger(__name__)

PATH = re.compile(r"/webhooks/(?P<kind>[a-z]+)/")
ASGIApp = Any  # the wrapped application: Channels' router, typed loosely there as well


class WebhookReceiver:
    """ASGI middleware: webhook POSTs on PostgreSQL here, everything else to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.enabled = store.supported()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if not self.enabled or scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        assert scope["type"] == "http"  # noqa: S101  # narrows the scope's type
        match = PATH.fullmatch(scope["path"])
        try:
            kind = match["kind"] if match else ""
            connector_for(kind)
        except UnknownChannelKindError:
            await self.app(scope, receive, send)  # Django's 404
            return
        await self._post(kind, scope, receive, send)

    async def _post(
        self, kind: str, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        headers = _headers(scope)
        if not _host_allowed(headers.get("host", "")):
            await _answer(send, 400, "Invalid host")
            return
        body = await _read_body(receive, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if body is None:
            await _answer(send, 413, "Request body too large")
            return
        status, event_id = await accept(kind, body, headers)
        await _answer(send, status, ANSWERS[status])
        # After the answer: the platform never waits for processing.
        if event_id is not None and not _inline().take(event_id):
            _handoff().add(event_id)


class Inline:
    """Processing slots in this server process: while one is free, an accepted event is
    processed right here after the answer (in a thread of its own, which keeps its database
    connection), sparing the broker round trip and a worker's pick-up, which are most of a
    quiet inbox's delay between a customer's message and the agents' screens. When every
    slot is busy (a burst), events go to the Celery workers. WEBHOOK_INLINE_SLOTS sets how
    many (0: always the workers). A batch started here is the workers' kind of batch: it
    claims the event with others waiting, and hands failures and leftovers to the workers.
    """

    def __init__(self) -> None:
        self.busy = 0
        self.executor: ThreadPoolExecutor | None = None
        self.threads = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def take(self, event_id: int) -> bool:
        slots = int(getattr(settings, "WEBHOOK_INLINE_SLOTS", 0))
        if self.busy >= slots:
            return False
        if self.executor is None:
            self.executor = ThreadPoolExecutor(slots, thread_name_prefix="webhook-inline")
            self.threads = slots
        self.busy += 1
        task = asyncio.get_running_loop().create_task(self._run(self.executor, event_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _run(self, executor: ThreadPoolExecutor, event_id: int) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(executor, process_inline, event_id)
        finally:
            self.busy -= 1

    async def drain(self) -> None:
        """Wait for the batches running here (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def close(self) -> None:
        """Finish the running batches, then close each slot thread's database connection."""
        await self.drain()
        executor, self.executor = self.executor, None
        if executor is None:
            return
        threads = self.threads  # one close per thread: the barrier holds each one
        barrier = threading.Barrier(threads)

        def close_connection() -> None:
            connection.close()
            barrier.wait(timeout=10)

        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(executor, close_connection) for _ in range(threads))
        )
        executor.shutdown(wait=False)


_inlines: dict[asyncio.AbstractEventLoop, Inline] = {}


def _inline() -> Inline:
    loop = asyncio.get_running_loop()
    inline = _inlines.get(loop)
    if inline is None:
        inline = _inlines[loop] = Inline()
    return inline


class Handoff:
    """Accepted event ids on their way to the Celery workers, in as few tasks as the load
    allows: while one hand-over talks to the broker, the ids accepted meanwhile gather and
    go together in the next one (a task per BATCH_SIZE ids, as one task processes that many).
    Alone, an event goes at once. Ids not handed over when the process dies are re-driven by
    the sweep, as are those the broker refused (enqueue_many logs, never raises).
    """

    def __init__(self) -> None:
        self.waiting: list[int] = []
        self.running: asyncio.Task[None] | None = None

    def add(self, event_id: int) -> None:
        self.waiting.append(event_id)
        if self.running is None or self.running.done():
            self.running = asyncio.get_running_loop().create_task(self._hand_over())

    async def _hand_over(self) -> None:
        while self.waiting:
            ids, self.waiting = self.waiting, []
            await asyncio.to_thread(enqueue_many, ids)

    async def drain(self) -> None:
        """Wait until every id added so far is handed over (tests, shutdown)."""
        while self.running is not None and not self.running.done():
            await self.running


_handoffs: dict[asyncio.AbstractEventLoop, Handoff] = {}


async def shutdown() -> None:
    """At server shutdown: finish the batches running here, hand over the ids still waiting,
    close the database pool."""
    inline = _inlines.pop(asyncio.get_running_loop(), None)
    if inline is not None:
        await inline.close()
    handoff = _handoffs.pop(asyncio.get_running_loop(), None)
    if handoff is not None:
        await handoff.drain()
    await store.close()


def _handoff() -> Handoff:
    loop = asyncio.get_running_loop()
    handoff = _handoffs.get(loop)
    if handoff is None:
        handoff = _handoffs[loop] = Handoff()
    return handoff


ANSWERS = {
    200: "OK",
    400: "Signed, but not a webhook envelope",
    403: "Invalid signature",
}


async def accept(kind: str, body: bytes, headers: dict[str, str]) -> tuple[int, int | None]:
    """(HTTP status, id of an event to process) for one POST; `headers` keyed in lower case.

    The same decisions as `connectors.views.webhook` with `ingest.accept`, on the async store.
    """
    connector = connector_for(kind)
    if not connector.verify(body, headers):
        return 403, None
    kept = {
        name: headers[name.lower()] for name in connector.kept_headers if name.lower() in headers
    }
    try:
        parsed = connector.parse(body)
    except InvalidPayloadError as exc:
        await store.record(
            kind=kind,
            body=body,
            headers=kept,
            status=WebhookEventStatus.FAILED,
            error=ingest.invalid_payload_error(exc),
        )
        return 400, None
    except Exception:
        # Never lose an event the platform will resend anyway: keep the raw POST, answer 500.
        await store.record(kind=kind, body=body, headers=kept)
        raise
    event_id, status = await store.record_routed(
        kind=kind, body=body, headers=kept, channel_ids=ingest.channel_ids(parsed)
    )
    return 200, event_id if status == WebhookEventStatus.RECEIVED else None


def _headers(scope: HTTPScope) -> dict[str, str]:
    """Request headers by lower-case name; a repeated header's values joined with commas,
    as Django joins them (so a second signature header cannot stand in for the first)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _host_allowed(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # Django's own DEBUG default
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


async def _read_body(receive: ASGIReceiveCallable, *, limit: int | None) -> bytes | None:
    """The whole request body, or None once it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client went away")
        chunk = message.get("body", b"")
        if not isinstance(chunk, bytes):
            raise TypeError("an http.request message without a bytes body")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: ASGISendCallable, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
