from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors import ingest
from inbox.services.webhooks import webhook_events_for_replay

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _since(value: str) -> datetime:
    match = _DURATION.match(value)
    if match:
        return timezone.now() - timedelta(**{_UNITS[match[2]]: int(match[1])})
    when = parse_datetime(value)
    if when is None:
        raise CommandError(f"--since takes an ISO time or a duration like 30m, 6h, 2d: {value!r}")
    return when if timezone.is_aware(when) else timezone.make_aware(when)


class Command(BaseCommand):
    help = (
        "Re-run stored webhook events through processing. Safe to repeat: processing is "
        "idempotent, so replaying an event that already worked changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--failed", action="store_true", help="only events that failed")
        parser.add_argument("--since", help="ISO time, or a duration back from now: 30m, 6h, 2d")
        parser.add_argument("--id", type=int, action="append", default=[], help="event id(s)")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _since(options["since"]) if options["since"] else None
        events = webhook_events_for_replay(
            failed_only=options["failed"], since=since, ids=options["id"]
        )
        counts: dict[str, int] = {}
        for event_id in events.values_list("pk", flat=True).iterator():
            status = ingest.process(event_id)
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        self.stdout.write(f"replayed: {summary}")
