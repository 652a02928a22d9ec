"""X over HTTP: DMs, public replies, user lookups, OAuth 2.0 token renewal and the account's
Account Activity subscription (the only X module that imports requests), plus the DM compose
deep link that moves a public conversation to private.

X reports failures through the HTTP status with a problem body (`title`, `detail`); 429 says
when the limit resets in `x-rate-limit-reset`, which becomes `retry_after` for the delivery task.
The token endpoint answers OAuth errors instead (`error`, `error_description`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings

from connectors import http
from connectors.base import (
    DeliveryError,
    OutboundRequest,
    PermanentDeliveryError,
    PersonProfile,
    RetryableDeliveryError,
    SendResult,
    Subscription,
)
from connectors.ratelimit import retry_after_seconds, seconds_until_epoch

logger = logging.getLogger(__name__)

# Explicit timeouts (seconds); read at call time, so tests may lower them.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0

# The documented host; x.com equivalents are not documented for this path.
DM_COMPOSE_URL = "https://twitter.com/messages/compose"

RETRYABLE_STATUSES = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})

EXPIRED_GRANT_REASON = "The X access token is invalid or expired: reconnect the channel."
DM_FORBIDDEN_REASON = (
    "X refused the message: the customer may not accept direct messages from this account, "
    "or the channel lacks permission to send them."
)


RENEWAL_PATH = "/2/oauth2/token"
RENEWAL_REFUSED_REASON = (
    "X refused to renew the channel's access (it was revoked, or its renewal token expired or "
    "was already used): reconnect the channel."
)
CLIENT_REFUSED_REASON = (
    "X refused Parley's app credentials when renewing the channel's access (check "
    "TWITTER_OAUTH2_CLIENT_ID and TWITTER_OAUTH2_CLIENT_SECRET), then reconnect the channel."
)
# An OAuth `error` value worth showing as a failure code; anything else is not repeated.
_OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")


class ExpiredTokenError(PermanentDeliveryError):
    """X answered 401: the access token expired (X's last two hours) or was revoked. Permanent
    as far as this token goes; a channel holding a refresh token may renew it and send again."""


@dataclass(frozen=True)
class TokenGrant:
    """What X's token endpoint issued. `refresh_token` replaces the one spent ("" when X gave
    none, and then the channel cannot renew again); `expires_in` is in seconds, None when X did
    not say. The tokens stay out of the repr, so a grant can never be logged by accident."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int | None


def _timeout() -> tuple[float, float]:
    return (CONNECT_TIMEOUT, READ_TIMEOUT)


def send(request: OutboundRequest) -> SendResult:
    """Send a DM (private) or a reply tweet (public) as the brand's account.

    Returns the DM's `dm_event_id` (the id its webhook echo carries) or the new tweet's id.
    Raises RetryableDeliveryError for network trouble, timeouts, 408/429/5xx (`retry_after` from
    `x-rate-limit-reset` or `Retry-After`) and PermanentDeliveryError for other answers: 401 bad
    token, 403 not allowed (DMs closed, blocked, reply not summoned, duplicate), 400/404.
    A read timeout has code "timeout": X may have accepted the message, so look for the echo
    before sending again.
    """
    token = http.credential(request.credentials, "access_token")
    if token is None:
        raise PermanentDeliveryError(
            "credentials", "The channel has no X access token: reconnect the channel."
        )
    payload: dict[str, Any] = {"text": request.text}
    if request.visibility == "public":
        url = f"{settings.TWITTER_API_URL}/2/tweets"
        if request.in_reply_to is not None:
            payload["reply"] = {"in_reply_to_tweet_id": request.in_reply_to}
        id_field = "id"
    else:
        recipient = quote(request.recipient_id, safe="")
        url = f"{settings.TWITTER_API_URL}/2/dm_conversations/with/{recipient}/messages"
        id_field = "dm_event_id"
    try:
        response = http.session().post(
            url,
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
            timeout=_timeout(),
        )
    except requests.ReadTimeout as exc:
        raise RetryableDeliveryError(
            "timeout", "X did not answer in time; it may have received the message."
        ) from exc
    except requests.RequestException as exc:
        raise RetryableDeliveryError(
            "network", f"Could not reach X ({type(exc).__name__})."
        ) from exc

    body = http.json_or_none(response)
    if http.succeeded(response.status_code):
        data = body.get("data") if isinstance(body, dict) else None
        external_id = data.get(id_field) if isinstance(data, dict) else None
        if not isinstance(external_id, str) or not external_id:
            raise RetryableDeliveryError(
                "bad_response", f"X answered HTTP {response.status_code} without an id."
            )
        return SendResult(external_id=external_id)
    error = classify_failure(response.status_code, body, response.headers, now=time.time())
    logger.info("x %s send of message %s failed: %s", request.visibility, request.message_id, error)
    raise error


