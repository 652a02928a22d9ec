"""The agent websocket: who may connect, who hears what, replay after a reconnect, presence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import channels.consumer as consumers_module
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from inbox import realtime
from inbox.models import Conversation, Membership, Role
from inbox.realtime import event_log
from inbox.services.conversations import conversation_update
from inbox.services.messages import note_add
from tests.factories import ConversationFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


def _cookie(membership: Membership) -> bytes:
    client = Client()
    client.force_login(membership.user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(membership: Membership | None, slug: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if membership is not None:
        headers.append((b"cookie", _cookie(membership)))
    return WebsocketCommunicator(application, f"/ws/o/{slug}/", headers=headers)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


async def connect(ws: WebsocketCommunicator) -> dict[str, Any]:
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert connected
    hello: dict[str, Any] = await ws.receive_json_from(timeout=TIMEOUT)
    assert hello["type"] == "hello"
    return hello


async def events(ws: WebsocketCommunicator, *, expect: int = 0) -> list[dict[str, Any]]:
    """Everything the socket received until it goes quiet: the `expect` frames that must come
    (each waited for up to TIMEOUT, however busy the machine), then any others."""
    frames: list[dict[str, Any]] = [
        await ws.receive_json_from(timeout=TIMEOUT) for _ in range(expect)
    ]
    while not await ws.receive_nothing(timeout=0.3):
        frames.append(await ws.receive_json_from(timeout=TIMEOUT))
    return frames


def note(membership: Membership, conversation: Conversation, text: str) -> Awaitable[Any]:
    return published(note_add)(
        organization=membership.organization, actor=membership, conversation=conversation, text=text
    )


def published(service: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run `service` in a thread and wait until its events are published (with Redis they are
    published by a thread of their own), as a browser would see them before acting."""

    def call_and_flush(**kwargs: Any) -> Any:
        result = service(**kwargs)
        assert realtime.flush(TIMEOUT)
        return result

    return sync_to_async(call_and_flush)


def test_a_member_connects_and_is_greeted() -> None:
    agent = MembershipFactory()

    ws = socket(agent, agent.organization.slug)

    async def scenario() -> None:
        hello = await connect(ws)
        assert hello["user"]["id"] == agent.user_id
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("who", ["anonymous", "outsider", "no-such-org"])
def test_others_are_refused(who: str) -> None:
    agent = MembershipFactory()
    outsider = MembershipFactory(role=Role.ADMIN)

    slug = "no-such-org" if who == "no-such-org" else agent.organization.slug
    ws = socket(None if who == "anonymous" else outsider, slug)

    async def scenario() -> None:
        connected, _ = await ws.connect(timeout=TIMEOUT)
        assert not connected
        await ws.disconnect()

    run(scenario)


def test_agents_hear_their_own_and_the_queue_supervisors_hear_everything() -> None:
    agent = MembershipFactory()
    org = agent.organization
    colleague = MembershipFactory(organization=org)
    supervisor = MembershipFactory(organization=org, role=Role.SUPERVISOR)
    mine = ConversationFactory(customer__organization=org, assignee=agent.user)
    queue = ConversationFactory(customer__organization=org, assignee=None)
    theirs = ConversationFactory(customer__organization=org, assignee=colleague.user)

    as_agent, as_supervisor = socket(agent, org.slug), socket(supervisor, org.slug)

    async def scenario() -> None:
        await connect(as_agent)
        await connect(as_supervisor)
        for conversation in (mine, queue, theirs):
            await note(supervisor, conversation, "hello")
        heard = {f["conversation_id"] for f in await events(as_agent, expect=2)}
        assert heard == {mine.pk, queue.pk}
        everything = {f["conversation_id"] for f in await events(as_supervisor, expect=3)}
        assert everything == {mine.pk, queue.pk, theirs.pk}
        await as_agent.disconnect()
        await as_supervisor.disconnect()

    run(scenario)


