"""Messenger over HTTP: the Send API, profile lookups and the page's webhook subscription (the
only Messenger module that imports requests).

Failures are classified the way Meta documents them: on the error body's `code`/`error_subcode`
rather than on the HTTP status (rate limits usually come back as HTTP 400), so the delivery task
retries only what can succeed later and fails the rest at once with a reason an agent can read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

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
from connectors.messenger.parsing import outbound_metadata
from connectors.ratelimit import retry_after_seconds

logger = logging.getLogger(__name__)

# Explicit timeouts (seconds): connecting is quick or hopeless; Meta answers a send within a few
# seconds even when busy. Read at call time, so tests may lower them.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0

# Meta codes worth another attempt: unknown/transient (1, 2) and the app, user, page and
# custom rate limits (4, 17, 32, 613, 80000-80014).
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, *range(80000, 80015)})
# Exceptions inside retryable codes: 1/99 is a missing permission, Advanced Access or Business
# Verification; 613/2018338 is Meta warning that tagged messages to this person are unwanted,
# and the retry would be tagged again.
PERMANENT_EXCEPTIONS = frozenset({(1, 99), (613, 2018338)})
# Codes documented as final. A 5xx/429 carrying one of these still fails at once; a 5xx/429
# carrying a code we have never seen is trusted to be transient, a 4xx one is not.
INVALID_TOKEN = 190  # the page token is invalid or expired: the channel must be reconnected
KNOWN_PERMANENT_CODES = frozenset({10, 100, INVALID_TOKEN, 200, 551, 2018300})

RETRYABLE_STATUSES = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})

_WINDOW_CLOSED = "The reply window is closed: the customer must write first."
_UNAVAILABLE = "This person isn't available right now."
_THROTTLED = "Messenger is limiting how fast this page may send; the message will be retried."

# What an agent reads for the errors they will meet; keyed by (code, subcode), then (code, None).
FRIENDLY_REASONS: dict[tuple[int, int | None], str] = {
    (10, 2018278): _WINDOW_CLOSED,
    (10, 2534022): _WINDOW_CLOSED,
    (10, 2018065): _WINDOW_CLOSED,
    (10, 2018108): "This person can't receive your messages right now.",
    (10, 1893063): "Meta has temporarily restricted this page from sending messages.",
    (100, 2018001): "Messenger found no person with this id for this page.",
    (100, 2018276): (
        "This app may not use the HUMAN_AGENT tag yet (it needs Meta's approval): "
        "reply within 24 hours of the customer's last message."
    ),
    (190, None): "The page's access token is invalid or expired: reconnect the channel.",
    (200, 1545041): _UNAVAILABLE,
    (551, None): _UNAVAILABLE,
    (2018300, None): "Another app controls this conversation right now (handover).",
    (1, 99): (
        "Meta refused the send: the app lacks a permission, Advanced Access or "
        "Business Verification."
    ),
    (613, 2018338): (
        "Meta flagged tagged messages to this person as unwanted: wait until the customer "
        "writes again."
    ),
    (4, None): _THROTTLED,
    (17, None): _THROTTLED,
    (32, None): _THROTTLED,
    (613, None): _THROTTLED,
}


@dataclass(frozen=True)
class MetaError:
    """The `error` object of a Graph API error body."""

    code: int | None
    subcode: int | None
    message: str
    fbtrace_id: str

    @property
    def code_string(self) -> str:
        """The failure code stored on the message: "10/2018278", or "551" without a subcode."""
        if self.subcode is None:
            return str(self.code)
        return f"{self.code}/{self.subcode}"


def _timeout() -> tuple[float, float]:
    return (CONNECT_TIMEOUT, READ_TIMEOUT)


def send_payload(request: OutboundRequest) -> dict[str, Any]:
    """The Send API body.

    `message.metadata` carries our message id, so an echo that overtakes the Send API response
    is still matched to its row (parsing reads it back). Inside the 24-hour window a reply is a
    RESPONSE; in the 7-day human agent window it must carry the HUMAN_AGENT tag. A "closed"
    window is sent as a RESPONSE too: Meta has the final word (ad-started threads may stay open
    longer) and answers 10/2018278.
    """
    payload: dict[str, Any] = {
        "recipient": {"id": request.recipient_id},
        "messaging_type": "RESPONSE",
        "message": {"text": request.text, "metadata": outbound_metadata(request.message_id)},
    }
    if request.window == "human_agent":
        payload["messaging_type"] = "MESSAGE_TAG"
        payload["tag"] = "HUMAN_AGENT"
    return payload


def send(request: OutboundRequest) -> SendResult:
    """Deliver one text message to a Messenger user (the page's PSID) through the Send API.

    Returns the platform's message id (`m_...`), which the echo will carry too.
    Raises RetryableDeliveryError for network trouble, timeouts, throttling and transient
    platform errors (`retry_after` set when the platform says when), PermanentDeliveryError for
    everything that cannot succeed as sent (closed window, blocked, bad token, bad parameter).
    A read timeout is reported with code "timeout" rather than "network": Meta may have
    delivered the message, so the caller should look for the echo before sending again.
    """
    token = http.credential(request.credentials, "page_access_token")
    if token is None:
        raise PermanentDeliveryError(
            "credentials", "The channel has no page access token: reconnect the channel."
        )
    url = f"{settings.META_GRAPH_URL}/{quote(request.channel_external_id, safe='')}/messages"
    try:
        response = http.session().post(
            url,
            json=send_payload(request),
            headers={"Authorization": f"Bearer {token}"},
            timeout=_timeout(),
        )
    except requests.ReadTimeout as exc:
        raise RetryableDeliveryError(
            "timeout", "Messenger did not answer in time; it may have received the message."
        ) from exc
    except requests.RequestException as exc:
        raise RetryableDeliveryError(
            "network", f"Could not reach Messenger ({type(exc).__name__})."
        ) from exc

    if http.succeeded(response.status_code):
        return _send_result(response)
    error = classify_failure(
        response.status_code, http.json_or_none(response), response.headers, now=time.time()
    )
    logger.info(
        "messenger send of message %s to page %s failed: %s",
        request.message_id,
        request.channel_external_id,
        error,
    )
    raise error


def _send_result(response: requests.Response) -> SendResult:
    body = http.json_or_none(response)
    message_id = body.get("message_id") if isinstance(body, dict) else None
    if not isinstance(message_id, str) or not message_id:
        # Accepted but unidentifiable: retrying is safe because the echo carries our metadata
        # and marks the message sent if this attempt did go out.
        raise RetryableDeliveryError(
            "bad_response", f"Messenger answered HTTP {response.status_code} without a message id."
        )
    return SendResult(external_id=message_id)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_meta_error(body: Any) -> MetaError | None:
    """The error object of a Graph error body, or None when the body is not one."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    message = error.get("message")
    trace = error.get("fbtrace_id")
    return MetaError(
        code=_int_or_none(error.get("code")),
        subcode=_int_or_none(error.get("error_subcode")),
        message=message if isinstance(message, str) else "",
        fbtrace_id=trace if isinstance(trace, str) else "",
    )


def is_retryable(code: int, subcode: int | None) -> bool:
    """Whether Meta documents this error as transient (see PERMANENT_EXCEPTIONS)."""
    return code in RETRYABLE_CODES and (code, subcode) not in PERMANENT_EXCEPTIONS


def _is_known_permanent(code: int, subcode: int | None) -> bool:
    return code in KNOWN_PERMANENT_CODES or (code, subcode) in PERMANENT_EXCEPTIONS


def _reason(error: MetaError, code: int) -> str:
    text = (
        FRIENDLY_REASONS.get((code, error.subcode))
        or FRIENDLY_REASONS.get((code, None))
        or error.message
        or f"Messenger refused the message (error {error.code_string})."
    )
    if error.fbtrace_id:
        text = f"{text} (fbtrace_id {error.fbtrace_id})"
    return text


def _usage_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until Meta lifts a throttle, from its usage headers (minutes in the payload)."""
    minutes: list[float] = []
    for name in ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = []
        if isinstance(usage, dict) and "call_count" not in usage:
            for value in usage.values():  # business use case: {"<id>": [{...}, ...]}
                entries.extend(value if isinstance(value, list) else [value])
        else:
            entries.append(usage)
        for entry in entries:
            if isinstance(entry, dict):
                eta = entry.get("estimated_time_to_regain_access")
                if isinstance(eta, int | float) and not isinstance(eta, bool) and eta > 0:
                    minutes.append(float(eta))
    return max(minutes) * 60 if minutes else None


def classify_failure(
    status: int, body: Any, headers: Mapping[str, str], *, now: float
) -> DeliveryError:
    """Turn a non-2xx Send API answer into the error to raise (it is returned, not raised).

    A Meta error code decides first; without one, 408/429/5xx are retryable and any other
    status is permanent.
    """
    retry_after = retry_after_seconds(headers.get("Retry-After"), now=now)
    if retry_after is None:
        retry_after = _usage_wait(headers)
    transient_status = status in RETRYABLE_STATUSES or status >= HTTPStatus.INTERNAL_SERVER_ERROR
    error = parse_meta_error(body)
    if error is not None and error.code is not None:
        reason = _reason(error, error.code)
        if is_retryable(error.code, error.subcode) or (
            transient_status and not _is_known_permanent(error.code, error.subcode)
        ):
            return RetryableDeliveryError(error.code_string, reason, retry_after)
        return PermanentDeliveryError(
            error.code_string, reason, reauthorize=error.code == INVALID_TOKEN
        )
    if transient_status:
        return RetryableDeliveryError(
            f"http_{status}", f"Messenger answered HTTP {status}; will retry.", retry_after
        )
    detail = error.message if error is not None and error.message else f"HTTP {status}"
    return PermanentDeliveryError(f"http_{status}", f"Messenger refused the message: {detail}.")


def fetch_profile(credentials: Mapping[str, Any], psid: str) -> PersonProfile | None:
    """The person's name and picture as the page may see them, or None.

    Never raises: a missing profile (Meta error 2018218 for accounts made with a phone number),
    a bad token or a network failure must not block storing the customer's message.
    """
    token = http.credential(credentials, "page_access_token")
    if token is None:
        return None
    url = f"{settings.META_GRAPH_URL}/{quote(psid, safe='')}"
    try:
        response = http.session().get(
            url,
            params={"fields": "first_name,last_name,profile_pic"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=_timeout(),
        )
    except requests.RequestException as exc:
        logger.info("messenger profile of %s unavailable: %s", psid, type(exc).__name__)
        return None
    body = http.json_or_none(response)
    if not http.succeeded(response.status_code) or not isinstance(body, dict):
        error = parse_meta_error(body)
        logger.info(
            "messenger profile of %s unavailable: HTTP %s %s",
            psid,
            response.status_code,
            error.code_string if error is not None and error.code is not None else "",
        )
        return None
    parts = [body.get("first_name"), body.get("last_name")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    picture = body.get("profile_pic")
    avatar = picture if isinstance(picture, str) else ""
    if not name and not avatar:
        return None
    return PersonProfile(display_name=name, avatar_url=avatar)


# The webhook fields Parley reads (PROTOCOLS 1.3, plus reactions, which reopen the window, and
# standby, the messages of threads another app owns: parsing reads `standby[]`).
SUBSCRIBED_FIELDS = (
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "messaging_postbacks",
    "messaging_referrals",
    "message_reactions",
    "standby",
)


def ensure_subscribed(page_id: str, credentials: Mapping[str, Any]) -> Subscription:
    """Make sure the page sends our app every field Parley reads.

    `GET /{page}/subscribed_apps` lists the apps installed on the page with their fields; when
    ours is missing or lacks a field, `POST` on the same edge subscribes it again. Meta drops a
    page's subscription after about an hour of failed webhook deliveries, so a job runs this
    now and then, not only when the channel is connected.
    """
    token = http.credential(credentials, "page_access_token")
    if token is None:
        raise PermanentDeliveryError(
            "credentials", "The channel has no page access token: reconnect the channel."
        )
    url = f"{settings.META_GRAPH_URL}/{quote(page_id, safe='')}/subscribed_apps"
    headers = {"Authorization": f"Bearer {token}"}
    listed = _subscription_call("get", url, headers, params={})
    if _lists_our_app(http.json_or_none(listed)):
        return Subscription("subscribed")
    _subscription_call(
        "post", url, headers, params={"subscribed_fields": ",".join(SUBSCRIBED_FIELDS)}
    )
    logger.warning("messenger page %s was not subscribed to our webhook: subscribed it", page_id)
    return Subscription("subscribed", renewed=True)


def _subscription_call(
    method: str, url: str, headers: Mapping[str, str], *, params: Mapping[str, str]
) -> requests.Response:
    try:
        response = http.session().request(
            method, url, params=params, headers=dict(headers), timeout=_timeout()
        )
    except requests.RequestException as exc:
        raise RetryableDeliveryError(
            "network", f"Could not reach Messenger ({type(exc).__name__})."
        ) from exc
    if http.succeeded(response.status_code):
        return response
    body = http.json_or_none(response)
    error = classify_failure(response.status_code, body, response.headers, now=time.time())
    if isinstance(error, PermanentDeliveryError):
        meta = parse_meta_error(body)
        detail = (
            meta.message if meta is not None and meta.message else f"HTTP {response.status_code}"
        )
        raise PermanentDeliveryError(
            error.code,
            f"Messenger refused the webhook subscription: {detail}.",
            reauthorize=error.reauthorize,
        )
    raise error


def _lists_our_app(body: Any) -> bool:
    """Whether `subscribed_apps` lists our app (META_APP_ID; any app when that is unset, the
    page token being ours) with every field we read."""
    apps = body.get("data") if isinstance(body, dict) else None
    if not isinstance(apps, list):
        return False
    for app in apps:
        if not isinstance(app, dict):
            continue
        if settings.META_APP_ID and str(app.get("id")) != settings.META_APP_ID:
            continue
        fields = app.get("subscribed_fields")
        if isinstance(fields, list) and set(SUBSCRIBED_FIELDS) <= set(fields):
            return True
    return False
