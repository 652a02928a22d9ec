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
    "db_pool": settings.DATABASES["default"].get("OPTIONS", {}).get("pool"),
    "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
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
    "DATABASE_POOL_SIZE",
    "DATABASE_CONN_MAX_AGE",
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
    assert config["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert config["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert config["eager"] is False
    assert config["broker"] == "redis://cache.example:6379/0"
    assert config["hosts"] == ["parley.example", "localhost"]


def test_a_connection_pool_is_opt_in_and_replaces_persistent_connections() -> None:
    env = {"DEBUG": "1", "DATABASE_URL": "postgres://u@db.example:5432/parley"}
    default = json.loads(_run({**env, "DATABASE_CONN_MAX_AGE": "60"}).stdout)
    assert (default["db_pool"], default["conn_max_age"]) == (None, 60)
    result = _run({**env, "DATABASE_CONN_MAX_AGE": "60", "DATABASE_POOL_SIZE": "8"})
    assert result.returncode == 0, result.stderr
    pooled = json.loads(result.stdout)
    assert pooled["db_pool"] == {"min_size": 8, "max_size": 8, "timeout": 10}
    assert pooled["conn_max_age"] == 0, "Django refuses a pool with persistent connections"
    embedded = json.loads(_run({"DEBUG": "1", "DATABASE_POOL_SIZE": "8"}).stdout)
    assert embedded["db"] == "django.db.backends.sqlite3"
    assert embedded["db_pool"] is None, "SQLite has no pool"


@pytest.mark.parametrize("key", ["not-a-key", "c2hvcnQ="])
def test_a_malformed_field_encryption_key_is_reported(key: str) -> None:
    probe = _run({"DEBUG": "0", "SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEY": key})
    assert probe.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in probe.stderr
