"""Run Parley's real processes (manage.py, the ASGI server) for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from celery import Celery
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
        self._output: Any = None  # the server's output: a file, never a pipe nobody drains

    def start(self) -> None:
        """Start the server and wait until it answers."""
        if self._process is not None:
            raise RuntimeError("the server is already running")
        self._output = tempfile.TemporaryFile()  # noqa: SIM115  # closed by stop()
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
            stdout=self._output,
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
                self._output.seek(0)
                output = self._output.read().decode(errors="replace")
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
        if self._output is not None:
            self._output.close()
            self._output = None


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
    (`--pool=solo`), quiet; `extra` adds arguments such as `--beat`. Yields once the worker
    answers a ping, that is once it consumes its queue (a task sent before would wait for a
    worker that is still importing, for seconds on a busy machine)."""
    name = f"parley-test-{uuid.uuid4().hex[:12]}@localhost"
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
            "-n",
            name,
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
        _wait_until_consuming(process, name, env["REDIS_URL"])
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_consuming(process: subprocess.Popen[bytes], name: str, broker_url: str) -> None:
    probe = Celery("parley-test-probe", broker=broker_url, set_as_current=False)
    try:
        deadline = time.monotonic() + 60
        while not probe.control.ping(destination=[name], timeout=0.5):
            if process.poll() is not None:
                raise AssertionError(f"the celery worker exited early ({process.returncode})")
            if time.monotonic() > deadline:
                raise AssertionError("the celery worker did not start within 60 s")
    finally:
        probe.close()
