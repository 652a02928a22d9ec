"""Webhook helpers: sign exactly like the platform and POST through the real endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from connectors.simulation import sign

META_SECRET = "7c1f0e5b9a2d4e6f8a0b1c2d3e4f5a6b"  # PROTOCOLS.md section 4
X_SECRET = "Kq3vT9zR1pLm7Xc2Wn8Yb5Hd0Fg4Js6Ua1Ve3Ti9Oo2Pp7Qr"
META_APP_ID = "1517776481860111"
PAGE_ID = "104857600123456"
BRAND_X_ID = "1290000000000000001"


@pytest.fixture(autouse=True)
def platform_secrets(settings: Any) -> None:
    settings.META_APP_SECRET = META_SECRET
    settings.META_APP_ID = META_APP_ID
    settings.META_VERIFY_TOKEN = "verify-me"
    settings.TWITTER_CONSUMER_SECRET = X_SECRET
    settings.TWITTER_OAUTH2_CLIENT_SECRET = ""


def post_webhook(client: Client, kind: str, body: bytes, *, signed: bool = True) -> Any:
    headers = sign(kind, body) if signed else {}
    return client.post(
        f"/webhooks/{kind}/", data=body, content_type="application/json", headers=headers
    )
