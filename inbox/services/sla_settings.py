"""What an admin sets up for SLAs: policies, business hours and auto-resolve.

Every change that can move a deadline re-times the organization's running clocks after commit
(the `inbox.sla_recompute_organization` task; inline in the embedded default).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from inbox.errors import ConflictError, InvalidError
from inbox.models import (
    BusinessHours,
    Channel,
    Conversation,
    ConversationStatus,
    Membership,
    Organization,
    Priority,
    SLAEscalation,
    SLAPolicy,
)
from inbox.services.conversations import UNSET
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

DEFAULT_POLICY_NAME = "Default"
DEFAULT_FIRST_RESPONSE_MINUTES = 15
DEFAULT_NEXT_RESPONSE_MINUTES = 15
DEFAULT_RESOLUTION_MINUTES = 24 * 60
MAX_TARGET_MINUTES = 365 * 24 * 60
MAX_AUTO_RESOLVE_DAYS = 365
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def recompute_later(organization: Organization) -> None:
    """After commit, re-time the organization's running clocks (policies or hours changed)."""
    organization_id = organization.pk

    def enqueue() -> None:
        from inbox.tasks import sla_recompute_organization  # noqa: PLC0415  # tasks import services

        try:
            sla_recompute_organization.delay(organization_id)
        except Exception:
            logger.exception("could not enqueue the SLA recompute of %s", organization_id)

    transaction.on_commit(enqueue)


# ---- policies ----------------------------------------------------------------------------------


@scoped
def sla_policy_create_default(*, organization: Organization) -> SLAPolicy:
    """The policy every organization starts with: first and next response 15 minutes,
    resolution 24 hours, calendar time (editable)."""
    return SLAPolicy.objects.create(
        organization=organization,
        name=DEFAULT_POLICY_NAME,
        is_default=True,
        first_response_minutes=DEFAULT_FIRST_RESPONSE_MINUTES,
        next_response_minutes=DEFAULT_NEXT_RESPONSE_MINUTES,
        resolution_minutes=DEFAULT_RESOLUTION_MINUTES,
    )


