"""Messenger adapter: the 24-hour standard window and the 7-day HUMAN_AGENT tag."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from connectors.base import ReplyWindow

MAX_TEXT_LENGTH = 2000
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


class MessengerConnector:
    kind = "messenger"
    required_credentials: tuple[str, ...] = ("page_access_token",)
    optional_credentials: tuple[str, ...] = ()
    supports_public_replies = False

    def reply_window(
        self,
        *,
        last_inbound_at: datetime | None,
        channel_settings: Mapping[str, Any],
        now: datetime,
    ) -> ReplyWindow:
        if last_inbound_at is None:
            return ReplyWindow(state="closed", closes_at=None)
        standard_end = last_inbound_at + STANDARD_WINDOW
        if now < standard_end:
            return ReplyWindow(state="open", closes_at=standard_end)
        if channel_settings.get("human_agent_approved", False):
            human_end = last_inbound_at + HUMAN_AGENT_WINDOW
            if now < human_end:
                return ReplyWindow(state="human_agent", closes_at=human_end)
            return ReplyWindow(state="closed", closes_at=human_end)
        return ReplyWindow(state="closed", closes_at=standard_end)

    def max_text_length(self, *, public: bool) -> int:
        return MAX_TEXT_LENGTH
