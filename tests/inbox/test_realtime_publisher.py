"""The publisher: with Redis, `publish` hands events to one thread per process, which keeps
their order, survives a fork, is flushed on demand and at exit, and never lets a Redis outage
reach the caller. In the embedded default, publishing is done when `publish` returns."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import worker_process_shutdown
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings

from inbox import realtime
from inbox.events import Event
from inbox.realtime import MemoryEventLog, RedisEventLog, event_log
from tests.support.processes import ROOT

_organizations = itertools.count(int(time.time() * 1000) % 10**9 * 10)


def _organization() -> int:
    """An organization id of the test's own: the log outlives the test in Redis."""
    return next(_organizations)


def _event(organization_id: int, **payload: Any) -> Event:
    return Event(
        name="message.created",
        organization_id=organization_id,
        conversation_id=1,
        payload=payload,
        assignees=(None,),
    )


def _logged(organization_id: int) -> list[realtime.LoggedEvent]:
    replay = event_log().since(organization_id, 0)
    assert replay.complete
    return replay.events


@pytest.fixture
def _fresh_layers() -> Iterator[None]:
    """Settings changed by the test reach the layer, the log and the publisher, and the
    suite's own come back afterwards."""
    channel_layers.backends = {}
    event_log.cache_clear()
    realtime._current = None
    yield
    channel_layers.backends = {}
    event_log.cache_clear()
    realtime._current = None


@pytest.mark.redis
def test_publish_returns_at_once_and_flush_waits_for_the_events() -> None:
    org = _organization()
    started = time.perf_counter()
    for n in range(300):
        realtime.publish(_event(org, n=n))
    handing_over = time.perf_counter() - started
    assert realtime.flush(10)
    assert [e.payload["n"] for e in _logged(org)] == list(range(300))
    assert handing_over < 0.3, "publish must not wait for Redis"


