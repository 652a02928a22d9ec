"""Run Parley's real processes (manage.py, the ASGI server) for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

# Variables of the test runner's own environment that must not leak into a child process.
_PARLEY_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "FIELD_ENCRYPTION_KEY",
    "ALLOWED_HOSTS",
    "HTTPS_ONLY",
    "DJANGO_SETTINGS_MODULE",
)


def production_env(**overrides: str) -> dict[str, str]:
    """A minimal production environment: DEBUG off, only the documented variables set."""
    env = {k: v for k, v in os.environ.items() if k not in _PARLEY_VARS}
    env.update(
        DEBUG="0",
        SECRET_KEY="test-" + "s" * 50,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603  # our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def last_json_line(output: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def asgi_server(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """`python -m uvicorn config.asgi:application` on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  # our own interpreter and app
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"server exited early:\n{output}")
            try:
                requests.get(f"{base}/accounts/login/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
