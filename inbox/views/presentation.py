"""How the inbox shows things: times, avatars, the reply window, delivery ticks, attachments.

Pure functions over loaded objects (no queries). Times are shown in the active time zone,
which the page middleware sets to the organization's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from connectors.registry import connector_for
from inbox.models import (
    ChannelStatus,
    Conversation,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    SLAClock,
    SLAClockState,
    SLAMetric,
)
from inbox.services.messages import reply_window

# "The customer is here": they wrote this recently.
PRESENT_FOR = timedelta(minutes=5)

IMAGE_TYPES = frozenset({"image", "photo", "sticker", "animated_gif"})

OWED_STATES = (SLAClockState.RUNNING, SLAClockState.WARNING, SLAClockState.BREACHED)


def present(conversation: Conversation, *, now: datetime | None = None) -> bool:
    """The customer acted within the last five minutes (the "Live" badge)."""
    if conversation.last_inbound_at is None:
        return False
    return conversation.last_inbound_at >= (now or timezone.now()) - PRESENT_FOR


def exact_time(value: datetime) -> str:
    """Tue 24 Nov 2026, 14:05 in the organization's time zone (the hover text)."""
    local = timezone.localtime(value)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({local.tzname()})"


def relative_time(value: datetime, *, now: datetime | None = None) -> str:
    """Short and human: "now", "4 min", "3 h", "Yesterday", "Mon", "12 Mar", "12 Mar 2024"."""
    now = now or timezone.now()
    seconds = (now - value).total_seconds()
    local, today = timezone.localtime(value), timezone.localtime(now).date()
    if seconds < 60:  # noqa: PLR2004  # a minute
        text = "now"
    elif seconds < 3600:  # noqa: PLR2004  # an hour
        text = f"{int(seconds // 60)} min"
    elif local.date() == today:
        text = f"{int(seconds // 3600)} h"
    elif local.date() == today - timedelta(days=1):
        text = "Yesterday"
    elif today - local.date() < timedelta(days=7):
        text = f"{local:%a}"
    elif local.year == today.year:
        text = f"{local.day} {local:%b}"
    else:
        text = f"{local.day} {local:%b %Y}"
    return text


def age(value: datetime, *, now: datetime | None = None) -> str:
    """How long ago, in one unit: "4 min", "3 h", "2 d"."""
    seconds = max(0.0, ((now or timezone.now()) - value).total_seconds())
    if seconds < 3600:  # noqa: PLR2004  # an hour
        return f"{max(1, int(seconds // 60))} min"
    if seconds < 86400:  # noqa: PLR2004  # a day
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def day_key(value: datetime) -> str:
    return timezone.localtime(value).date().isoformat()


def day_label(value: datetime, *, now: datetime | None = None) -> str:
    """A day separator: "Today", "Yesterday", "Monday 23 November", "3 March 2025"."""
    day: date = timezone.localtime(value).date()
    today = timezone.localtime(now or timezone.now()).date()
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day.year == today.year:
        return f"{day:%A} {day.day} {day:%B}"
    return f"{day.day} {day:%B %Y}"


