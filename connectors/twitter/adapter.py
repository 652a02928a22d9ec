"""X adapter: no reply window (DM permissions and rate limits apply instead).

Inbound side: the CRC handshake, the webhook signature check and payload parsing
(connectors/twitter/parsing.py). Secrets are app-level and come from settings, read at call
time so a test (or a rotated secret after reload) takes effect without re-creating the adapter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from connectors.base import (
    Handshake,
    NormalizedEvent,
    OutboundRequest,
    PersonProfile,
    ReplyWindow,
    SendResult,
    Subscription,
)
from connectors.twitter import client, oauth, parsing

MAX_DM_LENGTH = 10000
MAX_TWEET_LENGTH = 280

# X signs every event POST with the consumer (API) secret; apps with an OAuth 2.0 client
# secret also (or only) get the second header, signed with that secret (PROTOCOLS section 9).
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
OAUTH2_SIGNATURE_HEADER = "x-twitter-webhooks-signature-oauth2"


def signature(secret: str, message: bytes) -> str:
    """X's signature format: `sha256=` + base64 of HMAC-SHA256 (base64, not Meta's hex)."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def _secret(name: str) -> str:
    """An optional app secret from settings; empty when unset (or not a string)."""
    value = getattr(settings, name, "")
    return value if isinstance(value, str) else ""


def _signature_matches(body: bytes, header: str | None, secret: str) -> bool:
    if not secret or not header:
        return False
    expected = signature(secret, body).encode("ascii")
    # Compare bytes: compare_digest refuses non-ASCII str, and a header is attacker-controlled.
    return hmac.compare_digest(header.encode("utf-8", "surrogatepass"), expected)


# X's tokens are short base64 strings; anything else (a JSON body, say) is refused.
CRC_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{1,256}")


class TwitterConnector:
    kind = "twitter"
    required_credentials: tuple[str, ...] = ("access_token",)
    # `expires_at`: ISO 8601 with offset, when the OAuth 2.0 access token expires; stored by
    # a renewal (connectors/twitter/oauth.py), and accepted from an admin who knows it.
    optional_credentials: tuple[str, ...] = ("refresh_token", "access_token_secret", "expires_at")
    supports_public_replies = True
    kept_headers: tuple[str, ...] = (
        SIGNATURE_HEADER,
        OAUTH2_SIGNATURE_HEADER,
        "content-type",
        "user-agent",
    )

    def reply_window(
        self,
        *,
        last_inbound_at: datetime | None,
        channel_settings: Mapping[str, Any],
        now: datetime,
    ) -> ReplyWindow:
        return ReplyWindow(state="open", closes_at=None)

    def max_text_length(self, *, public: bool) -> int:
        return MAX_TWEET_LENGTH if public else MAX_DM_LENGTH

    def handshake(self, query: Mapping[str, str]) -> Handshake:
        """Answer X's CRC: `{"response_token": "sha256=<base64 HMAC(secret, crc_token)>"}`.

        The key is the OAuth 2.0 client secret when configured (X then signs the CRC with it),
        else the consumer secret. 400 without a crc_token; 403 when no secret is configured,
        since answering with a wrong token would mark the webhook invalid anyway.
        """
        crc_token = query.get("crc_token", "")
        if not crc_token:
            return Handshake(status=400, content_type="text/plain", body="missing crc_token")
        if not CRC_TOKEN.fullmatch(crc_token):
            # The CRC signs whatever it is given with the same key as event POSTs: answering
            # a JSON body here would hand out a valid signature for a forged webhook.
            return Handshake(status=400, content_type="text/plain", body="malformed crc_token")
        secret = _secret("TWITTER_OAUTH2_CLIENT_SECRET") or _secret("TWITTER_CONSUMER_SECRET")
        if not secret:
            return Handshake(status=403, content_type="text/plain", body="X is not configured")
        token = signature(secret, crc_token.encode("utf-8", "surrogatepass"))
        return Handshake(
            status=200,
            content_type="application/json",
            body=json.dumps({"response_token": token}),
        )

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when either signature header verifies against its own configured secret.

        Header names are matched case-insensitively; the digest is compared in constant time
        over the raw body bytes. False when no X secret is configured at all.
        """
        by_name = {name.lower(): value for name, value in headers.items()}
        return _signature_matches(
            body, by_name.get(SIGNATURE_HEADER), _secret("TWITTER_CONSUMER_SECRET")
        ) or _signature_matches(
            body, by_name.get(OAUTH2_SIGNATURE_HEADER), _secret("TWITTER_OAUTH2_CLIENT_SECRET")
        )

    def send(self, request: OutboundRequest) -> SendResult:
        """Send with the channel's access token, renewed at most once per attempt when it can
        be (connectors/twitter/oauth.py): first when its stored expiry is near, else after X
        answers 401, and then the send is tried once more. Raises what client.send raises;
        a failed renewal raises RetryableDeliveryError when it may work later, else
        PermanentDeliveryError with `reauthorize` and a readable reason."""
        credentials = request.credentials
        if oauth.can_renew(credentials) and oauth.expires_soon(credentials, now=timezone.now()):
            fresh = oauth.renewed(
                channel_external_id=request.channel_external_id, stale=credentials
            )
            return client.send(replace(request, credentials=fresh))
        try:
            return client.send(request)
        except client.ExpiredTokenError:
            if not oauth.can_renew(credentials):
                raise
        fresh = oauth.renewed(channel_external_id=request.channel_external_id, stale=credentials)
        return client.send(replace(request, credentials=fresh))

    def ensure_subscribed(
        self, *, channel_external_id: str, credentials: Mapping[str, Any]
    ) -> Subscription:
        """The account's Account Activity subscription, when TWITTER_WEBHOOK_ID names our
        webhook (else "not_configured": subscribed by hand). The token is renewed as for a
        send: before the call when it is about to expire, or once after a 401."""
        webhook_id = settings.TWITTER_WEBHOOK_ID
        if not webhook_id:
            return Subscription("not_configured")
        if oauth.can_renew(credentials) and oauth.expires_soon(credentials, now=timezone.now()):
            credentials = oauth.renewed(channel_external_id=channel_external_id, stale=credentials)
            return client.ensure_subscribed(credentials, webhook_id)
        try:
            return client.ensure_subscribed(credentials, webhook_id)
        except client.ExpiredTokenError:
            if not oauth.can_renew(credentials):
                raise
        fresh = oauth.renewed(channel_external_id=channel_external_id, stale=credentials)
        return client.ensure_subscribed(fresh, webhook_id)

    def move_to_dm_link(self, *, channel_external_id: str, text: str = "") -> str | None:
        return client.dm_deep_link(channel_external_id, text)

    def fetch_profile(
        self, credentials: Mapping[str, Any], platform_user_id: str
    ) -> PersonProfile | None:
        return client.fetch_profile(credentials, platform_user_id)

    def without_post(self, body: bytes, post_id: str) -> bytes | None:
        return parsing.without_post(body, post_id)

    def parse(self, body: bytes) -> list[NormalizedEvent]:
        """See connectors.twitter.parsing.parse: InvalidPayloadError or a list, nothing else."""
        return parsing.parse(body)
