"""Reading "when may we try again" from platform response headers.

Pure functions over header strings, shared by the platform clients so that both turn a throttled
answer into the same `retry_after` seconds on RetryableDeliveryError.
"""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime

# A header promising relief further away than this is treated as garbage rather than obeyed:
# the delivery task has its own bounded backoff and must not park a message for days.
MAX_RETRY_AFTER = 24 * 60 * 60.0


def _bounded(seconds: float) -> float | None:
    if math.isnan(seconds) or seconds > MAX_RETRY_AFTER:
        return None
    return max(0.0, seconds)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Seconds from `now` (Unix time) until the moment an HTTP `Retry-After` header names.

    The header is either delta-seconds or an HTTP-date (RFC 9110 10.2.3); anything else,
    or an absurdly distant time, gives None so the caller falls back to its own backoff.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return _bounded(float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None  # RFC dates are always GMT; a naive one is not a real Retry-After
    return _bounded(moment.timestamp() - now)


def seconds_until_epoch(value: str | None, *, now: float) -> float | None:
    """Seconds from `now` until a Unix-seconds timestamp header (X's `x-rate-limit-reset`)."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return _bounded(reset - now)