def test_a_conversation_handed_away_tells_its_previous_owner() -> None:
    agent = MembershipFactory()
    colleague = MembershipFactory(organization=agent.organization)
    mine = ConversationFactory(customer__organization=agent.organization, assignee=agent.user)

    ws = socket(agent, agent.organization.slug)

    async def scenario() -> None:
        await connect(ws)
        await published(conversation_update)(
            organization=agent.organization,
            actor=agent,
            conversation=mine,
            assignee_id=colleague.user_id,
        )
        [frame] = await events(ws, expect=1)
        assert frame["event"] == "conversation.updated"
        assert frame["payload"]["assignee_id"] == colleague.user_id
        await note(colleague, mine, "now theirs")
        assert await events(ws) == []
        await ws.disconnect()

    run(scenario)


def test_a_reconnecting_page_gets_what_it_missed_in_order() -> None:
    agent = MembershipFactory()
    colleague = MembershipFactory(organization=agent.organization)
    queue = ConversationFactory(customer__organization=agent.organization)
    theirs = ConversationFactory(customer__organization=agent.organization, assignee=colleague.user)

    ws, again = socket(agent, agent.organization.slug), socket(agent, agent.organization.slug)

    async def scenario() -> None:
        hello = await connect(ws)
        await ws.disconnect()
        for n in range(3):
            await note(agent, queue, f"missed {n}")
            await note(colleague, theirs, "not for me")
        await connect(again)
        await again.send_json_to({"type": "resume", "last_seq": hello["seq"]})
        frames = await events(again, expect=3)
        assert [f["conversation_id"] for f in frames] == [queue.pk] * 3
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(seqs)
        await again.send_json_to({"type": "resume", "last_seq": hello["seq"]})
        assert await events(again) == [], "already sent: never twice"
        await again.disconnect()

    run(scenario)


def test_a_gap_older_than_the_log_asks_for_a_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = MembershipFactory()
    queue = ConversationFactory(customer__organization=agent.organization)
    monkeypatch.setattr(event_log(), "_length", 2)  # both logs keep `_length` events

    ws = socket(agent, agent.organization.slug)

    async def scenario() -> None:
        for n in range(5):
            await note(agent, queue, f"n{n}")
        await connect(ws)
        await ws.send_json_to({"type": "resume", "last_seq": 0})
        assert (await ws.receive_json_from(timeout=TIMEOUT))["type"] == "resync"
        await ws.disconnect()

    run(scenario)


def test_presence_and_typing_between_two_agents() -> None:
    maria = MembershipFactory(user__name="Maria Lopez")
    tom = MembershipFactory(organization=maria.organization, user__name="Tom Becker")
    queue = ConversationFactory(customer__organization=maria.organization)

    a, b = socket(maria, maria.organization.slug), socket(tom, maria.organization.slug)

    async def scenario() -> None:
        await connect(a)
        await connect(b)
        await a.send_json_to({"type": "view", "conversation_id": queue.pk})
        first = await a.receive_json_from(timeout=TIMEOUT)
        assert [v["name"] for v in first["viewers"]] == ["Maria Lopez"]
        await b.send_json_to({"type": "view", "conversation_id": queue.pk})
        seen_by_b = await b.receive_json_from(timeout=TIMEOUT)
        assert seen_by_b["type"] == "presence"
        assert {v["name"] for v in seen_by_b["viewers"]} == {"Maria Lopez", "Tom Becker"}
        [seen_by_a] = await events(a, expect=1)
        assert seen_by_a == seen_by_b
        await b.send_json_to({"type": "typing", "conversation_id": queue.pk})
        [typing] = await events(a, expect=1)
        assert typing == {
            "type": "typing",
            "conversation_id": queue.pk,
            "user_id": tom.user_id,
            "name": "Tom Becker",
        }
        assert await events(b) == [], "no echo of my own typing"
        await b.disconnect()
        [left] = await events(a, expect=1)
        assert [v["name"] for v in left["viewers"]] == ["Maria Lopez"]
        await a.disconnect()

    run(scenario)


