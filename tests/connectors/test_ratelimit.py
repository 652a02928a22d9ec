"""Reading retry times from Retry-After and x-rate-limit-reset headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from connectors.ratelimit import retry_after_seconds, seconds_until_epoch

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-5", 0.0),  # already past: retry now, not never
        (format_datetime(datetime(2026, 11, 23, 12, 1, 30, tzinfo=UTC), usegmt=True), 90.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("999999999", None),  # days away: not a real answer, use our own backoff
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int(NOW) + 60), 60.0),
        (str(int(NOW) - 10), 0.0),
        ("abc", None),
        (None, None),
        (str(int(NOW) + 10 * 24 * 3600), None),
    ],
)
def test_seconds_until_epoch(value: str | None, expected: float | None) -> None:
    assert seconds_until_epoch(value, now=NOW) == expected
