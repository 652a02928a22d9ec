"""What one `inbox.realtime.publish` costs the process that calls it, on Redis.

    DEBUG=1 REDIS_URL=redis://.../11 python -m bench.realtime_publish [--events 3000] [--runs 3]

Publishes `--events` events of one organization from one thread, back to back, as a worker
that commits a burst of changes would, then waits until they are all published (`flush`, when
the module has one). Per run it reports:

- caller ms/event: wall time `publish` blocks its caller;
- caller CPU ms/event: CPU time of the calling thread;
- process CPU ms/event: CPU time of the whole process (every thread, the publishing one
  included) from the first publish until everything is published;
- events/s: events over the wall time until everything is published.

`--members` channels (of the layer, in this process) join the supervisors' group first, so the
group sends have recipients; they are read by nobody, so keep it under the layer's capacity.
The sequence/log keys and groups live under a REALTIME_PREFIX of the run's own, deleted at the
end. No database is needed. Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from channels.layers import get_channel_layer
from django.conf import settings

from bench import django_env  # noqa: F401  # sets Django up: must precede the app imports
from inbox import realtime
from inbox.events import Event

ORGANIZATION = 1


def _event(n: int) -> Event:
    return Event(
        name="message.created",
        organization_id=ORGANIZATION,
        conversation_id=n,
        payload={"id": n, "conversation_id": n, "direction": "in", "kind": "text", "status": "ok"},
        assignees=(None,),
    )


def _flush() -> None:
    flush: Callable[[float], bool] | None = getattr(realtime, "flush", None)
    if flush is not None and not flush(60.0):
        raise SystemExit("the publisher did not finish within 60 s")


def _run(events: int) -> tuple[float, float, float, float]:
    wall = time.perf_counter()
    thread_cpu = time.thread_time()
    process_cpu = time.process_time()
    for n in range(events):
        realtime.publish(_event(n))
    caller_wall = time.perf_counter() - wall
    caller_cpu = time.thread_time() - thread_cpu
    _flush()
    total_wall = time.perf_counter() - wall
    total_cpu = time.process_time() - process_cpu
    return (
        caller_wall * 1e3 / events,
        caller_cpu * 1e3 / events,
        total_cpu * 1e3 / events,
        events / total_wall,
    )


async def _join(members: int) -> list[str]:
    layer = get_channel_layer()
    assert layer is not None
    channels = [await layer.new_channel() for _ in range(members)]
    for channel in channels:
        await layer.group_add(realtime.supervisors_group(ORGANIZATION), channel)
    return channels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--members", type=int, default=0, help="channels in the group")
    args = parser.parse_args(argv)
    if not settings.REDIS_URL:
        raise SystemExit("Set REDIS_URL: the embedded default publishes in-process.")
    prefix = f"bench-publish-{uuid.uuid4().hex[:8]}"
    settings.REALTIME_PREFIX = prefix
    layer: dict[str, Any] = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**layer["CONFIG"], "prefix": prefix}
    settings.CHANNEL_LAYERS = {"default": layer}
    if args.members:
        asyncio.run(_join(args.members))
    for n in range(50):  # warm-up: connections, script load, imports
        realtime.publish(_event(n))
    _flush()
    rows = [_run(args.events) for _ in range(args.runs)]
    print(f"## Publish cost: {args.events} events x {args.runs} runs, {args.members} members\n")
    print("| run | caller ms/event | caller CPU ms/event | process CPU ms/event | events/s |")
    print("|---:|---:|---:|---:|---:|")
    for n, (wall, cpu, total, rate) in enumerate(rows, 1):
        print(f"| {n} | {wall:.3f} | {cpu:.3f} | {total:.3f} | {rate:.0f} |")
    medians = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(f"| median | {medians[0]:.3f} | {medians[1]:.3f} | {medians[2]:.3f} | {medians[3]:.0f} |")
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


if __name__ == "__main__":
    main()