def problem_text(body: Any) -> str:
    """A readable sentence from an X error body: `detail` (or `title`) and any `errors[].message`
    that adds to it (v2 puts the specific complaint of a 400 there)."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    for key in ("detail", "title"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
            break
    errors = body.get("errors")
    if isinstance(errors, list):
        for item in errors[:3]:
            message = item.get("message") if isinstance(item, dict) else None
            if isinstance(message, str) and message.strip() and message.strip() not in parts:
                parts.append(message.strip())
    return "; ".join(parts)


def _transient(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= HTTPStatus.INTERNAL_SERVER_ERROR


def _retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """When X says to come back: `x-rate-limit-reset` (epoch seconds), else `Retry-After`."""
    retry_after = seconds_until_epoch(headers.get("x-rate-limit-reset"), now=now)
    if retry_after is None:
        retry_after = retry_after_seconds(headers.get("Retry-After"), now=now)
    return retry_after


def classify_failure(
    status: int, body: Any, headers: Mapping[str, str], *, now: float
) -> DeliveryError:
    """Turn a non-2xx X answer into the error to raise (it is returned, not raised)."""
    detail = problem_text(body)
    if _transient(status):
        retry_after = _retry_after(headers, now=now)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            reason = "X is limiting how fast this account may send; the message will be retried."
        else:
            reason = f"X answered HTTP {status}; will retry."
        return RetryableDeliveryError(f"http_{status}", reason, retry_after)
    if status == HTTPStatus.UNAUTHORIZED:
        return ExpiredTokenError("401", EXPIRED_GRANT_REASON, reauthorize=True)
    if status == HTTPStatus.FORBIDDEN:
        return PermanentDeliveryError("403", detail or DM_FORBIDDEN_REASON)
    return PermanentDeliveryError(str(status), detail or f"X refused the message (HTTP {status}).")


def renew_access_token(refresh_token: str, *, client_id: str, client_secret: str) -> TokenGrant:
    """Spend `refresh_token` on a new access token at X's token endpoint.

    X rotates refresh tokens: once X accepts this one it stops working, and the grant's
    `refresh_token` is the only way to renew again, so the caller must store the grant before
    anything else uses the channel. A confidential client (`client_secret` set) authenticates
    with HTTP Basic; a public one only names its `client_id`.

    Raises RetryableDeliveryError for network trouble, timeouts, 408/429/5xx and a success
    without an access token (codes prefixed `renewal_`; after a timeout X may have spent the
    token), and PermanentDeliveryError with `reauthorize` when X refuses: 400 (the grant was
    revoked, expired or already used) or 401 and 403 (X does not accept the app's client
    credentials). Neither error nor any log line carries a token or the client secret.
    """
    secrets = (refresh_token, client_secret)
    try:
        response = http.session().post(
            f"{settings.TWITTER_API_URL}{RENEWAL_PATH}",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
            },
            auth=(client_id, client_secret) if client_secret else None,
            timeout=_timeout(),
        )
    except requests.ReadTimeout as exc:
        raise RetryableDeliveryError(
            "renewal_timeout", "X did not answer the renewal of the channel's access in time."
        ) from exc
    except requests.RequestException as exc:
        raise RetryableDeliveryError(
            "renewal_network",
            f"Could not reach X to renew the channel's access ({type(exc).__name__}).",
        ) from exc

    body = http.json_or_none(response)
    if http.succeeded(response.status_code):
        grant = _grant(body)
        if grant is None:
            raise RetryableDeliveryError(
                "renewal_bad_response",
                f"X answered HTTP {response.status_code} to the renewal without an access token.",
            )
        return grant
    error = _renewal_failure(response.status_code, body, response.headers, secrets)
    logger.info("x token renewal failed: %s", error)
    raise error


def _grant(body: Any) -> TokenGrant | None:
    if not isinstance(body, dict):
        return None
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        return None
    refresh_token = body.get("refresh_token")
    expires_in = body.get("expires_in")
    return TokenGrant(
        access_token=access_token,
        refresh_token=refresh_token if isinstance(refresh_token, str) else "",
        expires_in=expires_in
        if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0
        else None,
    )


def _leaks(text: str, secrets: tuple[str, ...]) -> bool:
    return any(secret and secret in text for secret in secrets)


def _renewal_failure(
    status: int, body: Any, headers: Mapping[str, str], secrets: tuple[str, ...]
) -> DeliveryError:
    """The error for a token endpoint's non-2xx answer (returned, not raised)."""
    if _transient(status):
        return RetryableDeliveryError(
            f"renewal_http_{status}",
            f"X answered HTTP {status} to the renewal of the channel's access; will retry.",
            _retry_after(headers, now=time.time()),
        )
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    code = f"renewal_{error}" if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else ""
    if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
        return PermanentDeliveryError(
            code or f"renewal_{status}", CLIENT_REFUSED_REASON, reauthorize=True
        )
    reason = RENEWAL_REFUSED_REASON
    if isinstance(description, str) and description.strip():
        # X's own words help the admin, but they come from outside: bounded, and dropped if
        # they would repeat a secret.
        detail = " ".join(description.split())[:200]
        if not _leaks(detail, secrets):
            reason = f"{RENEWAL_REFUSED_REASON} X said: {detail}"
    return PermanentDeliveryError(code or f"renewal_{status}", reason, reauthorize=True)