def initials(name: str) -> str:
    words = [w for w in name.replace("@", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    letters = words[0][:1] + (words[-1][:1] if len(words) > 1 else "")
    return letters.upper()


def avatar_hue(seed: object) -> int:
    """A stable colour per person, so the same customer always looks the same."""
    return int(hashlib.sha256(str(seed).encode()).hexdigest()[:4], 16) % 360


def http_url(value: object) -> str:
    """`value` if it is an absolute http(s) URL, else "" (never a javascript: or data: URL)."""
    if not isinstance(value, str) or len(value) > 4000:  # noqa: PLR2004  # no sane URL is longer
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return value.strip()


@dataclass(frozen=True)
class AttachmentView:
    kind: str  # "image", "link" or "unavailable"
    type: str
    url: str
    label: str


def attachment_view(raw: object) -> AttachmentView:
    """An attachment as the page may show it: the platform's URL (never fetched by us), only
    when it is http(s); an image when the type says so."""
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    kind = str(data.get("type") or "file")[:40]
    url = http_url(data.get("url"))
    extra = data.get("data")
    title = extra.get("title") if isinstance(extra, Mapping) else None
    label = str(title)[:200] if isinstance(title, str) and title.strip() else f"{kind} attachment"
    if not url:
        return AttachmentView("unavailable", kind, "", label)
    if kind in IMAGE_TYPES:
        return AttachmentView("image", kind, url, label)
    return AttachmentView("link", kind, url, label)


@dataclass(frozen=True)
class Tick:
    symbol: str
    label: str
    css: str


_TICKS: dict[str, Tick] = {
    MessageStatus.QUEUED: Tick("clock", "Queued", "tick-queued"),
    MessageStatus.SENT: Tick("✓", "Sent", "tick-sent"),
    MessageStatus.DELIVERED: Tick("✓✓", "Delivered", "tick-delivered"),
    MessageStatus.READ: Tick("✓✓", "Read", "tick-read"),
    MessageStatus.FAILED: Tick("!", "Not delivered", "tick-failed"),
}


def tick(message: Message) -> Tick | None:
    """Delivery state of an outbound reply; None for customers' messages and notes."""
    if message.direction != MessageDirection.OUTBOUND or message.kind == MessageKind.NOTE:
        return None
    return _TICKS.get(message.status)


def _duration(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    if minutes < 60:  # noqa: PLR2004  # an hour
        return f"{minutes} min"
    return f"{minutes // 60} h"


@dataclass(frozen=True)
class WindowView:
    """The reply window as the composer shows it."""

    state: str
    can_send: bool
    text: str
    closes_at: datetime | None


def window_view(conversation: Conversation, *, now: datetime | None = None) -> WindowView:
    if conversation.channel.status == ChannelStatus.PAUSED:
        return WindowView(
            "paused", False, "Replies are paused on this channel: an admin can resume it", None
        )
    now = now or timezone.now()
    window = reply_window(conversation, now=now)
    closes_at = window.closes_at
    if window.state == "open":
        if closes_at is None:
            text = "Reply any time: this channel has no reply window"
        else:
            text = f"Reply window open: closes in {_duration(closes_at - now)}"
    elif window.state == "human_agent":
        local = timezone.localtime(closes_at) if closes_at else None
        until = f"{local:%a %H:%M}" if local else "later"
        text = f"Standard window closed: HUMAN_AGENT until {until}"
    else:
        text = "Reply window closed: the customer must write first"
    return WindowView(window.state, window.can_send, text, closes_at)


@dataclass(frozen=True)
class ChannelCapabilities:
    public_replies: bool


def channel_capabilities(kind: str) -> ChannelCapabilities:
    return ChannelCapabilities(public_replies=connector_for(kind).supports_public_replies)


SLA_LABELS: dict[str, str] = {
    SLAMetric.FIRST_RESPONSE: "First reply",
    SLAMetric.NEXT_RESPONSE: "Next reply",
    SLAMetric.RESOLUTION: "Resolution",
}


def span(delta: timedelta) -> str:
    """A countdown in one unit: "4 min", "3 h", "2 d" (the page's script says the same)."""
    minutes = max(1, int(abs(delta.total_seconds()) // 60))
    if minutes < 60:  # noqa: PLR2004  # an hour
        return f"{minutes} min"
    if minutes < 48 * 60:  # two days
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


@dataclass(frozen=True)
class SLAView:
    """One SLA clock as the inbox shows it: "First reply due in 4 min", red when breached."""

    metric: str
    label: str
    state: str
    due_at: datetime | None
    text: str


def sla_view(clock: SLAClock, *, now: datetime | None = None) -> SLAView:
    now = now or timezone.now()
    label = SLA_LABELS.get(clock.metric, clock.metric)
    due = clock.due_at
    if clock.state == SLAClockState.MET:
        text = f"{label} met"
    elif clock.state == SLAClockState.PAUSED or due is None:
        text = f"{label} paused"
    elif clock.state == SLAClockState.BREACHED or due <= now:
        text = f"{label} overdue {span(now - due)}"
    else:
        text = f"{label} due in {span(due - now)}"
    return SLAView(clock.metric, label, clock.state, due, text)


def _clocks(conversation: Conversation) -> list[SLAClock]:
    clocks: list[SLAClock] = getattr(conversation, "current_sla_clocks", [])
    return clocks


def sla_badge(conversation: Conversation, *, now: datetime | None = None) -> SLAView | None:
    """The clock a list row shows: the earliest deadline still owed (overdue ones first), else
    "paused" when the cycle waits on the customer; None when nothing is owed."""
    clocks = _clocks(conversation)
    owed = [c for c in clocks if c.state in OWED_STATES and c.due_at is not None]
    if owed:
        return sla_view(min(owed, key=lambda c: (c.due_at, c.pk or 0)), now=now)
    paused = [c for c in clocks if c.state == SLAClockState.PAUSED]
    if paused:
        return SLAView("", "SLA", SLAClockState.PAUSED, None, "SLA paused")
    return None


def sla_views(conversation: Conversation, *, now: datetime | None = None) -> list[SLAView]:
    """Every clock of the current cycle, in metric order (the thread header)."""
    order: list[str] = list(SLA_LABELS)
    clocks = sorted(_clocks(conversation), key=lambda c: order.index(c.metric))
    return [sla_view(clock, now=now) for clock in clocks]
