"""Storing a verified webhook POST from async code: one statement on a pooled connection.

The async twin of `inbox.services.webhooks.webhook_event_record` + `channel_routes`, for the
ASGI receiver (`connectors.receiver`). PostgreSQL only: routing and the INSERT are one
autocommitted statement, so the event is durable, and owned by its tenant when one channel
claims the whole POST, in a single round trip. The row it writes is the one the ORM path
writes (a test compares them).

Each server process keeps a small psycopg connection pool per event loop (WEBHOOK_DB_POOL_SIZE
connections at most, 4 by default), opened on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from connectors import ingest
from inbox.models import WebhookEventStatus

# The tables and columns of inbox.models.WebhookEvent and Channel (a test compares this path's
# rows with the ORM's). Route by (kind, external_id) and insert with the verdict: no channel
# claims the POST → ignored; one channel claims all of it → that channel and its organization;
# several → received without a tenant (processing routes each item).
_ROUTED = """
WITH routes AS (
    SELECT id, organization_id FROM inbox_channel
    WHERE kind = %(kind)s AND external_id = ANY(%(channel_ids)s)
), verdict AS (
    SELECT count(*) AS claims, min(id) AS channel_id, min(organization_id) AS organization_id
    FROM routes
)
INSERT INTO inbox_webhookevent (
    organization_id, channel_id, kind, body, headers, received_at, status, error, attempts
)
SELECT
    CASE WHEN claims = 1 THEN organization_id END,
    CASE WHEN claims = 1 THEN channel_id END,
    %(kind)s, %(body)s, %(headers)s, %(received_at)s,
    CASE WHEN claims = 0 THEN %(ignored)s ELSE %(received)s END,
    CASE WHEN claims = 0 THEN %(unclaimed)s ELSE '' END,
    0
FROM verdict
RETURNING id, status
"""

_PLAIN = """
INSERT INTO inbox_webhookevent (
    organization_id, channel_id, kind, body, headers, received_at, status, error, attempts
)
VALUES (NULL, NULL, %(kind)s, %(body)s, %(headers)s, %(received_at)s, %(status)s, %(error)s, 0)
RETURNING id
"""

_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}


def supported() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


def _conninfo() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": db.get("NAME") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "autocommit": True,
    }
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if k in ("sslmode", "sslrootcert")}
    return {k: v for k, v in {**params, **options}.items() if v is not None}


async def _pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        size = int(getattr(settings, "WEBHOOK_DB_POOL_SIZE", 4))
        pool = AsyncConnectionPool(
            kwargs=_conninfo(), min_size=1, max_size=size, open=False, name="webhooks"
        )
        _pools[loop] = pool
        await pool.open()
    return pool


async def close() -> None:
    """Close this loop's pool (server shutdown, tests)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()


async def record_routed(
    *, kind: str, body: bytes, headers: Mapping[str, str], channel_ids: Iterable[str]
) -> tuple[int, str]:
    """Store a parsed POST routed to its channel(s); returns (event id, status)."""
    pool = await _pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(
            _ROUTED,
            {
                "kind": kind,
                "channel_ids": sorted(set(channel_ids)),
                "body": body,
                "headers": Jsonb(dict(headers)),
                "received_at": timezone.now(),
                "ignored": WebhookEventStatus.IGNORED.value,
                "received": WebhookEventStatus.RECEIVED.value,
                "unclaimed": ingest.UNCLAIMED,
            },
        )
        row = await cursor.fetchone()
    if row is None:
        raise RuntimeError("INSERT … RETURNING returned no row")
    return int(row[0]), str(row[1])


async def record(
    *,
    kind: str,
    body: bytes,
    headers: Mapping[str, str],
    status: str = WebhookEventStatus.RECEIVED,
    error: str = "",
) -> int:
    """Store a POST without routing it (invalid payload, or routing itself failed)."""
    pool = await _pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(
            _PLAIN,
            {
                "kind": kind,
                "body": body,
                "headers": Jsonb(dict(headers)),
                "received_at": timezone.now(),
                "status": status,
                "error": error[:10_000],
            },
        )
        row = await cursor.fetchone()
    if row is None:
        raise RuntimeError("INSERT … RETURNING returned no row")
    return int(row[0])
