"""What every platform client shares: a keep-alive session per thread and response helpers.

The platform clients (connectors/<platform>/client.py) and this module are the only places
that import requests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import requests

_local = threading.local()


def session() -> requests.Session:
    """One keep-alive session per thread: a worker sending many replies reuses its TLS
    connection, and no session is shared between threads (requests does not promise that)."""
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        _local.session = current
    return current


def succeeded(status: int) -> bool:
    return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def credential(credentials: Mapping[str, Any], name: str) -> str | None:
    value = credentials.get(name)
    return value if isinstance(value, str) and value else None
