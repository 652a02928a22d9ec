"""Events reach the channel layer groups (in-memory by default, Redis when configured)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from inbox import realtime
from inbox.events import Event


def _roundtrip() -> list[dict[str, object]]:
    layer = get_channel_layer()
    assert layer is not None
    org_channel = async_to_sync(layer.new_channel)()
    conv_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.organization_group(7), org_channel)
    async_to_sync(layer.group_add)(realtime.conversation_group(42), conv_channel)
    try:
        realtime.publish(
            Event(name="message.created", organization_id=7, conversation_id=42, payload={"id": 1})
        )
        return [
            async_to_sync(layer.receive)(org_channel),
            async_to_sync(layer.receive)(conv_channel),
        ]
    finally:
        async_to_sync(layer.group_discard)(realtime.organization_group(7), org_channel)
        async_to_sync(layer.group_discard)(realtime.conversation_group(42), conv_channel)


def test_publish_fans_out_to_the_organization_and_conversation_groups() -> None:
    for message in _roundtrip():
        assert message["event"] == "message.created"
        assert message["payload"] == {"id": 1}


@pytest.mark.redis
def test_publish_goes_through_redis_when_configured() -> None:
    assert isinstance(get_channel_layer(), RedisChannelLayer)
    assert [m["conversation_id"] for m in _roundtrip()] == [42, 42]
