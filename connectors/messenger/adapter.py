"""Messenger adapter: the 24-hour standard window and the 7-day HUMAN_AGENT tag, the
hub.challenge handshake, X-Hub-Signature-256 verification and parsing (PROTOCOLS 1.1 to 1.5).

Meta credentials are per app, not per page (one verify token, one app secret for every tenant's
page), so they come from the settings, read at call time so a changed setting takes effect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from connectors.base import (
    Handshake,
    NormalizedEvent,
    OutboundRequest,
    PersonProfile,
    ReplyWindow,
    SendResult,
    Subscription,
)
from connectors.messenger import client, parsing

MAX_TEXT_LENGTH = 2000
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)

SIGNATURE_HEADER = "x-hub-signature-256"
# Meta sends lowercase hex (1.2); the reference check compares the text as is, so do we.
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")
_FORBIDDEN = Handshake(status=403, content_type="text/plain", body="Forbidden")


class MessengerConnector:
    kind = "messenger"
    required_credentials: tuple[str, ...] = ("page_access_token",)
    optional_credentials: tuple[str, ...] = ()
    supports_public_replies = False
    kept_headers: tuple[str, ...] = (SIGNATURE_HEADER, "content-type", "user-agent")

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

    def handshake(self, query: Mapping[str, str]) -> Handshake:
        """Meta's verification GET (1.1): echo `hub.challenge` verbatim when the mode is
        "subscribe" and `hub.verify_token` is META_VERIFY_TOKEN; 403 otherwise, including when
        no token is configured (an empty token would let anyone subscribe the endpoint)."""
        expected: str = settings.META_VERIFY_TOKEN
        mode = query.get("hub.mode")
        token = query.get("hub.verify_token")
        challenge = query.get("hub.challenge")
        if (
            expected
            and mode == "subscribe"
            and isinstance(token, str)
            and isinstance(challenge, str)
            and _equal(token, expected)
        ):
            return Handshake(status=200, content_type="text/plain", body=challenge)
        return _FORBIDDEN

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """`X-Hub-Signature-256: sha256=<hex>` is HMAC-SHA256(META_APP_SECRET, raw body) (1.2).

        Only the raw bytes verify: Meta signs its escaped-unicode rendering, which any
        re-encoding changes. False (never an exception) when no secret is configured or the
        header is missing, repeated with different values, or not `sha256=` + 64 lowercase hex.
        """
        secret: str = settings.META_APP_SECRET
        if not secret:
            return False
        header = _header(headers, SIGNATURE_HEADER)
        match = _SIGNATURE.fullmatch(header) if header is not None else None
        if match is None:
            return False
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(match.group(1), expected)

    def send(self, request: OutboundRequest) -> SendResult:
        return client.send(request)

    def move_to_dm_link(self, *, channel_external_id: str, text: str = "") -> str | None:
        return None  # Messenger threads are private already

    def fetch_profile(
        self, credentials: Mapping[str, Any], platform_user_id: str
    ) -> PersonProfile | None:
        return client.fetch_profile(credentials, platform_user_id)

    def ensure_subscribed(
        self, *, channel_external_id: str, credentials: Mapping[str, Any]
    ) -> Subscription:
        return client.ensure_subscribed(channel_external_id, credentials)

    def without_post(self, body: bytes, post_id: str) -> bytes | None:
        return None  # Messenger reports no deleted messages

    def parse(self, body: bytes) -> list[NormalizedEvent]:
        """See connectors.messenger.parsing.parse: raises only InvalidPayloadError."""
        return parsing.parse(body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (callers pass plain dicts as well as Django's
    HttpHeaders). The same name twice with different values is ambiguous, so it counts as
    missing."""
    values = {
        value
        for key, value in headers.items()
        if isinstance(key, str) and key.lower() == name and isinstance(value, str)
    }
    return values.pop() if len(values) == 1 else None


def _equal(given: str, expected: str) -> bool:
    """Constant-time text comparison; compare_digest refuses non-ASCII str, so compare bytes."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
