"""Business-time arithmetic for SLA deadlines: weekly schedules with split shifts, shifts that
cross midnight, dated holidays, all in the organization's time zone (DST included).

Pure functions on aware datetimes; no database. A schedule of None means calendar time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# Longest stretch searched for business time before a schedule is declared empty.
SEARCH_DAYS = 3 * 366


class EmptyScheduleError(ValueError):
    """The schedule has no working time at all (or none in the next few years)."""


@dataclass(frozen=True)
class Shift:
    """Working time on one weekday (0 = Monday). `end <= start` means it runs past midnight
    into the next day (a night shift); `start == end` is a full 24 hours."""

    weekday: int
    start: time
    end: time

    def interval_on(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        begin = datetime.combine(day, self.start)
        finish_day = day if self.end > self.start else day + timedelta(days=1)
        finish = datetime.combine(finish_day, self.end)
        return _aware(begin, tz), _aware(finish, tz)


@dataclass(frozen=True)
class Schedule:
    time_zone: str
    shifts: tuple[Shift, ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC, ordered, merged) that end after `start`, clipped to it."""
        tz = self.tz
        first_day = start.astimezone(tz).date() - timedelta(days=1)  # yesterday's night shift
        pending: tuple[datetime, datetime] | None = None
        for offset in range(SEARCH_DAYS):
            day = first_day + timedelta(days=offset)
            if day in self.holidays:
                continue
            todays = sorted(
                shift.interval_on(day, tz)
                for shift in self.shifts
                if shift.weekday == day.weekday()
            )
            for shift_begin, finish in todays:
                if finish <= start:
                    continue
                begin = max(shift_begin, start)
                if pending is None:
                    pending = (begin, finish)
                elif begin <= pending[1]:
                    pending = (pending[0], max(pending[1], finish))
                else:
                    yield pending
                    pending = (begin, finish)
        if pending is not None:
            yield pending

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when `duration` of working time has passed since `start`."""
        remaining = duration
        for begin, finish in self.intervals(start):
            span = finish - begin
            if remaining <= span:
                return (begin + remaining).astimezone(UTC)
            remaining -= span
        raise EmptyScheduleError(f"no working time within {SEARCH_DAYS} days")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two moments."""
        total = timedelta()
        if end <= start:
            return total
        for begin, finish in self.intervals(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total

    @classmethod
    def from_json(cls, time_zone: str, data: dict[str, Any]) -> Schedule:
        """`{"shifts": [{"weekday": 0, "start": "09:00", "end": "17:00"}, ...],
        "holidays": ["2026-12-25", ...]}` as stored in the database."""
        shifts = tuple(
            Shift(int(s["weekday"]), time.fromisoformat(s["start"]), time.fromisoformat(s["end"]))
            for s in data.get("shifts", [])
        )
        holidays = frozenset(date.fromisoformat(d) for d in data.get("holidays", []))
        return cls(time_zone, shifts, holidays)


def _aware(local: datetime, tz: ZoneInfo) -> datetime:
    """Local wall time to UTC. A time skipped by a DST jump maps forward past the gap; an
    ambiguous time (clocks back) takes its first occurrence."""
    aware = local.replace(tzinfo=tz, fold=0)
    roundtrip = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if roundtrip != local:  # in the gap: move forward by the gap's length
        aware = local.replace(tzinfo=tz, fold=1)
    return aware.astimezone(UTC)


def deadline(running_since: datetime, remaining: timedelta, schedule: Schedule | None) -> datetime:
    """When a clock running since `running_since` with `remaining` time left runs out.

    Pauses are the caller's bookkeeping: on pause it adds `elapsed()` to what was consumed, on
    resume it restarts `running_since` with the rest. Calendar time without a schedule.
    """
    if schedule is None:
        return running_since + remaining
    return schedule.add(running_since, remaining)


def elapsed(start: datetime, end: datetime, schedule: Schedule | None) -> timedelta:
    """Clock time between two moments: working time with a schedule, else calendar time."""
    if schedule is None:
        return max(end - start, timedelta())
    return schedule.elapsed(start, end)