def _minutes(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidError("A number of minutes.", field_errors={name: ["A whole number."]})
    if not 1 <= value <= MAX_TARGET_MINUTES:
        raise InvalidError(
            "Targets are between a minute and a year.",
            field_errors={name: [f"Between 1 and {MAX_TARGET_MINUTES}."]},
        )
    return value


def _priorities(values: Sequence[Any]) -> list[str]:
    unknown = [v for v in values if v not in Priority.values]
    if unknown:
        raise InvalidError("Unknown priority.", field_errors={"priorities": ["Unknown priority."]})
    return [p for p in Priority.values if p in values]


def _tiers(values: Sequence[Any]) -> list[str]:
    tiers: list[str] = []
    for value in values:
        tier = str(value).strip()
        if not tier or len(tier) > 32:  # noqa: PLR2004  # Customer.tier's length
            raise InvalidError(
                "Tiers are names of up to 32 characters.", field_errors={"tiers": ["Invalid."]}
            )
        if tier.casefold() not in {t.casefold() for t in tiers}:
            tiers.append(tier)
    return tiers


def _channel(organization: Organization, channel_id: int | None) -> Channel | None:
    if channel_id is None:
        return None
    channel = Channel.objects.filter(organization=organization, pk=channel_id).first()
    if channel is None:
        raise InvalidError("Unknown channel.", field_errors={"channel": ["Not a channel here."]})
    return channel


def _apply(policy: SLAPolicy, organization: Organization, changes: dict[str, Any]) -> None:
    _apply_targets(policy, changes)
    _apply_conditions(policy, organization, changes)


def _apply_targets(policy: SLAPolicy, changes: dict[str, Any]) -> None:
    for name in ("first_response_minutes", "next_response_minutes", "resolution_minutes"):
        if name in changes:
            setattr(policy, name, _minutes(changes[name], name))
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name or len(name) > 100:  # noqa: PLR2004  # the column's length
            raise InvalidError("A name is needed.", field_errors={"name": ["1 to 100 characters."]})
        policy.name = name
    if "warning_percent" in changes:
        percent = changes["warning_percent"]
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:  # noqa: PLR2004
            raise InvalidError(
                "The warning comes at 1 to 100 % of a target.",
                field_errors={"warning_percent": ["Between 1 and 100."]},
            )
        policy.warning_percent = percent
    if "use_business_hours" in changes:
        policy.use_business_hours = bool(changes["use_business_hours"])
    if "escalation" in changes:
        if changes["escalation"] not in SLAEscalation.values:
            raise InvalidError("Unknown escalation.", field_errors={"escalation": ["Unknown."]})
        policy.escalation = changes["escalation"]
    if "position" in changes:
        position = changes["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise InvalidError("A position from 0.", field_errors={"position": ["0 or more."]})
        policy.position = position


def _apply_conditions(
    policy: SLAPolicy, organization: Organization, changes: dict[str, Any]
) -> None:
    if "channel" in changes:
        policy.channel = _channel(organization, changes["channel"])
    if "priorities" in changes:
        policy.priorities = _priorities(changes["priorities"] or [])
    if "tiers" in changes:
        policy.tiers = _tiers(changes["tiers"] or [])
    if "active_from" in changes:
        policy.active_from = changes["active_from"]
    if "active_until" in changes:
        policy.active_until = changes["active_until"]
    if (policy.active_from is None) != (policy.active_until is None):
        raise InvalidError(
            "A time-of-day window needs both ends.",
            field_errors={"active_until": ["Set both ends, or neither."]},
        )
    if policy.is_default and (
        policy.channel_id or policy.priorities or policy.tiers or policy.active_from
    ):
        raise InvalidError(
            "The default policy applies when no other does: it has no conditions.",
            field_errors={"is_default": ["The default policy cannot have conditions."]},
        )


def _make_default(organization: Organization, policy: SLAPolicy) -> None:
    """Move the default to `policy` (the partial unique index allows one at a time)."""
    SLAPolicy.objects.filter(organization=organization, is_default=True).exclude(
        pk=policy.pk
    ).update(is_default=False)
    policy.is_default = True


@scoped
@transaction.atomic
def sla_policy_create(
    *, organization: Organization, actor: Membership | None, **fields: Any
) -> SLAPolicy:
    """A new policy. Targets (minutes) and a name are required; `is_default` moves the
    default to it (it must then have no conditions). Raises InvalidError on bad values."""
    required = ("name", "first_response_minutes", "next_response_minutes", "resolution_minutes")
    missing = [name for name in required if fields.get(name) is None]
    if missing:
        errors = {name: ["Required."] for name in missing}
        raise InvalidError("Missing fields.", field_errors=errors)
    # Lock the organization's policies: two admins creating defaults at once queue up.
    list(SLAPolicy.objects.select_for_update().filter(organization=organization))
    policy = SLAPolicy(organization=organization)
    make_default = bool(fields.pop("is_default", False))
    if make_default:
        policy.is_default = True
    _apply(policy, organization, fields)
    if make_default:
        _make_default(organization, policy)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise ConflictError("Another default policy was set at the same time.") from None
    recompute_later(organization)
    return policy


@scoped
@transaction.atomic
def sla_policy_update(
    *, organization: Organization, actor: Membership | None, policy: SLAPolicy, **changes: Any
) -> SLAPolicy:
    """Change a policy; `is_default: true` moves the default to it (the default cannot be
    un-defaulted: make another policy the default). Running clocks are re-timed."""
    locked = SLAPolicy.objects.select_for_update().get(organization=organization, pk=policy.pk)
    make_default = changes.pop("is_default", None)
    if make_default is False and locked.is_default:
        raise InvalidError(
            "Make another policy the default instead.",
            field_errors={"is_default": ["An organization always has a default policy."]},
        )
    if make_default:
        locked.is_default = True
    _apply(locked, organization, changes)
    if make_default:
        _make_default(organization, locked)
    locked.save()
    recompute_later(organization)
    return locked


@scoped
@transaction.atomic
def sla_policy_delete(
    *, organization: Organization, actor: Membership | None, policy: SLAPolicy
) -> None:
    """Delete a policy; its conversations select another. The default cannot be deleted."""
    if policy.is_default:
        raise ConflictError(
            "The default policy cannot be deleted; make another policy the default first."
        )
    SLAPolicy.objects.filter(organization=organization, pk=policy.pk).delete()
    recompute_later(organization)


# ---- business hours ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftInput:
    weekday: int
    start: time
    end: time


def parse_shift_lines(text: str) -> list[ShiftInput]:
    """ "Mon 09:00-17:00" per line (weekday names in English, first three letters enough;
    an end before the start runs past midnight). Raises InvalidError naming the bad line."""
    shifts: list[ShiftInput] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            day, hours = line.split(None, 1)
            start, end = (part.strip() for part in hours.split("-", 1))
            weekday = WEEKDAYS.index(day[:3].lower())
            shifts.append(ShiftInput(weekday, time.fromisoformat(start), time.fromisoformat(end)))
        except ValueError:
            raise InvalidError(
                f"Line {number} is not like “Mon 09:00-17:00”.",
                field_errors={"shifts": [f"Line {number}: {line[:40]}"]},
            ) from None
    return shifts


def shift_lines(schedule: dict[str, Any]) -> str:
    """The inverse of parse_shift_lines, for the settings form."""
    lines = []
    for shift in schedule.get("shifts", []):
        day = WEEKDAYS[int(shift["weekday"])].capitalize()
        lines.append(f"{day} {shift['start']}-{shift['end']}")
    return "\n".join(lines)


def parse_holiday_lines(text: str) -> list[date]:
    days: list[date] = []
    for number, raw in enumerate(text.replace(",", "\n").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            days.append(date.fromisoformat(line))
        except ValueError:
            raise InvalidError(
                f"Holiday {number} is not a date like 2026-12-25.",
                field_errors={"holidays": [f"{line[:20]} is not YYYY-MM-DD."]},
            ) from None
    return days


def _schedule_json(shifts: Sequence[ShiftInput], holidays: Sequence[date]) -> dict[str, Any]:
    if not shifts:
        raise InvalidError(
            "Business hours need at least one shift.", field_errors={"shifts": ["Add a shift."]}
        )
    for shift in shifts:
        if not 0 <= shift.weekday <= 6:  # noqa: PLR2004  # Sunday
            raise InvalidError("Weekdays are 0 (Monday) to 6.", field_errors={"shifts": ["Day."]})
    ordered = sorted(shifts, key=lambda s: (s.weekday, s.start))
    return {
        "shifts": [
            {
                "weekday": s.weekday,
                "start": s.start.strftime("%H:%M"),
                "end": s.end.strftime("%H:%M"),
            }
            for s in ordered
        ],
        "holidays": sorted({d.isoformat() for d in holidays}),
    }


def _check_zone(time_zone: str) -> str:
    if time_zone not in zoneinfo.available_timezones():
        raise InvalidError("Unknown time zone.", field_errors={"time_zone": ["Unknown."]})
    return time_zone


@scoped
@transaction.atomic
def business_hours_save(
    *,
    organization: Organization,
    actor: Membership | None,
    channel_id: int | None,
    time_zone: str,
    shifts: Sequence[ShiftInput],
    holidays: Sequence[date] = (),
    hours: BusinessHours | None = None,
) -> BusinessHours:
    """Set the working week of the organization (`channel_id` None) or of one channel,
    creating it or replacing `hours`. Raises InvalidError on bad input and ConflictError when
    that channel (or the organization) already has business hours."""
    channel = _channel(organization, channel_id)
    record = hours or BusinessHours(organization=organization)
    record.channel = channel
    record.time_zone = _check_zone(time_zone)
    record.schedule = _schedule_json(shifts, holidays)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        where = "This channel" if channel else "The organization"
        raise ConflictError(
            f"{where} has business hours already; edit them.",
            field_errors={"channel": ["Already has business hours."]},
        ) from None
    recompute_later(organization)
    return record


@scoped
@transaction.atomic
def business_hours_delete(
    *, organization: Organization, actor: Membership | None, hours: BusinessHours
) -> None:
    BusinessHours.objects.filter(organization=organization, pk=hours.pk).delete()
    recompute_later(organization)


# ---- auto-resolve ------------------------------------------------------------------------------


@scoped
@transaction.atomic
def organization_set_auto_resolve(
    *,
    organization: Organization,
    actor: Membership | None,
    after_days: int | None = UNSET,
    message: str = UNSET,
) -> Organization:
    """Resolve conversations pending for `after_days` days (None: never), sending `message`
    first when the platform's reply window allows. Pending conversations take the new delay
    at once, counted from when they became pending."""
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if after_days is not UNSET:
        if after_days is not None and (
            isinstance(after_days, bool)
            or not isinstance(after_days, int)
            or not 1 <= after_days <= MAX_AUTO_RESOLVE_DAYS
        ):
            raise InvalidError(
                "Auto-resolve after 1 to 365 days, or never.",
                field_errors={"after_days": [f"Between 1 and {MAX_AUTO_RESOLVE_DAYS}, or empty."]},
            )
        locked.auto_resolve_after_days = after_days
    if message is not UNSET:
        if len(message) > 2000:  # noqa: PLR2004  # one platform message
            raise InvalidError("The message is too long.", field_errors={"message": ["2000 max."]})
        locked.auto_resolve_message = message.strip()
    locked.save(update_fields=["auto_resolve_after_days", "auto_resolve_message"])
    pending = Conversation.objects.filter(
        organization=organization, status=ConversationStatus.PENDING
    )
    days = locked.auto_resolve_after_days
    pending.update(
        auto_resolve_at=F("pending_since") + timedelta(days=days) if days else None,
    )
    organization.auto_resolve_after_days = locked.auto_resolve_after_days
    organization.auto_resolve_message = locked.auto_resolve_message
    return locked
