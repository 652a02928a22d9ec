"""The connector contract: what every platform adapter offers, and what crosses the boundary.

Dataclasses here are frozen and platform-neutral; inbox code never sees a platform payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

WindowState = Literal["open", "human_agent", "closed"]


@dataclass(frozen=True)
class ReplyWindow:
    """Whether an agent may reply now, and until when.

    `closes_at` is when the current state ends (open → human_agent → closed); for a closed
    window it is when it closed, and None when the customer never wrote.
    """

    state: WindowState
    closes_at: datetime | None

    @property
    def can_send(self) -> bool:
        return self.state != "closed"


class Connector(Protocol):
    """One platform adapter. Implementations live in connectors/<platform>/adapter.py."""

    kind: str
    required_credentials: tuple[str, ...]
    optional_credentials: tuple[str, ...]
    supports_public_replies: bool

    def reply_window(
        self,
        *,
        last_inbound_at: datetime | None,
        channel_settings: Mapping[str, Any],
        now: datetime,
    ) -> ReplyWindow:
        """The reply window, measured from the platform time of the customer's last action."""
        ...

    def max_text_length(self, *, public: bool) -> int:
        """The longest text the platform accepts in one message."""
        ...
