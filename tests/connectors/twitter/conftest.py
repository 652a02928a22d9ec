"""The X token tests share one fake of X playing OAuth 2.0: refresh tokens that rotate and
work once, and the app's client id that renewals must name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.fake_platform import FakePlatform

CLIENT_ID = "parley-x-client-id"
REFRESH = "x-refresh-original-Qp8L"  # the channel's refresh token, as first saved


@pytest.fixture
def fake(settings: Any) -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        settings.TWITTER_API_URL = platform.url
        settings.TWITTER_OAUTH2_CLIENT_ID = CLIENT_ID
        settings.TWITTER_OAUTH2_CLIENT_SECRET = ""
        platform.x_oauth(refresh_tokens=[REFRESH], client_id=CLIENT_ID)
        yield platform
