"""Template filters for the inbox pages (see inbox.views.presentation).

None of them marks anything safe: customer and platform text stays auto-escaped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from inbox.models import Conversation, Message
from inbox.views import presentation

register = template.Library()


@register.filter
def reltime(value: datetime | None) -> str:
    return presentation.relative_time(value) if value else ""


@register.filter
def exacttime(value: datetime | None) -> str:
    return presentation.exact_time(value) if value else ""


@register.filter
def age(value: datetime | None) -> str:
    return presentation.age(value) if value else ""


@register.filter
def daykey(value: datetime) -> str:
    return presentation.day_key(value)


@register.filter
def daylabel(value: datetime) -> str:
    return presentation.day_label(value)


@register.filter
def initials(value: str) -> str:
    return presentation.initials(value or "")


@register.filter
def hue(value: object) -> int:
    return presentation.avatar_hue(value)


@register.filter
def http_url(value: object) -> str:
    return presentation.http_url(value)


@register.filter
def attachment(value: Any) -> presentation.AttachmentView:
    return presentation.attachment_view(value)


@register.filter
def tick(message: Message) -> presentation.Tick | None:
    return presentation.tick(message)


@register.filter
def present(conversation: Conversation) -> bool:
    return presentation.present(conversation)


@register.filter
def sla(conversation: Conversation) -> presentation.SLAView | None:
    return presentation.sla_badge(conversation)


@register.filter
def sla_clocks(conversation: Conversation) -> list[presentation.SLAView]:
    return presentation.sla_views(conversation)
