"""The one place that pushes events to agent browsers.

Every event gets a per-organization sequence number and is appended to a bounded log (a Redis
sorted set when REDIS_URL is set, process memory in the embedded default), then sent to the
channel-layer groups of its audience. A browser that reconnects says which number it saw last
and the consumer replays what it missed from the log, or tells it to resync when the gap is
older than the log.

With Redis, `publish` only hands the event to the process's publisher: one daemon thread
running one long-lived event loop that holds the channel layer's and the log's connections.
It appends whatever has queued up in one round trip (a pipeline of the append script), then
sends those events to their groups in a second one (a pipeline of PUBLISH, with the pub/sub
layer settings configure), always in the order the events were handed over: per process and
organization, sequence numbers follow the order of `publish` calls. `flush` waits for what
was handed over; process exit and a Celery worker process's shutdown flush. In the embedded
default, `publish` does everything before it returns, as a single process can.

Audience groups, decided here on the server:
- `org.<id>.all`: supervisors and admins, every event of the organization;
- `org.<id>.queue`: agents, events of unassigned conversations;
- `org.<id>.user.<user id>`: one agent, events of conversations assigned to them;
- `conv.<id>`: whoever has the conversation open (presence and typing, not sequenced).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import redis
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

if TYPE_CHECKING:
    from inbox.events import Event

logger = logging.getLogger(__name__)

LOG_LENGTH = 2000  # events kept per organization for replay
MAX_BATCH = 200  # events appended in one round trip
MAX_PENDING = 100_000  # beyond this (Redis down or stalled) new events are dropped, not queued
EXIT_FLUSH_TIMEOUT = 5.0  # seconds a finishing process waits for its last events
REDIS_TIMEOUT = 5.0  # seconds before the publisher gives up on a Redis call


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


# Atomically: next number, append, trim. The publisher pipelines one call per event.
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
        rest = _log_entry_rest(event, conversation_id, payload, assignees)
        seq = int(self._append(keys=self._keys(organization_id), args=[rest, self._length]))
        return LoggedEvent(seq, event, conversation_id, payload, assignees)

    async def append_many(
        self, client: aioredis.Redis, events: Sequence[Event]
    ) -> list[LoggedEvent | None]:
        """Append `events` in their order, in one round trip over `client` (the caller's
        connection, on the caller's loop). None in place of an event the script refused.

        Raises redis errors when the round trip fails as a whole (nothing is known appended)."""
        pipe = client.pipeline(transaction=False)
        for e in events:
            rest = _log_entry_rest(e.name, e.conversation_id, e.payload, e.assignees)
            # EVAL, not EVALSHA: Redis caches the compiled script by its hash, and a pipeline
            # of EVALSHA would first ask whether the script exists, a second round trip.
            pipe.eval(_APPEND, 2, *self._keys(e.organization_id), rest, str(self._length))
        results = await pipe.execute(raise_on_error=False)
        logged: list[LoggedEvent | None] = []
        for e, result in zip(events, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("realtime log append failed for %s: %s", e.name, result)
                logged.append(None)
            else:
                logged.append(
                    LoggedEvent(int(result), e.name, e.conversation_id, e.payload, e.assignees)
                )
        return logged

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


def _log_entry_rest(
    event: str,
    conversation_id: int | None,
    payload: dict[str, Any],
    assignees: tuple[int | None, ...],
) -> str:
    """A log entry without its leading `[seq,`, which the append script prepends."""
    return json.dumps([event, conversation_id, payload, list(assignees)])[1:]


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
    """Sequence, log and send `event` to its audience.

    With Redis this only queues the event for the process's publisher thread and returns
    without waiting for the network (`flush` waits). In the embedded default it is done on
    return when called from sync code; from inside an event loop the group sends are a task
    of that loop. Never raises: a realtime outage is logged, because the write the event
    reports has committed, and browsers resync from the sequence gap."""
    try:
        log = event_log()
        if isinstance(log, RedisEventLog):
            _publisher().submit(event)
        else:
            _publish_in_process(log, event)
    except Exception:
        logger.exception("realtime publish failed for %s", event.name)


def flush(timeout: float = EXIT_FLUSH_TIMEOUT) -> bool:
    """Wait until every event this process handed to `publish` so far has been published
    (or failed and been logged). False when `timeout` seconds passed first. Never raises.

    Blocks the calling thread: from async code, run it in a thread."""
    publisher = _current
    if publisher is None or publisher.pid != os.getpid():
        return True
    return publisher.flush(timeout)


def _message(logged: LoggedEvent) -> dict[str, Any]:
    return {**logged.frame(), "type": "parley.event"}


def _publish_in_process(log: EventLog, event: Event) -> None:
    logged = log.append(
        event.organization_id,
        event.name,
        event.conversation_id,
        event.payload,
        event.assignees,
    )
    layer = get_channel_layer()
    if layer is None:
        return
    groups = audience_groups(event.organization_id, event.assignees)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # From sync code: Channels runs this on the server's loop when called from one of its
        # threads, where the in-memory layer's queues live.
        async_to_sync(_send_to_groups)(layer, groups, _message(logged))
        return
    task = loop.create_task(_send_to_groups(layer, groups, _message(logged)))
    _tasks.add(task)
    task.add_done_callback(_task_done)


_tasks: set[asyncio.Task[None]] = set()  # strong references until done


def _task_done(task: asyncio.Task[None]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("realtime group send failed", exc_info=task.exception())


async def _send_to_groups(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, message)


class Publisher:
    """The process's publishing thread: one event loop, for the life of the process, holding
    the channel layer's and the log's Redis connections.

    `submit` is thread-safe and never waits for the network; events are published in the
    order they were submitted. Not usable across fork: a child makes its own."""

    def __init__(self, redis_url: str) -> None:
        self.pid = os.getpid()
        self._redis_url = redis_url
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._pending: deque[Event] = deque()
        self._submitted = 0
        self._finished = 0  # published, or failed and logged
        self._wake_scheduled = False
        self._dropped = 0
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="realtime-publisher", daemon=True)
        self._thread.start()

    def submit(self, event: Event) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._dropped += 1
                dropped = self._dropped
            else:
                dropped = 0
                self._pending.append(event)
                self._submitted += 1
                wake = not self._wake_scheduled
                self._wake_scheduled = True
        if dropped:
            if dropped == 1 or dropped % 1000 == 0:
                logger.error("realtime publisher is behind: %d events dropped", dropped)
            return
        if wake:  # one loop wake-up per batch, not per event
            self._loop.call_soon_threadsafe(self._wake.set)

    def flush(self, timeout: float) -> bool:
        if threading.current_thread() is self._thread:
            return False  # it would wait for itself
        with self._lock:
            target = self._submitted
            return self._progress.wait_for(lambda: self._finished >= target, timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception:  # e.g. a malformed REDIS_URL: flush then times out, callers go on
            logger.exception("realtime publisher stopped")

    async def _serve(self) -> None:
        client = aioredis.Redis.from_url(
            self._redis_url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
        while True:
            await self._wake.wait()
            self._wake.clear()
            while batch := self._take():
                try:
                    await self._publish(client, batch)
                except Exception:
                    logger.exception("realtime publish failed for %d events", len(batch))
                finally:
                    with self._lock:
                        self._finished += len(batch)
                        self._progress.notify_all()

    def _take(self) -> list[Event]:
        with self._lock:
            # Cleared with the taking: an event submitted from now on schedules a wake-up.
            self._wake_scheduled = False
            count = min(len(self._pending), MAX_BATCH)
            return [self._pending.popleft() for _ in range(count)]

    async def _publish(self, client: aioredis.Redis, batch: list[Event]) -> None:
        log = event_log()
        if not isinstance(log, RedisEventLog):  # settings changed under a running process
            for event in batch:
                _publish_in_process(log, event)
            return
        appended = await log.append_many(client, batch)
        layer = get_channel_layer()
        if layer is None:
            return
        logged = [(e, entry) for e, entry in zip(batch, appended, strict=True) if entry]
        group_channel = _pubsub_group_channel(layer)
        if group_channel is not None:
            await _publish_pipelined(client, layer, group_channel, logged)
            return
        for event, entry in logged:
            try:
                # One group at a time, events in order: a socket in two of the groups drops
                # the second copy by its sequence number, and must see numbers grow.
                await _send_to_groups(
                    layer, audience_groups(event.organization_id, event.assignees), _message(entry)
                )
            except Exception:
                logger.exception("realtime group send failed for %s", event.name)


def _pubsub_group_channel(layer: Any) -> Callable[[str], str] | None:
    """With the pub/sub layer on one Redis (REDIS_URL, as settings configure it): the Redis
    channel of a group, so that a batch's group messages go out in one pipeline rather than
    one round trip each. None for any other layer, which gets `group_send`.

    Must run on the publisher's loop: the layer keeps its state per loop."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    try:
        # The layer's own naming, so that its subscribers hear us; not public API, hence
        # the fallback (and a test that the fast path is taken).
        loop_layer = layer._get_layer()
        if len(loop_layer._shards) != 1:
            return None
        name: Callable[[str], str] = loop_layer._get_group_channel_name
    except AttributeError:
        return None
    return name


async def _publish_pipelined(
    client: aioredis.Redis,
    layer: Any,
    group_channel: Callable[[str], str],
    logged: list[tuple[Event, LoggedEvent]],
) -> None:
    pipe = client.pipeline(transaction=False)
    for event, entry in logged:
        data = layer.serialize(_message(entry))  # the layer's wire format, once per event
        for group in audience_groups(event.organization_id, event.assignees):
            pipe.publish(group_channel(group), data)
    for result in await pipe.execute(raise_on_error=False):
        if isinstance(result, BaseException):
            logger.error("realtime group send failed: %s", result)


_current: Publisher | None = None
_current_lock = threading.Lock()


def _publisher() -> Publisher:
    global _current  # noqa: PLW0603  # one per process, made on first use
    publisher = _current
    if publisher is not None and publisher.pid == os.getpid():
        return publisher
    with _current_lock:
        if _current is None or _current.pid != os.getpid():
            _current = Publisher(settings.REDIS_URL)
        return _current


def _forget_after_fork() -> None:
    """In a forked child the parent's publisher thread does not exist, and the lock may have
    been held by a parent thread at the fork: start over. What the parent had queued is the
    parent's to publish."""
    global _current, _current_lock  # noqa: PLW0603  # reset in the child only
    _current = None
    _current_lock = threading.Lock()


def _flush_at_exit() -> None:
    if not flush(EXIT_FLUSH_TIMEOUT):
        logger.error("realtime: events still unpublished at exit")


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_flush_at_exit)
