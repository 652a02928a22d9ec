"""Customer-supplied strings made storable.

Platforms deliver whatever JSON escapes allow, including NUL characters and lone UTF-16
surrogates, which PostgreSQL text and jsonb reject. Storing must never fail on them (a failed
insert would retry forever), so they are replaced, visibly, with U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.base import PersonProfile
from inbox.services.customers import Profile

REPLACEMENT = "\ufffd"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_json(value: Any) -> Any:
    """The same, through every string (keys included) of a JSON-like structure."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


MAX_URL_LENGTH = 1000


def safe_url(url: str) -> str:
    """An http(s) URL a browser may load (the server never does), else ""."""
    url = clean_text(url)
    return url if url.startswith(("https://", "http://")) and len(url) <= MAX_URL_LENGTH else ""


def storable_profile(profile: PersonProfile) -> Profile:
    """A platform's description of a person, cleaned and cut to what the columns hold."""
    return Profile(
        display_name=clean_text(profile.display_name)[:200],
        screen_name=clean_text(profile.screen_name)[:100],
        avatar_url=safe_url(profile.avatar_url),
    )
