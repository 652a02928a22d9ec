"""The one place that pushes events to the channel layer (agent browsers subscribe to groups).

The publisher decides the audience: every event goes to the organization's group, and events
about a conversation also go to that conversation's group.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

if TYPE_CHECKING:
    from inbox.events import Event

logger = logging.getLogger(__name__)


def organization_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def publish(event: Event) -> None:
    """Send `event` to its groups. A layer outage is logged, never raised into the caller:
    the write it reports has already committed, and browsers resynchronise on reconnect."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": "parley.event",
        "event": event.name,
        "organization_id": event.organization_id,
        "conversation_id": event.conversation_id,
        "payload": event.payload,
    }
    groups = [organization_group(event.organization_id)]
    if event.conversation_id is not None:
        groups.append(conversation_group(event.conversation_id))
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("realtime publish failed for %s", event.name)