def dm_deep_link(brand_user_id: str, text: str = "") -> str:
    """The link that opens a DM to the brand with `text` pre-filled (the customer DMs the brand).

    Put it at the end of a public reply; X clients render it as a "Send a private message"
    button. Raises ValueError unless `brand_user_id` is a numeric X user id.
    """
    if not brand_user_id.isascii() or not brand_user_id.isdigit():
        raise ValueError(f"not an X user id: {brand_user_id!r}")
    query = {"recipient_id": brand_user_id}
    if text:
        query["text"] = text
    # quote, not quote_plus: the documented form encodes a space as %20.
    return f"{DM_COMPOSE_URL}?{urlencode(query, quote_via=quote)}"


def fetch_profile(credentials: Mapping[str, Any], user_id: str) -> PersonProfile | None:
    """The user's name, @handle and picture, or None.

    Never raises: a suspended user, a bad token or a network failure must not block storing the
    customer's message.
    """
    token = http.credential(credentials, "access_token")
    if token is None:
        return None
    url = f"{settings.TWITTER_API_URL}/2/users/{quote(user_id, safe='')}"
    try:
        response = http.session().get(
            url,
            params={"user.fields": "profile_image_url,name,username"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=_timeout(),
        )
    except requests.RequestException as exc:
        logger.info("x profile of %s unavailable: %s", user_id, type(exc).__name__)
        return None
    body = http.json_or_none(response)
    data = body.get("data") if isinstance(body, dict) else None
    if not http.succeeded(response.status_code) or not isinstance(data, dict):
        logger.info(
            "x profile of %s unavailable: HTTP %s %s",
            user_id,
            response.status_code,
            problem_text(body),
        )
        return None
    fields = {key: data.get(key) for key in ("name", "username", "profile_image_url")}
    name, username, avatar = (v if isinstance(v, str) else "" for v in fields.values())
    if not name and not username and not avatar:
        return None
    return PersonProfile(display_name=name, screen_name=username, avatar_url=avatar)


def ensure_subscribed(credentials: Mapping[str, Any], webhook_id: str) -> Subscription:
    """Make sure the brand's account is subscribed to our Account Activity webhook.

    `GET /2/account_activity/webhooks/{id}/subscriptions/all` with the account's token answers
    `{"data": {"subscribed": true}}` when it is; otherwise `POST` on the same path subscribes it
    (409, or a 400 naming DuplicateSubscription, means it already was). Raises what a send
    raises for the same answers: ExpiredTokenError on 401, so the caller may renew the token.
    """
    token = http.credential(credentials, "access_token")
    if token is None:
        raise PermanentDeliveryError(
            "credentials", "The channel has no X access token: reconnect the channel."
        )
    url = (
        f"{settings.TWITTER_API_URL}/2/account_activity/webhooks/"
        f"{quote(webhook_id, safe='')}/subscriptions/all"
    )
    headers = {"Authorization": f"Bearer {token}"}
    checked = _subscription_call("get", url, headers)
    if http.succeeded(checked.status_code) and _says_subscribed(http.json_or_none(checked)):
        return Subscription("subscribed")
    if not http.succeeded(checked.status_code) and checked.status_code != HTTPStatus.NOT_FOUND:
        raise classify_failure(
            checked.status_code, http.json_or_none(checked), checked.headers, now=time.time()
        )
    made = _subscription_call("post", url, headers)
    body = http.json_or_none(made)
    duplicate = made.status_code == HTTPStatus.CONFLICT or (
        made.status_code == HTTPStatus.BAD_REQUEST and "DuplicateSubscription" in str(body)
    )
    if not (http.succeeded(made.status_code) or duplicate):
        raise classify_failure(made.status_code, body, made.headers, now=time.time())
    logger.warning("x account was not subscribed to our webhook: subscribed it")
    return Subscription("subscribed", renewed=not duplicate)


def _subscription_call(method: str, url: str, headers: Mapping[str, str]) -> requests.Response:
    try:
        return http.session().request(method, url, headers=dict(headers), timeout=_timeout())
    except requests.RequestException as exc:
        raise RetryableDeliveryError(
            "network", f"Could not reach X ({type(exc).__name__})."
        ) from exc


def _says_subscribed(body: Any) -> bool:
    data = body.get("data") if isinstance(body, dict) else None
    return isinstance(data, dict) and data.get("subscribed") is True
