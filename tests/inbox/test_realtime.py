"""Events reach the audience groups, sequenced and logged (in memory by default, Redis when
configured)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

from inbox import realtime
from inbox.events import Event
from inbox.realtime import MemoryEventLog, RedisEventLog, event_log


def _roundtrip(assignees: tuple[int | None, ...]) -> dict[str, list[dict[str, Any]]]:
    """Publish one event and collect what each audience group's member receives. One event
    loop throughout: a layer's channels may belong to the loop that made them."""

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        layer = get_channel_layer()
        assert layer is not None
        groups = {
            "all": realtime.supervisors_group(7),
            "queue": realtime.queue_group(7),
            "user5": realtime.user_group(7, 5),
            "user6": realtime.user_group(7, 6),
        }
        channels = {name: await layer.new_channel() for name in groups}
        for name, group in groups.items():
            await layer.group_add(group, channels[name])
        try:
            realtime.publish(
                Event(
                    name="message.created",
                    organization_id=7,
                    conversation_id=42,
                    payload={"id": 1},
                    assignees=assignees,
                )
            )
            await asyncio.to_thread(realtime.flush)
            received: dict[str, list[dict[str, Any]]] = {}
            for name, channel in channels.items():
                received[name] = []
                with contextlib.suppress(TimeoutError):
                    received[name].append(await _receive(layer, channel))
            return received
        finally:
            for name, group in groups.items():
                await layer.group_discard(group, channels[name])

    return asyncio.run(scenario())


async def _receive(layer: Any, channel: str) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
    return message


def test_an_assigned_conversations_event_reaches_supervisors_and_its_agent() -> None:
    received = _roundtrip((5,))
    assert {name for name, frames in received.items() if frames} == {"all", "user5"}
    frame = received["user5"][0]
    assert frame["event"] == "message.created"
    assert frame["payload"] == {"id": 1}
    assert frame["seq"] == received["all"][0]["seq"]


def test_a_hand_over_reaches_both_agents_and_an_unassigned_one_the_queue() -> None:
    assert {n for n, f in _roundtrip((6, 5)).items() if f} == {"all", "user5", "user6"}
    assert {n for n, f in _roundtrip((None,)).items() if f} == {"all", "queue"}


def test_sequence_numbers_grow_and_replay_from_the_log() -> None:
    log = event_log()
    before = log.current(99)
    for n in range(3):
        log.append(99, "message.created", n, {"id": n}, (None,))
    replay = log.since(99, before + 1)
    assert replay.complete
    assert [e.conversation_id for e in replay.events] == [1, 2]
    assert log.since(99, log.current(99) + 5).complete is False, "a reset log asks to resync"


@pytest.mark.redis
def test_the_log_and_layer_live_in_redis_when_configured() -> None:
    assert isinstance(get_channel_layer(), RedisPubSubChannelLayer)
    assert isinstance(event_log(), RedisEventLog)


def test_the_memory_log_forgets_old_events_and_asks_to_resync() -> None:
    log = MemoryEventLog(length=2)
    for n in range(4):
        log.append(1, "message.created", n, {}, (None,))
    assert [e.seq for e in log.since(1, 2).events] == [3, 4]
    assert log.since(1, 1).complete is False
