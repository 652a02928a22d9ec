"""Deadline arithmetic on fixed times: split shifts, midnight, weekends, holidays, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from inbox.business_hours import EmptyScheduleError, Schedule, Shift, deadline, elapsed

LONDON = "Europe/London"
WEEKDAYS = range(5)


def nine_to_five(tz: str = LONDON, **kwargs: object) -> Schedule:
    return Schedule(tz, tuple(Shift(d, time(9), time(17)) for d in WEEKDAYS), **kwargs)  # type: ignore[arg-type]  # holidays only


def at(tz: str, *when: int) -> datetime:
    year, month, day, hour, minute = when
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_calendar_time_without_a_schedule() -> None:
    start = at(LONDON, 2026, 11, 27, 16, 0)
    assert deadline(start, timedelta(hours=2), None) == start + timedelta(hours=2)
    assert elapsed(start, start + timedelta(hours=5), None) == timedelta(hours=5)


def test_inside_one_working_day() -> None:
    start = at(LONDON, 2026, 11, 26, 10, 0)  # Thursday
    assert nine_to_five().add(start, timedelta(hours=2)) == at(LONDON, 2026, 11, 26, 12, 0)


def test_carries_over_the_evening_and_the_weekend() -> None:
    friday_4pm = at(LONDON, 2026, 11, 27, 16, 0)
    assert nine_to_five().add(friday_4pm, timedelta(hours=2)) == at(LONDON, 2026, 11, 30, 10, 0)


def test_a_message_at_night_starts_counting_at_opening() -> None:
    tuesday_3am = at(LONDON, 2026, 12, 1, 3, 0)
    due = nine_to_five().add(tuesday_3am, timedelta(minutes=15))
    assert due == at(LONDON, 2026, 12, 1, 9, 15)


def test_split_shifts_skip_the_lunch_break() -> None:
    split = Schedule(
        LONDON,
        tuple(
            s for d in WEEKDAYS for s in (Shift(d, time(9), time(12)), Shift(d, time(13), time(17)))
        ),
    )
    due = split.add(at(LONDON, 2026, 11, 26, 11, 30), timedelta(hours=1))
    assert due == at(LONDON, 2026, 11, 26, 13, 30)


def test_a_night_shift_crosses_midnight() -> None:
    nights = Schedule(LONDON, tuple(Shift(d, time(22), time(6)) for d in range(7)))
    due = nights.add(at(LONDON, 2026, 11, 26, 23, 0), timedelta(hours=3))
    assert due == at(LONDON, 2026, 11, 27, 2, 0)
    just_after_midnight = at(LONDON, 2026, 11, 27, 1, 0)
    assert nights.add(just_after_midnight, timedelta(hours=6)) == at(LONDON, 2026, 11, 27, 23, 0)


def test_holidays_are_skipped() -> None:
    christmas = nine_to_five(holidays=frozenset({date(2026, 12, 25)}))
    thursday_4pm = at(LONDON, 2026, 12, 24, 16, 0)
    assert christmas.add(thursday_4pm, timedelta(hours=2)) == at(LONDON, 2026, 12, 28, 10, 0)


def test_dst_spring_forward_keeps_working_hours_in_local_time() -> None:
    # Clocks go forward on Sunday 29 March 2026 in London: Friday 16:00 is 16:00 UTC, and
    # the second working hour runs from Monday 09:00 BST (08:00 UTC) to 10:00 BST.
    friday_4pm = at(LONDON, 2026, 3, 27, 16, 0)
    assert friday_4pm == datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
    due = nine_to_five().add(friday_4pm, timedelta(hours=2))
    assert due == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def test_dst_changes_inside_a_24_hour_schedule() -> None:
    always = Schedule("America/New_York", tuple(Shift(d, time(0), time(0)) for d in range(7)))
    # 1 November 2026: clocks go back at 02:00; a 24-hour target is still 24 real hours.
    start = at("America/New_York", 2026, 10, 31, 12, 0)
    assert always.add(start, timedelta(hours=24)) == start + timedelta(hours=24)


def test_elapsed_counts_only_working_time() -> None:
    schedule = nine_to_five()
    friday_4pm, monday_10am = at(LONDON, 2026, 11, 27, 16, 0), at(LONDON, 2026, 11, 30, 10, 0)
    assert schedule.elapsed(friday_4pm, monday_10am) == timedelta(hours=2)


def test_pause_and_resume_keep_the_remaining_time() -> None:
    schedule = nine_to_five()
    started = at(LONDON, 2026, 11, 26, 9, 0)
    paused = at(LONDON, 2026, 11, 26, 9, 10)  # pending: waiting on the customer
    resumed = at(LONDON, 2026, 11, 26, 15, 0)
    consumed = elapsed(started, paused, schedule)
    due = deadline(resumed, timedelta(minutes=15) - consumed, schedule)
    assert due == at(LONDON, 2026, 11, 26, 15, 5)


def test_an_empty_schedule_is_an_error_not_a_hang() -> None:
    with pytest.raises(EmptyScheduleError):
        Schedule(LONDON, ()).add(at(LONDON, 2026, 11, 26, 9, 0), timedelta(minutes=1))


def test_schedules_load_from_json() -> None:
    schedule = Schedule.from_json(
        LONDON,
        {"shifts": [{"weekday": 0, "start": "09:00", "end": "17:00"}], "holidays": ["2026-12-28"]},
    )
    assert schedule.shifts == (Shift(0, time(9), time(17)),)
    assert date(2026, 12, 28) in schedule.holidays
