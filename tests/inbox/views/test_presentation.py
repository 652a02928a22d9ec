"""How the inbox shows times, windows, ticks, avatars and attachments."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from inbox.models import Channel, Conversation, Message, MessageDirection, MessageKind
from inbox.views import presentation

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=20), "now"),
        (timedelta(minutes=4), "4 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=20), "Yesterday"),
        (timedelta(days=3), "Sun"),
        (timedelta(days=30), "2 Feb"),
        (timedelta(days=400), "28 Jan 2025"),
    ],
)
def test_relative_time(ago: timedelta, text: str) -> None:
    with timezone.override(ZoneInfo("UTC")):
        assert presentation.relative_time(NOW - ago, now=NOW) == text


def test_exact_time_is_in_the_active_time_zone() -> None:
    with timezone.override(ZoneInfo("Europe/Paris")):
        assert presentation.exact_time(NOW) == "Wed 4 Mar 2026, 16:30 (CET)"


def test_day_labels() -> None:
    with timezone.override(ZoneInfo("UTC")):
        assert presentation.day_label(NOW, now=NOW) == "Today"
        assert presentation.day_label(NOW - timedelta(days=1), now=NOW) == "Yesterday"
        assert presentation.day_label(NOW - timedelta(days=2), now=NOW) == "Monday 2 March"
        assert presentation.day_label(NOW - timedelta(days=400), now=NOW) == "28 January 2025"


@pytest.mark.parametrize(
    ("name", "letters"),
    [("Anna Berg", "AB"), ("cher", "C"), ("", "?"), ("  ", "?"), ("Jean-Luc de Vries", "JV")],
)
def test_initials(name: str, letters: str) -> None:
    assert presentation.initials(name) == letters


def test_avatar_hue_is_stable() -> None:
    assert presentation.avatar_hue(42) == presentation.avatar_hue(42)
    assert 0 <= presentation.avatar_hue("x") < 360


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://cdn.example/a.png", True),
        ("http://cdn.example/a.png", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<b>", False),
        ("//cdn.example/a.png", False),
        ("/relative", False),
        ("https://", False),
        (None, False),
        (42, False),
    ],
)
def test_only_http_urls_are_rendered(url: object, kept: bool) -> None:
    assert bool(presentation.http_url(url)) is kept


def test_attachments() -> None:
    image = presentation.attachment_view({"type": "image", "url": "https://x.example/i.jpg"})
    assert (image.kind, image.url) == ("image", "https://x.example/i.jpg")
    photo = presentation.attachment_view({"type": "photo", "url": "https://x.example/p.jpg"})
    assert photo.kind == "image"
    pdf = presentation.attachment_view(
        {"type": "file", "url": "https://x.example/f.pdf", "data": {"title": "Invoice"}}
    )
    assert (pdf.kind, pdf.label) == ("link", "Invoice")
    location = presentation.attachment_view({"type": "location", "data": {"lat": 1}})
    assert (location.kind, location.url) == ("unavailable", "")
    assert presentation.attachment_view("garbage").kind == "unavailable"


def _message(direction: str, kind: str, status: str) -> Message:
    return Message(direction=direction, kind=kind, status=status)


def test_ticks() -> None:
    out, note = MessageDirection.OUTBOUND, MessageKind.NOTE
    assert presentation.tick(_message(out, "message", "queued")).symbol == "clock"  # type: ignore[union-attr]  # asserted not None by the access
    assert presentation.tick(_message(out, "message", "sent")).symbol == "✓"  # type: ignore[union-attr]  # as above
    delivered = presentation.tick(_message(out, "message", "delivered"))
    read = presentation.tick(_message(out, "message", "read"))
    assert delivered is not None
    assert read is not None
    assert delivered.symbol == read.symbol == "✓✓"
    assert read.css == "tick-read"
    assert presentation.tick(_message("inbound", "message", "received")) is None
    assert presentation.tick(_message(out, note, "sent")) is None


def _conversation(kind: str, last_inbound_at: datetime | None, **settings: object) -> Conversation:
    return Conversation(
        channel=Channel(kind=kind, settings=settings), last_inbound_at=last_inbound_at
    )


def test_reply_window_texts() -> None:
    with timezone.override(ZoneInfo("UTC")):
        open_ = presentation.window_view(
            _conversation("messenger", NOW - timedelta(hours=21)), now=NOW
        )
        assert open_.text == "Reply window open: closes in 3 h"
        assert open_.can_send
        soon = presentation.window_view(
            _conversation("messenger", NOW - timedelta(hours=23, minutes=30)), now=NOW
        )
        assert soon.text == "Reply window open: closes in 30 min"
        human = presentation.window_view(
            _conversation("messenger", NOW - timedelta(days=2), human_agent_approved=True), now=NOW
        )
        assert human.text == "Standard window closed: HUMAN_AGENT until Mon 15:30"
        assert human.can_send
        closed = presentation.window_view(
            _conversation("messenger", NOW - timedelta(days=2)), now=NOW
        )
        assert closed.text == "Reply window closed: the customer must write first"
        assert not closed.can_send
        never = presentation.window_view(_conversation("messenger", None), now=NOW)
        assert not never.can_send
        x = presentation.window_view(_conversation("twitter", None), now=NOW)
        assert x.can_send
