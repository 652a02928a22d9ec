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


class AsgiServer:
    """`python -m uvicorn config.asgi:application` on one port, kept across restarts: a test
    can stop it and start it again at the same address, as a restart or a deploy does."""

    def __init__(self, env: dict[str, str], *, workers: int = 1, port: int | None = None) -> None:
        self.env = env
        self.workers = workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        if self._process is not None:
            raise RuntimeError("the server is already running")
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and app
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--ws-per-message-deflate",
                "false",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._process = process
        try:
            self._wait_until_up(process)
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"server exited early:\n{output}")
            try:
                requests.get(f"{self.url}/accounts/login/", timeout=5)
                return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or still busy
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ten seconds); open websockets drop."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def running_server(env: dict[str, str], *, workers: int = 1) -> Iterator[AsgiServer]:
    """An AsgiServer started on a free port and stopped on exit."""
    server = AsgiServer(env, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def asgi_server(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """`python -m uvicorn config.asgi:application` on a free port; yields its base URL."""
    with running_server(env, workers=workers) as server:
        yield server.url


@contextmanager
def celery_worker(env: dict[str, str], *extra: str) -> Iterator[None]:
    """`python -m celery -A config worker` on the queue `env["CELERY_QUEUE"]`, one process
    (`--pool=solo`), quiet; `extra` adds arguments such as `--beat`."""
    process = subprocess.Popen(  # noqa: S603  # our own interpreter and app
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            *extra,
            "-Q",
            env["CELERY_QUEUE"],
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)
