"""The deployment files agree with the code: compose runs the real entry points against its own
PostgreSQL and Redis, every setting read from the environment is documented in .env.example and
README.md, and the CI script runs `make test` against the real services."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")

ENV_EXAMPLE_LINE = re.compile(r"^#?[ \t]*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
README_TABLE_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)
SETTINGS_READ = re.compile(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"][name]
    return service


def _command(name: str) -> str:
    command = _service(name)["command"]
    return " ".join(command) if isinstance(command, list) else str(command)


def _environment(name: str) -> dict[str, str]:
    environment = _service(name).get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _env_example_names() -> set[str]:
    return set(ENV_EXAMPLE_LINE.findall((ROOT / ".env.example").read_text()))


def _readme_table_names() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Environment variables", 1)[1].split("\n## ", 1)[0]
    return set(README_TABLE_ROW.findall(section))


def test_compose_defines_the_multi_machine_shape() -> None:
    assert set(_compose()["services"]) >= {"web", "worker", "beat", "postgres", "redis"}


def test_web_migrates_then_serves_the_asgi_application_with_uvicorn() -> None:
    command = _command("web")
    assert "manage.py migrate --noinput" in command
    assert re.search(r"\buvicorn config\.asgi:application\b", command)
    assert command.index("migrate") < command.index("uvicorn")


@pytest.mark.parametrize(("service", "role"), [("worker", "worker"), ("beat", "beat")])
def test_worker_and_beat_run_the_celery_app(service: str, role: str) -> None:
    assert f"celery -A config {role}" in _command(service)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_processes_use_the_compose_postgres_and_redis(service: str) -> None:
    environment = _environment(service)
    database = urlparse(environment["DATABASE_URL"])
    redis = urlparse(environment["REDIS_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert database.hostname == "postgres"
    assert redis.scheme == "redis"
    assert redis.hostname == "redis"
    postgres = _environment("postgres")
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == postgres["POSTGRES_DB"]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_processes_run_in_production_mode_without_committed_secrets(service: str) -> None:
    environment = _environment(service)
    assert environment["DEBUG"] == "0"
    for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
        # Required from the operator's environment or .env, never a value in the repository.
        assert environment[secret].startswith(f"${{{secret}:?"), environment[secret]


def test_env_example_and_readme_document_the_same_variables() -> None:
    documented = _env_example_names()
    assert "DATABASE_URL" in documented
    assert _readme_table_names() == documented


def test_every_setting_read_from_the_environment_is_in_env_example() -> None:
    read = set(SETTINGS_READ.findall((ROOT / "config" / "settings.py").read_text()))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY"} <= read
    assert read - _env_example_names() == set()


def test_ci_script_runs_make_test_against_the_real_services() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!")
    assert "set -euo pipefail" in text
    assert re.search(r"^\s*make test\s*$", text, re.MULTILINE)
    assert "PARLEY_REQUIRE_SERVICES=1" in text
    assert "DATABASE_URL=" in text
    assert "REDIS_URL=" in text
