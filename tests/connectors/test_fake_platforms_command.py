"""`manage.py fake_platforms` serves both fakes in the foreground and says where."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import requests

from tests.support.processes import ROOT, free_port


def test_fake_platforms_command_serves_until_interrupted() -> None:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  # our own interpreter and manage.py
        [sys.executable, "manage.py", "fake_platforms", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        graph_line = process.stdout.readline().strip()
        x_line = process.stdout.readline().strip()
        assert graph_line == f"META_GRAPH_URL=http://127.0.0.1:{port}/v25.0"
        assert x_line == f"TWITTER_API_URL=http://127.0.0.1:{port}"

        response = requests.post(
            f"http://127.0.0.1:{port}/2/tweets",
            json={"text": "hello"},
            headers={"Authorization": "Bearer t"},
            timeout=5,
        )
        assert response.status_code == 201
        assert process.stdout.readline().strip() == "POST /2/tweets -> 201"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