@pytest.mark.redis
def test_events_handed_over_from_several_threads_are_numbered_in_that_order() -> None:
    orgs = [_organization(), _organization()]
    handed_over: list[tuple[int, str, int]] = []  # (organization, thread, n) as handed over
    order = threading.Lock()
    start = threading.Barrier(4)

    def publisher(name: str) -> None:
        start.wait()
        for n in range(150):
            org = orgs[n % 2]
            with order:
                handed_over.append((org, name, n))
                realtime.publish(_event(org, thread=name, n=n))

    threads = [threading.Thread(target=publisher, args=(f"t{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert realtime.flush(10)

    for org in orgs:
        logged = _logged(org)
        assert [e.seq for e in logged] == list(range(1, 301)), "every event once, no gaps"
        seq_of = {(e.payload["thread"], e.payload["n"]): e.seq for e in logged}
        in_handing_order = [seq_of[(t, n)] for o, t, n in handed_over if o == org]
        assert in_handing_order == sorted(in_handing_order)


@pytest.mark.redis
def test_a_group_member_receives_the_events_in_order() -> None:
    org = _organization()

    async def scenario() -> list[int]:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        await layer.group_add(realtime.supervisors_group(org), channel)
        try:
            for n in range(40):
                await asyncio.to_thread(realtime.publish, _event(org, n=n))
            received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(40)]
        finally:
            await layer.group_discard(realtime.supervisors_group(org), channel)
        assert [m["payload"]["n"] for m in received] == list(range(40))
        return [int(m["seq"]) for m in received]

    assert asyncio.run(scenario()) == list(range(1, 41))


@pytest.mark.redis
def test_with_the_pubsub_layer_group_messages_are_pipelined() -> None:
    """The fast path depends on the layer's naming of group channels: a channels_redis
    upgrade that changes it must fail here, not silently fall back to a round trip a group."""

    async def channel_of_a_group() -> str | None:
        namer = realtime._pubsub_group_channel(get_channel_layer())
        return None if namer is None else namer("org.1.all")

    name = asyncio.run(channel_of_a_group())
    assert name is not None
    assert name.endswith("org.1.all")


@pytest.mark.redis
def test_a_forked_child_publishes_through_a_publisher_of_its_own() -> None:
    org = _organization()
    realtime.publish(_event(org, who="parent before"))
    assert realtime.flush(10)
    parent_publisher = realtime._current
    assert parent_publisher is not None

    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            fresh = realtime._current is None
            realtime.publish(_event(org, who="child"))
            published = realtime.flush(10)
            own = realtime._current is not None and realtime._current.pid == os.getpid()
            code = 0 if fresh and published and own else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    realtime.publish(_event(org, who="parent after"))
    assert realtime.flush(10)
    assert realtime._current is parent_publisher
    assert [e.payload["who"] for e in _logged(org)] == ["parent before", "child", "parent after"]


@pytest.mark.redis
def test_a_process_that_exits_without_flushing_still_publishes_its_events() -> None:
    prefix = f"parley-test-exit-{uuid.uuid4().hex[:8]}"
    script = (
        "import django; django.setup()\n"
        "from inbox import realtime\n"
        "from inbox.events import Event\n"
        "for n in range(500):\n"
        "    realtime.publish(Event('message.created', 1, 1, {'n': n}, (None,)))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "REDIS_URL": settings.REDIS_URL,
        "REALTIME_PREFIX": prefix,
    }
    env.pop("DATABASE_URL", None)
    subprocess.run(  # noqa: S603  # our own interpreter
        [sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60
    )
    log = RedisEventLog(settings.REDIS_URL, prefix)
    assert log.current(1) == 500
    assert [e.payload["n"] for e in log.since(1, 0).events] == list(range(500))


@pytest.mark.redis
def test_a_celery_worker_process_flushes_when_it_shuts_down() -> None:
    org = _organization()
    for n in range(500):
        realtime.publish(_event(org, n=n))
    worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert event_log().current(org) == 500


@pytest.mark.usefixtures("_fresh_layers")
def test_redis_down_is_logged_and_never_reaches_the_caller(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    closed = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    settings.REDIS_URL = closed
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [closed]},
        }
    }
    caplog.set_level(logging.ERROR, logger="inbox.realtime")
    started = time.perf_counter()
    for n in range(20):
        realtime.publish(_event(1, n=n))
    assert time.perf_counter() - started < 0.5
    assert realtime.flush(20), "failed events count as done: flush does not hang"
    assert any("realtime publish failed" in r.getMessage() for r in caplog.records)


class _BrokenLayer:
    """A channel layer whose Redis is gone."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("Connection refused")


@pytest.mark.redis
def test_a_failed_group_send_is_logged_and_the_next_events_still_go_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    org = _organization()
    caplog.set_level(logging.ERROR, logger="inbox.realtime")
    monkeypatch.setattr(realtime, "get_channel_layer", _BrokenLayer)
    realtime.publish(_event(org, n=0))
    assert realtime.flush(10)
    assert any("group send failed" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()

    async def scenario() -> dict[str, Any]:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        await layer.group_add(realtime.queue_group(org), channel)
        try:
            await asyncio.to_thread(realtime.publish, _event(org, n=1))
            message: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), 5)
        finally:
            await layer.group_discard(realtime.queue_group(org), channel)
        return message

    message = asyncio.run(scenario())
    assert (message["seq"], message["payload"]) == (2, {"n": 1}), "logged even when unsent"


def test_publish_works_from_inside_an_event_loop() -> None:
    org = _organization()

    async def scenario() -> dict[str, Any]:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        await layer.group_add(realtime.user_group(org, 5), channel)
        try:
            realtime.publish(Event("conversation.updated", org, 3, {"id": 3}, assignees=(5, None)))
            message: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), 5)
        finally:
            await layer.group_discard(realtime.user_group(org, 5), channel)
        return message

    message = asyncio.run(scenario())
    assert (message["event"], message["conversation_id"]) == ("conversation.updated", 3)


@pytest.mark.usefixtures("_fresh_layers")
def test_in_the_embedded_default_publish_is_done_when_it_returns(settings: Any) -> None:
    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert isinstance(event_log(), MemoryEventLog)
    realtime.publish(_event(4, n=1))
    assert event_log().current(4) == 1, "logged before publish returned, without a flush"
    assert realtime._current is None, "no publisher thread in the embedded default"
    assert realtime.flush(0)
