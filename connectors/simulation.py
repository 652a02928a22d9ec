"""Platform-shaped webhook bodies, correctly signed: for `manage.py simulate`, tests and bench.

The shapes follow shared/platforms/PROTOCOLS.md (Messenger 1.3/1.4, X AAA 2.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings


def _compact(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def sign(kind: str, body: bytes) -> dict[str, str]:
    """The signature header(s) the platform would send with `body`."""
    if kind == "messenger":
        digest = hmac.new(settings.META_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}"}
    headers: dict[str, str] = {}
    for header, secret in (
        ("x-twitter-webhooks-signature", settings.TWITTER_CONSUMER_SECRET),
        ("x-twitter-webhooks-signature-oauth2", settings.TWITTER_OAUTH2_CLIENT_SECRET),
    ):
        if secret:
            raw = hmac.new(secret.encode(), body, hashlib.sha256).digest()
            headers[header] = "sha256=" + base64.b64encode(raw).decode()
    return headers


def now_ms() -> int:
    return int(time.time() * 1000)


def messenger_messages(page_id: str, items: list[dict[str, Any]]) -> bytes:
    """One POST carrying several messaging[] items for one page."""
    return _compact(
        {"object": "page", "entry": [{"id": page_id, "time": now_ms(), "messaging": items}]}
    )


def messenger_text(
    page_id: str, psid: str, text: str, *, mid: str, timestamp_ms: int | None = None
) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": timestamp_ms or now_ms(),
        "message": {"mid": mid, "text": text},
    }


def twitter_dm(
    brand_id: str,
    user_id: str,
    text: str,
    *,
    event_id: str,
    name: str = "",
    screen_name: str = "",
    timestamp_ms: int | None = None,
) -> bytes:
    return _compact(
        {
            "for_user_id": brand_id,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event_id,
                    "created_timestamp": str(timestamp_ms or now_ms()),
                    "message_create": {
                        "target": {"recipient_id": brand_id},
                        "sender_id": user_id,
                        "message_data": {"text": text, "entities": {}},
                    },
                }
            ],
            "users": {user_id: {"id": user_id, "name": name, "screen_name": screen_name}},
        }
    )


def twitter_mention(
    brand_id: str,
    brand_screen_name: str,
    user_id: str,
    text: str,
    *,
    tweet_id: str,
    name: str = "",
    screen_name: str = "",
) -> bytes:
    full_text = f"@{brand_screen_name} {text}"
    return _compact(
        {
            "for_user_id": brand_id,
            "tweet_create_events": [
                {
                    "created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime()),
                    "id_str": tweet_id,
                    "text": full_text,
                    "display_text_range": [len(brand_screen_name) + 2, len(full_text)],
                    "truncated": False,
                    "in_reply_to_user_id_str": brand_id,
                    "user": {"id_str": user_id, "name": name, "screen_name": screen_name},
                    "entities": {
                        "user_mentions": [
                            {
                                "screen_name": brand_screen_name,
                                "id_str": brand_id,
                                "indices": [0, len(brand_screen_name) + 1],
                            }
                        ]
                    },
                }
            ],
        }
    )
