"""The one place that pushes events to agent browsers.

Every event gets a per-organization sequence number and is appended to a bounded log (a Redis
sorted set when REDIS_URL is set, process memory in the embedded default), then sent to the
channel-layer groups of its audience. A browser that reconnects says which number it saw last
and the consumer replays what it missed from the log, or tells it to resync when the gap is
older than the log.

Audience groups, decided here on the server:
- `org.<id>.all`: supervisors and admins, every event of the organization;
- `org.<id>.queue`: agents, events of unassigned conversations;
- `org.<id>.user.<user id>`: one agent, events of conversations assigned to them;
- `conv.<id>`: whoever has the conversation open (presence and typing, not sequenced).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

if TYPE_CHECKING:
    from inbox.events import Event

logger = logging.getLogger(__name__)

LOG_LENGTH = 2000  # events kept per organization for replay


def supervisors_group(organization_id: int) -> str:
    return f"org.{organization_id}.all"


def queue_group(organization_id: int) -> str:
    return f"org.{organization_id}.queue"


def user_group(organization_id: int, user_id: int) -> str:
    return f"org.{organization_id}.user.{user_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def audience_groups(organization_id: int, assignees: tuple[int | None, ...]) -> list[str]:
    return [supervisors_group(organization_id)] + [
        queue_group(organization_id) if assignee is None else user_group(organization_id, assignee)
        for assignee in dict.fromkeys(assignees)
    ]


@dataclass(frozen=True)
class LoggedEvent:
    seq: int
    event: str
    conversation_id: int | None
    payload: dict[str, Any]
    assignees: tuple[int | None, ...]

    def frame(self) -> dict[str, Any]:
        """What the browser receives."""
        return {
            "type": "event",
            "seq": self.seq,
            "event": self.event,
            "conversation_id": self.conversation_id,
            "payload": self.payload,
        }

    def to_json(self) -> str:
        return json.dumps(
            [self.seq, self.event, self.conversation_id, self.payload, list(self.assignees)]
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> LoggedEvent:
        seq, event, conversation_id, payload, assignees = json.loads(raw)
        return cls(int(seq), str(event), conversation_id, payload, tuple(assignees))


@dataclass(frozen=True)
class Replay:
    events: list[LoggedEvent]
    complete: bool  # False: the gap is older than the log, the client must resync
    seq: int  # the organization's latest sequence number


class EventLog(Protocol):
    def append(
        self,
        organization_id: int,
        event: str,
        conversation_id: int | None,
        payload: dict[str, Any],
        assignees: tuple[int | None, ...],
    ) -> LoggedEvent: ...

    def since(self, organization_id: int, after: int) -> Replay: ...

    def current(self, organization_id: int) -> int: ...


class MemoryEventLog:
    """Single-process log for the embedded default (one server process, no Redis)."""

    def __init__(self, length: int = LOG_LENGTH) -> None:
        self._lock = threading.Lock()
        self._seq: dict[int, int] = {}
        self._events: dict[int, deque[LoggedEvent]] = {}
        self._length = length

    def append(
        self,
        organization_id: int,
        event: str,
        conversation_id: int | None,
        payload: dict[str, Any],
        assignees: tuple[int | None, ...],
    ) -> LoggedEvent:
        with self._lock:
            seq = self._seq.get(organization_id, 0) + 1
            self._seq[organization_id] = seq
            logged = LoggedEvent(seq, event, conversation_id, payload, assignees)
            self._events.setdefault(organization_id, deque(maxlen=self._length)).append(logged)
            return logged

    def since(self, organization_id: int, after: int) -> Replay:
        with self._lock:
            events = list(self._events.get(organization_id, ()))
            seq = self._seq.get(organization_id, 0)
        return _replay(events, after, seq)

    def current(self, organization_id: int) -> int:
        with self._lock:
            return self._seq.get(organization_id, 0)


# Atomically: next number, append, trim. One round trip per event.
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, string.format('[%d,%s', seq, ARGV[1]))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return seq
"""


class RedisEventLog:
    """Shared by every server and worker process: the sequence and log live in Redis."""

    def __init__(self, url: str, prefix: str, length: int = LOG_LENGTH) -> None:
        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._append = self._redis.register_script(_APPEND)
        self._length = length

    def _keys(self, organization_id: int) -> tuple[str, str]:
        base = f"{self._prefix}:rt:{organization_id}"
        return f"{base}:seq", f"{base}:log"

    def append(
        self,
        organization_id: int,
        event: str,
        conversation_id: int | None,
        payload: dict[str, Any],
        assignees: tuple[int | None, ...],
    ) -> LoggedEvent:
        rest = json.dumps([event, conversation_id, payload, list(assignees)])[1:]
        seq = int(self._append(keys=self._keys(organization_id), args=[rest, self._length]))
        return LoggedEvent(seq, event, conversation_id, payload, assignees)

    def since(self, organization_id: int, after: int) -> Replay:
        seq_key, log_key = self._keys(organization_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(seq_key)
            pipe.zrange(log_key, 0, 0, withscores=True)
            pipe.zrangebyscore(log_key, f"({after}", "+inf")
            raw_seq, oldest, raw_events = pipe.execute()
        seq = int(raw_seq or 0)
        events = [LoggedEvent.from_json(raw) for raw in raw_events]
        return _replay(events, after, seq, oldest=int(oldest[0][1]) if oldest else None)

    def current(self, organization_id: int) -> int:
        raw: bytes | None = self._redis.get(self._keys(organization_id)[0])  # type: ignore[assignment]  # sync client
        return int(raw or 0)


def _replay(events: list[LoggedEvent], after: int, seq: int, oldest: int | None = None) -> Replay:
    if after > seq:
        return Replay([], False, seq)  # the log was reset (Redis restarted): start over
    if after == seq:
        return Replay([], True, seq)
    first = oldest if oldest is not None else (events[0].seq if events else seq + 1)
    if after < first - 1:
        return Replay([], False, seq)
    return Replay([e for e in events if e.seq > after], True, seq)


@cache
def event_log() -> EventLog:
    if settings.REDIS_URL:
        return RedisEventLog(settings.REDIS_URL, settings.REALTIME_PREFIX)
    return MemoryEventLog()


def publish(event: Event) -> None:
    """Sequence, log and send `event` to its audience. A realtime outage is logged, never
    raised into the caller: the write it reports has committed, and browsers resync."""
    try:
        logged = event_log().append(
            event.organization_id,
            event.name,
            event.conversation_id,
            event.payload,
            event.assignees,
        )
        layer = get_channel_layer()
        if layer is None:
            return
        message = {**logged.frame(), "type": "parley.event"}
        # One trip into async code for all the groups: from sync code each async_to_sync call
        # starts an event loop in a new thread, and the Redis layer a connection for that loop.
        async_to_sync(_send_to_groups)(
            layer, audience_groups(event.organization_id, event.assignees), message
        )
    except Exception:
        logger.exception("realtime publish failed for %s", event.name)


async def _send_to_groups(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, message)