def test_agents_opening_a_conversation_at_the_same_moment_all_show() -> None:
    """Each join rewrites the conversation's viewers: at the same moment, on several server
    processes, none may write back a list without another."""
    first = MembershipFactory(user__name="Agent 0")
    team = [first] + [
        MembershipFactory(organization=first.organization, user__name=f"Agent {n}")
        for n in range(1, 6)
    ]
    queue = ConversationFactory(customer__organization=first.organization)
    sockets = [socket(member, first.organization.slug) for member in team]

    async def scenario() -> None:
        for ws in sockets[:-1]:
            await connect(ws)
        await asyncio.gather(
            *(ws.send_json_to({"type": "view", "conversation_id": queue.pk}) for ws in sockets[:-1])
        )
        for ws in sockets[:-1]:
            await events(ws, expect=1)
        late = sockets[-1]
        await connect(late)
        await late.send_json_to({"type": "view", "conversation_id": queue.pk})
        seen = await late.receive_json_from(timeout=TIMEOUT)
        assert sorted(v["name"] for v in seen["viewers"]) == [f"Agent {n}" for n in range(6)]
        for ws in sockets:
            await ws.disconnect()

    run(scenario)


def test_an_agent_with_two_tabs_on_a_conversation_stays_listed_when_one_closes() -> None:
    maria = MembershipFactory(user__name="Maria Lopez")
    tom = MembershipFactory(organization=maria.organization, user__name="Tom Becker")
    queue = ConversationFactory(customer__organization=maria.organization)
    slug = maria.organization.slug
    tab_1, tab_2, toms = socket(maria, slug), socket(maria, slug), socket(tom, slug)

    async def scenario() -> None:
        for ws in (tab_1, tab_2, toms):
            await connect(ws)
            await ws.send_json_to({"type": "view", "conversation_id": queue.pk})
            await ws.receive_json_from(timeout=TIMEOUT)
        await events(toms)
        await tab_1.disconnect()
        [after] = await events(toms, expect=1)
        assert [v["name"] for v in after["viewers"]] == ["Maria Lopez", "Tom Becker"]
        await tab_2.disconnect()
        [gone] = await events(toms, expect=1)
        assert [v["name"] for v in gone["viewers"]] == ["Tom Becker"]
        await toms.disconnect()

    run(scenario)


def test_no_presence_or_typing_on_a_conversation_one_may_not_see() -> None:
    maria = MembershipFactory()
    tom = MembershipFactory(organization=maria.organization)
    toms = ConversationFactory(customer__organization=maria.organization, assignee=tom.user)

    a, b = socket(maria, maria.organization.slug), socket(tom, maria.organization.slug)

    async def scenario() -> None:
        await connect(a)
        await connect(b)
        await b.send_json_to({"type": "view", "conversation_id": toms.pk})
        await events(b)
        await a.send_json_to({"type": "view", "conversation_id": toms.pk})
        await a.send_json_to({"type": "typing", "conversation_id": toms.pk})
        assert await events(b) == []
        assert await events(a) == []
        await a.disconnect()
        await b.disconnect()

    run(scenario)


def test_live_events_reach_the_socket_without_a_database_clean_up_hop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Channels closes stale database connections (a hop into a thread) before each message
    it dispatches; forwarding an event touches no database, so the consumer skips that for
    events, and only for them."""
    supervisor = MembershipFactory(role=Role.SUPERVISOR)
    org = supervisor.organization
    conversation = ConversationFactory(customer__organization=org)
    clean_ups: list[str] = []
    original = consumers_module.aclose_old_connections

    async def counting() -> None:
        clean_ups.append("clean-up")
        await original()

    monkeypatch.setattr(consumers_module, "aclose_old_connections", counting)
    ws = socket(supervisor, org.slug)

    async def scenario() -> None:
        await connect(ws)
        clean_ups.clear()  # the connect message had its clean-up
        await note(supervisor, conversation, "hello")
        frames = await events(ws, expect=1)
        assert [f["event"] for f in frames] == ["message.created"]
        assert clean_ups == []
        await ws.send_json_to({"type": "view", "conversation_id": conversation.pk})
        deadline = time.monotonic() + TIMEOUT  # until the consumer has handled the view
        while not clean_ups and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert clean_ups, "other messages still get Channels' clean-up"
        await ws.disconnect()

    run(scenario)
