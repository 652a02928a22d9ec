"""Run the fake Messenger and X APIs in the foreground, for the demo and manual testing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.fake_platform import FakePlatform, RecordedRequest


class Command(BaseCommand):
    help = (
        "Serve fake Graph Send API and X API endpoints on loopback until interrupted; prints the "
        "META_GRAPH_URL and TWITTER_API_URL to give Parley."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address to bind; loopback by default, since the fake accepts any token.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        platform = FakePlatform(host=options["host"], port=options["port"], on_request=self._log)
        try:
            platform.start()
        except OSError as exc:
            address = f"{options['host']}:{options['port']}"
            raise CommandError(f"cannot listen on {address}: {exc}") from exc
        self.stdout.write(f"META_GRAPH_URL={platform.graph_url}")
        self.stdout.write(f"TWITTER_API_URL={platform.url}")
        self.stdout.flush()
        try:
            platform.wait()
        except KeyboardInterrupt:
            pass
        finally:
            platform.stop()

    def _log(self, request: RecordedRequest) -> None:
        # Flushed per line: the demo pipes this into a log and watches it live.
        self.stdout.write(f"{request.method} {request.path} -> {request.status}")
        self.stdout.flush()
