"""Settings come from the environment only; production refuses unsafe defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "debug": settings.DEBUG,
    "db": settings.DATABASES["default"]["ENGINE"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "broker": settings.CELERY_BROKER_URL,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "graph": settings.META_GRAPH_URL,
    "x": settings.TWITTER_API_URL,
    "hosts": settings.ALLOWED_HOSTS,
}))
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _ALL_VARS}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(  # noqa: S603  # our own interpreter and code
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_ALL_VARS = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "FIELD_ENCRYPTION_KEY",
    "HTTPS_ONLY",
    "META_GRAPH_URL",
    "TWITTER_API_URL",
}


def test_embedded_defaults_with_debug() -> None:
    result = _run({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["db"] == "django.db.backends.sqlite3"
    assert config["layer"] == "channels.layers.InMemoryChannelLayer"
    assert config["eager"] is True
    assert config["graph"] == "https://graph.facebook.com/v25.0"
    assert config["x"] == "https://api.x.com"


def test_production_refuses_to_start_without_secret_key() -> None:
    result = _run({"DEBUG": "0", "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_field_encryption_key() -> None:
    result = _run({"DEBUG": "0", "SECRET_KEY": "s" * 50})
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_production_serves_plain_http_unless_opted_in() -> None:
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "s" * 50,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    plain = _run(env)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["ssl_redirect"] is False
    https = _run({**env, "HTTPS_ONLY": "1"})
    assert json.loads(https.stdout)["ssl_redirect"] is True


def test_service_urls_switch_the_engines() -> None:
    result = _run(
        {
            "DEBUG": "1",
            "DATABASE_URL": "postgres://u@db.example:5432/parley",
            "REDIS_URL": "redis://cache.example:6379/0",
            "ALLOWED_HOSTS": "parley.example,localhost",
        }
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["db"] == "django.db.backends.postgresql"
    assert config["layer"] == "channels_redis.core.RedisChannelLayer"
    assert config["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert config["eager"] is False
    assert config["broker"] == "redis://cache.example:6379/0"
    assert config["hosts"] == ["parley.example", "localhost"]


@pytest.mark.parametrize("key", ["not-a-key", "c2hvcnQ="])
def test_a_malformed_field_encryption_key_is_reported(key: str) -> None:
    probe = _run({"DEBUG": "0", "SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEY": key})
    assert probe.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in probe.stderr
