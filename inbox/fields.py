"""Encrypted model fields: per-channel credentials are stored as Fernet tokens."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be URL-safe base64 of 32 bytes (Fernet.generate_key())"
        ) from exc


def fernet() -> MultiFernet:
    """The first key encrypts; every configured key decrypts (key rotation)."""
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


if TYPE_CHECKING:
    _Base = models.TextField[dict[str, Any] | None, dict[str, Any] | None]
else:
    _Base = models.TextField


class EncryptedJSONField(_Base):
    """A JSON object encrypted at rest. Never filter or order by it: the stored text is opaque."""

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            plain = fernet().decrypt(value.encode())
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"{self.model.__name__}.{self.name} cannot be decrypted with FIELD_ENCRYPTION_KEY"
            ) from exc
        data: dict[str, Any] = json.loads(plain)
        return data

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        plain = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        return fernet().encrypt(plain).decode()

    def value_to_string(self, obj: models.Model) -> str:
        return "<encrypted>"
