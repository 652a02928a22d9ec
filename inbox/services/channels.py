"""Connecting and configuring channels. No platform call here: creation never depends on one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, connection, transaction

from connectors.registry import UnknownChannelKindError, connector_for
from inbox.errors import ConflictError, InvalidError
from inbox.models import Channel, ChannelStatus, Organization, SubscriptionStatus
from inbox.tenancy import scoped

logger = logging.getLogger(__name__)

# Settings every channel understands, with their types. Unknown keys are refused so that a
# typo never silently leaves a feature off.
KNOWN_SETTINGS: dict[str, type] = {"human_agent_approved": bool}


def _clean_credentials(kind: str, credentials: Any) -> dict[str, Any]:
    connector = connector_for(kind)
    if not isinstance(credentials, dict):
        raise InvalidError("Invalid credentials.", field_errors={"credentials": ["An object."]})
    allowed = set(connector.required_credentials) | set(connector.optional_credentials)
    errors = [
        f"{key} is required."
        for key in connector.required_credentials
        if not isinstance(credentials.get(key), str) or not credentials[key]
    ]
    errors.extend(f"{key} is not a {kind} credential." for key in credentials if key not in allowed)
    errors.extend(
        f"{key} must be a string."
        for key, value in credentials.items()
        if key in allowed and not isinstance(value, str)
    )
    if errors:
        raise InvalidError("Invalid credentials.", field_errors={"credentials": errors})
    return {key: value for key, value in credentials.items() if value}


def _clean_settings(settings: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise InvalidError("Invalid settings.", field_errors={"settings": ["An object."]})
    errors = [f"{key} is not a known setting." for key in settings if key not in KNOWN_SETTINGS] + [
        f"{key} must be {KNOWN_SETTINGS[key].__name__}."
        for key, value in settings.items()
        if key in KNOWN_SETTINGS and not isinstance(value, KNOWN_SETTINGS[key])
    ]
    if errors:
        raise InvalidError("Invalid settings.", field_errors={"settings": errors})
    return {**(current or {}), **settings}


@scoped
def channel_create(
    *,
    organization: Organization,
    kind: str,
    name: str,
    external_id: str,
    credentials: dict[str, Any],
    settings: dict[str, Any] | None = None,
) -> Channel:
    """Connect a page / account. Raises InvalidError on bad input and ConflictError when the
    platform id is already connected (to any organization: a webhook must map to one tenant)."""
    try:
        connector_for(kind)
    except UnknownChannelKindError:
        raise InvalidError("Unknown channel kind.", field_errors={"kind": ["Unknown."]}) from None
    external_id = external_id.strip()
    if not external_id:
        raise InvalidError("Missing id.", field_errors={"external_id": ["Required."]})
    channel = Channel(
        organization=organization,
        kind=kind,
        name=name.strip() or external_id,
        external_id=external_id,
        credentials=_clean_credentials(kind, credentials),
        settings=_clean_settings(settings or {}),
    )
    try:
        with transaction.atomic():
            channel.save(force_insert=True)
    except IntegrityError:
        raise ConflictError(
            "This page or account is already connected to Parley.",
            field_errors={"external_id": ["Already connected."]},
        ) from None
    return channel


@scoped
@transaction.atomic
def channel_update(
    *,
    organization: Organization,
    channel: Channel,
    name: str | None = None,
    credentials: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    status: str | None = None,
) -> Channel:
    """Rename, rotate credentials, merge settings or pause a channel (kind and id are fixed)."""
    fields: list[str] = []
    if name is not None:
        channel.name = name.strip() or channel.external_id
        fields.append("name")
    if credentials is not None:
        channel.credentials = _clean_credentials(channel.kind, credentials)
        fields.append("credentials")
        if status is None and channel.status == ChannelStatus.ERROR:
            channel.status = ChannelStatus.ACTIVE  # reconnected with a new token
            fields.append("status")
    if settings is not None:
        channel.settings = _clean_settings(settings, channel.settings)
        fields.append("settings")
    if status is not None:
        if status not in ChannelStatus.values:
            raise InvalidError("Unknown status.", field_errors={"status": ["Unknown."]})
        channel.status = status
        fields.append("status")
    if credentials is not None or "status" in fields:
        # New credentials, or back to active: the subscription job checks it within a minute.
        channel.subscription_status = SubscriptionStatus.PENDING
        channel.subscription_next_check_at = None  # a check in flight records nothing
        fields += ["subscription_status", "subscription_next_check_at"]
    if fields:
        channel.save(update_fields=fields)
    return channel


@scoped
def channel_needs_reauthorization(
    *, organization: Organization, channel_id: int, reason: str
) -> bool:
    """A send found the channel's token invalid or expired: mark it `error` (the settings
    and the API show it; an admin reconnects it by saving new credentials, which makes it
    active again). True when this changed its status; a paused channel stays paused."""
    changed = (
        Channel.objects.filter(organization=organization, pk=channel_id)
        .filter(status=ChannelStatus.ACTIVE)
        .update(status=ChannelStatus.ERROR)
    )
    if changed:
        logger.warning("channel %s needs re-authorisation: %s", channel_id, reason)
    return bool(changed)


@scoped
@transaction.atomic
def channel_credentials_renew(
    *,
    organization: Organization,
    kind: str,
    external_id: str,
    renew: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> dict[str, Any]:
    """Replace a channel's credentials with renewed ones, one renewal at a time.

    Takes a lock of its own for this channel's renewals (a PostgreSQL advisory lock, not the
    row, so webhooks and admins touching the channel never wait on X's token endpoint), reads
    the current credentials and hands them to `renew` (the connector's), which returns the
    credentials to store, or None to keep the current ones (another worker renewed them while
    this one waited). The lock is held while `renew` runs, platform call included, because a
    renewal may spend a single-use refresh token that two workers must never both use; the
    new credentials commit with the lock's release. The stored credentials are checked before
    `renew` is called, so a renewal is never spent on ones that could not be saved back. The
    status is left alone: only an admin's new credentials reconnect a channel in `error`.

    Returns the credentials now stored. What `renew` raises rolls back and propagates;
    InvalidError when the stored or renewed credentials are not the connector's,
    Channel.DoesNotExist when the organization has no such channel.
    """
    channel_id = (
        Channel.objects.filter(organization=organization, kind=kind, external_id=external_id)
        .values_list("pk", flat=True)
        .get()
    )
    _renewal_lock(channel_id)
    channel = Channel.objects.get(organization=organization, pk=channel_id)  # read after the lock
    current = _clean_credentials(channel.kind, dict(channel.credentials or {}))
    renewed = renew(current)
    if renewed is None:
        return current
    credentials = _clean_credentials(channel.kind, renewed)
    Channel.objects.filter(organization=organization, pk=channel_id).update(credentials=credentials)
    return credentials


def _renewal_lock(channel_id: int) -> None:
    """Serialise this channel's credential renewals until the transaction ends (PostgreSQL;
    SQLite has one writer anyway)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"channel-renewal:{channel_id}"],
        )
