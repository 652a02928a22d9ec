"""Two production server processes on PostgreSQL and Redis: an event published by one reaches
a websocket connected to the other (channels_redis carries it across)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import requests
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client

from inbox.api.tokens import token_for
from inbox.models import Role
from tests.factories import ConversationFactory, MembershipFactory
from tests.support.processes import asgi_server, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


async def _first_event(url: str, cookie: str, origin: str, trigger: Any) -> dict[str, Any]:
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=10
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello"
        await asyncio.to_thread(trigger)
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] == "event":
                return frame  # type: ignore[no-any-return]  # JSON object


def test_an_event_published_by_one_server_reaches_a_socket_on_the_other() -> None:
    supervisor = MembershipFactory(role=Role.SUPERVISOR)
    conversation = ConversationFactory(customer__organization=supervisor.organization)
    browser = Client()
    browser.force_login(supervisor.user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    token = token_for(supervisor.user)
    env = production_env(
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
        REALTIME_PREFIX=f"parley-test-{uuid.uuid4().hex[:8]}",
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    slug = supervisor.organization.slug
    with asgi_server(env) as first, asgi_server(env) as second:

        def add_note_on_the_first_server() -> None:
            response = requests.post(
                f"{first}/api/v1/orgs/{slug}/conversations/{conversation.pk}/messages/",
                json={"text": "across processes", "kind": "note"},
                headers={"Authorization": f"Token {token}"},
                timeout=10,
            )
            assert response.status_code == 201, response.text

        ws_url = second.replace("http://", "ws://") + f"/ws/o/{slug}/"
        frame = asyncio.run(_first_event(ws_url, cookie, second, add_note_on_the_first_server))
    assert frame["event"] == "message.created"
    assert frame["conversation_id"] == conversation.pk
    assert frame["payload"]["kind"] == "note"
