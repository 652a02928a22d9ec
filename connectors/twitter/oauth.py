"""Renewing an X channel's OAuth 2.0 user access token, which X lets expire after two hours.

A channel saved with a `refresh_token` renews its access token by itself when the app's
OAuth 2.0 client id is configured: before a send when the stored `expires_at` is near, and
once after X answers a send with 401. X rotates refresh tokens (the one spent stops working
as soon as X accepts it), so the new access and refresh tokens are stored together, in the
transaction that holds the channel's row lock while X is asked: a second worker that hit the
same 401 waits for the lock, finds the token the first one stored and sends with it, instead
of spending a refresh token that no longer works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from connectors import http
from connectors.base import PermanentDeliveryError
from connectors.twitter import client
from inbox.tenancy import current_organization_id

logger = logging.getLogger(__name__)

KIND = "twitter"
# Renew this long before the stored expiry: a send started just before it would meet a 401.
EXPIRY_MARGIN = timedelta(seconds=60)
# The credentials a renewal replaces; any other (an OAuth 1.0a secret) is kept as it is.
RENEWED = ("access_token", "refresh_token", "expires_at")


def _setting(name: str) -> str:
    value = getattr(settings, name, "")
    return value if isinstance(value, str) else ""


def can_renew(credentials: Mapping[str, Any]) -> bool:
    """True when the channel holds a refresh token and the app's client id is configured."""
    return http.credential(credentials, "refresh_token") is not None and bool(
        _setting("TWITTER_OAUTH2_CLIENT_ID")
    )


def expires_at(credentials: Mapping[str, Any]) -> datetime | None:
    """The stored expiry of the access token; None when unknown or unreadable (a 401 then
    tells instead)."""
    value = http.credential(credentials, "expires_at")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


def expires_soon(credentials: Mapping[str, Any], *, now: datetime) -> bool:
    moment = expires_at(credentials)
    return moment is not None and moment - now <= EXPIRY_MARGIN


def renewed(*, channel_external_id: str, stale: Mapping[str, Any]) -> dict[str, Any]:
    """Credentials to send with instead of `stale` (whose access token X refused or is about
    to expire), stored on the channel before they are returned.

    Under the channel's row lock: when the stored access token is no longer the stale one
    (another worker renewed it, or an admin reconnected the channel meanwhile), those stored
    credentials; otherwise new ones from X's token endpoint, spending the stored refresh
    token. Runs inside the delivery task's organization scope. Raises what
    `client.renew_access_token` raises (RetryableDeliveryError, PermanentDeliveryError with
    `reauthorize`), and PermanentDeliveryError with `reauthorize` when the stored credentials
    have no refresh token left.
    """
    # Imported here: inbox.services.channels reaches this module through the registry.
    from inbox.models import Organization  # noqa: PLC0415
    from inbox.services.channels import channel_credentials_renew  # noqa: PLC0415

    organization_id = current_organization_id()
    if organization_id is None:
        raise RuntimeError("an X token renewal needs the channel's organization scope")
    organization = Organization.objects.get(pk=organization_id)
    stale_token = stale.get("access_token")

    def renew(current: dict[str, Any]) -> dict[str, Any] | None:
        if current.get("access_token") != stale_token:
            logger.info(
                "x channel %s: sending with the access token renewed meanwhile",
                channel_external_id,
            )
            return None
        refresh_token = http.credential(current, "refresh_token")
        if refresh_token is None:
            raise PermanentDeliveryError("401", client.EXPIRED_GRANT_REASON, reauthorize=True)
        grant = client.renew_access_token(
            refresh_token,
            client_id=_setting("TWITTER_OAUTH2_CLIENT_ID"),
            client_secret=_setting("TWITTER_OAUTH2_CLIENT_SECRET"),
        )
        fresh = {key: value for key, value in current.items() if key not in RENEWED}
        fresh["access_token"] = grant.access_token
        if grant.refresh_token:
            fresh["refresh_token"] = grant.refresh_token
        if grant.expires_in is not None:
            expiry = timezone.now() + timedelta(seconds=grant.expires_in)
            fresh["expires_at"] = expiry.isoformat()
        logger.info(
            "x channel %s: access token renewed (valid %ss)", channel_external_id, grant.expires_in
        )
        return fresh

    return channel_credentials_renew(
        organization=organization, kind=KIND, external_id=channel_external_id, renew=renew
    )
