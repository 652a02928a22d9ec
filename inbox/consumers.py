"""The agent browser's websocket: /ws/o/<slug>/.

Authenticates by the Django session, refuses anyone who is not a member of the organization,
joins the audience groups of the member's role, replays what a reconnecting page missed, and
relays presence ("Maria is viewing") and typing ("Maria is replying") between the agents who
have the same conversation open. It writes nothing but ephemeral presence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from inbox import access, realtime
from inbox.errors import NotFoundError
from inbox.models import Membership, Role
from inbox.tenancy import tenant_scope

logger = logging.getLogger(__name__)

PRESENCE_TTL = 600  # seconds a viewer stays listed if their socket dies without closing
RECENT_SEQS = 4096  # sequence numbers remembered to drop duplicates of replayed events


PRESENCE_LOCK_SECONDS = 2  # a holder that died lets go after this
PRESENCE_LOCK_WAIT = 0.01  # between attempts to take the lock


def _presence_key(conversation_id: int) -> str:
    return f"{settings.REALTIME_PREFIX}:presence:{conversation_id}"


@asynccontextmanager
async def _presence_lock(key: str) -> AsyncIterator[None]:
    """One change at a time to a conversation's viewers, across server processes: two sockets
    joining at once would otherwise each write back the list without the other. `add` is
    atomic in every cache backend; the lock expires by itself if its holder dies."""
    lock = f"{key}:lock"
    deadline = time.monotonic() + PRESENCE_LOCK_SECONDS
    while not await cache.aadd(lock, 1, PRESENCE_LOCK_SECONDS):
        if time.monotonic() > deadline:
            break  # its holder died: the lock is about to expire anyway
        await asyncio.sleep(PRESENCE_LOCK_WAIT)
    try:
        yield
    finally:
        await cache.adelete(lock)


class InboxConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    membership: Membership
    groups_joined: list[str]
    viewing: int | None

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        membership = await database_sync_to_async(self._membership)(self.scope.get("user"), slug)
        if membership is None:
            await self.close(code=4403)  # before accept: the handshake is refused (HTTP 403)
            return
        self.membership = membership
        self.viewing = None
        self.sent: deque[int] = deque(maxlen=RECENT_SEQS)
        self.sent_set: set[int] = set()
        org = membership.organization_id
        if membership.has_role(Role.SUPERVISOR):
            self.groups_joined = [realtime.supervisors_group(org)]
        else:
            self.groups_joined = [
                realtime.queue_group(org),
                realtime.user_group(org, membership.user_id),
            ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        seq = await database_sync_to_async(realtime.event_log().current)(org)
        await self.send_json(
            {
                "type": "hello",
                "seq": seq,
                "user": {"id": membership.user_id, "name": membership.user.display_name},
            }
        )

    @staticmethod
    def _membership(user: Any, slug: str) -> Membership | None:
        try:
            return access.membership_for(user=user, organization_slug=slug)
        except NotFoundError:
            return None

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "membership"):
            return
        await self._leave_conversation()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "resume":
            await self._resume(content.get("last_seq"))
        elif kind == "view":
            await self._view(content.get("conversation_id"))
        elif kind == "typing":
            await self._typing(content.get("conversation_id"))

    # ---- replay ------------------------------------------------------------------------

    async def _resume(self, last_seq: Any) -> None:
        after = last_seq if isinstance(last_seq, int) and last_seq >= 0 else 0
        replay = await database_sync_to_async(realtime.event_log().since)(
            self.membership.organization_id, after
        )
        if not replay.complete:
            await self.send_json({"type": "resync", "seq": replay.seq})
            return
        for logged in replay.events:
            if self._may_receive(logged.assignees):
                await self._send_event(logged.frame())

    def _may_receive(self, assignees: tuple[int | None, ...] | list[int | None]) -> bool:
        if self.membership.has_role(Role.SUPERVISOR):
            return True
        return any(a is None or a == self.membership.user_id for a in assignees)

    async def _send_event(self, frame: dict[str, Any]) -> None:
        seq = int(frame["seq"])
        if seq in self.sent_set:
            return
        if len(self.sent) == self.sent.maxlen:
            self.sent_set.discard(self.sent[0])
        self.sent.append(seq)
        self.sent_set.add(seq)
        await self.send_json(frame)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Live events skip Channels' database clean-up before each message: it is a hop into
        a thread per socket per frame, and forwarding an event touches no database. At 100
        agents that hop was the largest part of getting a frame to the last of them."""
        if message["type"] == "parley.event":
            await self.parley_event(message)
            return
        await super().dispatch(message)

    async def parley_event(self, message: dict[str, Any]) -> None:
        """A live event from a group this socket joined (the audience was decided on publish)."""
        frame = {k: message[k] for k in ("seq", "event", "conversation_id", "payload")}
        frame["type"] = "event"
        await self._send_event(frame)

    # ---- presence and typing -----------------------------------------------------------

    async def _view(self, conversation_id: Any) -> None:
        await self._leave_conversation()
        if conversation_id is None:
            return
        if not await database_sync_to_async(self._can_view)(conversation_id):
            return
        self.viewing = int(conversation_id)
        await self.channel_layer.group_add(
            realtime.conversation_group(self.viewing), self.channel_name
        )
        await self._presence_change(self.viewing, joined=True)

    def _can_view(self, conversation_id: Any) -> bool:
        with tenant_scope(self.membership.organization_id):
            try:
                access.conversation_get(
                    organization=self.membership.organization,
                    pk=conversation_id,
                    viewer=self.membership,
                )
            except NotFoundError:
                return False
        return True

    async def _leave_conversation(self) -> None:
        if self.viewing is None:
            return
        conversation_id, self.viewing = self.viewing, None
        await self.channel_layer.group_discard(
            realtime.conversation_group(conversation_id), self.channel_name
        )
        await self._presence_change(conversation_id, joined=False)

    async def _presence_change(self, conversation_id: int, *, joined: bool) -> None:
        """Who views the conversation, kept per socket (an agent with two tabs on it stays
        listed when one closes) and announced per person."""
        key = _presence_key(conversation_id)
        async with _presence_lock(key):
            sockets: dict[str, Any] = await cache.aget(key) or {}
            if joined:
                sockets[self.channel_name] = {
                    "user_id": self.membership.user_id,
                    "name": self._name(),
                }
            else:
                sockets.pop(self.channel_name, None)
            await cache.aset(key, sockets, PRESENCE_TTL)
        viewers = {viewer["user_id"]: viewer for viewer in sockets.values()}
        await self.channel_layer.group_send(
            realtime.conversation_group(conversation_id),
            {
                "type": "parley.presence",
                "conversation_id": conversation_id,
                "viewers": list(viewers.values()),
            },
        )

    async def _typing(self, conversation_id: Any) -> None:
        if self.viewing is None or conversation_id != self.viewing:
            return  # only for the conversation this socket has open (access checked there)
        await self.channel_layer.group_send(
            realtime.conversation_group(self.viewing),
            {
                "type": "parley.typing",
                "conversation_id": self.viewing,
                "user_id": self.membership.user_id,
                "name": self._name(),
            },
        )

    async def parley_presence(self, message: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "presence",
                "conversation_id": message["conversation_id"],
                "viewers": message["viewers"],
            }
        )

    async def parley_typing(self, message: dict[str, Any]) -> None:
        if message["user_id"] == self.membership.user_id:
            return
        await self.send_json(
            {
                "type": "typing",
                "conversation_id": message["conversation_id"],
                "user_id": message["user_id"],
                "name": message["name"],
            }
        )

    def _name(self) -> str:
        return self.membership.user.display_name
