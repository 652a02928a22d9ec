"""X adapter: no reply window (DM permissions and rate limits apply instead)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import ReplyWindow

MAX_DM_LENGTH = 10000
MAX_TWEET_LENGTH = 280


class TwitterConnector:
    kind = "twitter"
    required_credentials: tuple[str, ...] = ("access_token",)
    optional_credentials: tuple[str, ...] = ("refresh_token", "access_token_secret")
    supports_public_replies = True

    def reply_window(
        self,
        *,
        last_inbound_at: datetime | None,
        channel_settings: Mapping[str, Any],
        now: datetime,
    ) -> ReplyWindow:
        return ReplyWindow(state="open", closes_at=None)

    def max_text_length(self, *, public: bool) -> int:
        return MAX_TWEET_LENGTH if public else MAX_DM_LENGTH
