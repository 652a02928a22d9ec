from __future__ import annotations

import hashlib
import time
from http import HTTPStatus
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors import simulation
from inbox.models import Channel


def _user_id(name: str) -> str:
    """A stable numeric platform id per customer name, so repeated runs join one thread."""
    return str(int(hashlib.sha256(name.encode()).hexdigest()[:15], 16))


class Command(BaseCommand):
    help = (
        "Make a customer write: POST a correctly signed webhook, as Messenger or X would, to a "
        "running Parley (default http://127.0.0.1:8000)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--channel", required=True, type=int, help="channel id")
        parser.add_argument("--customer", required=True, help="the customer's name")
        parser.add_argument("--text", required=True)
        parser.add_argument("--public", action="store_true", help="a public mention (X only)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Parley's base URL")

    def handle(self, *args: Any, **options: Any) -> None:
        channel = Channel.all_tenants.filter(
            pk=options["channel"], organization__slug=options["org"]
        ).first()
        if channel is None:
            raise CommandError("No such channel in that organization.")
        name: str = options["customer"]
        user_id = _user_id(name)
        unique = str(time.time_ns())
        if channel.kind == "messenger":
            if options["public"]:
                raise CommandError("Messenger has no public messages; drop --public.")
            body = simulation.messenger_messages(
                channel.external_id,
                [
                    simulation.messenger_text(
                        channel.external_id, user_id, options["text"], mid=f"m_sim_{unique}"
                    )
                ],
            )
        elif options["public"]:
            body = simulation.twitter_mention(
                channel.external_id,
                channel.name.lstrip("@") or "brand",
                user_id,
                options["text"],
                tweet_id=unique[:19],
                name=name,
                screen_name=name.lower().replace(" ", "")[:15],
            )
        else:
            body = simulation.twitter_dm(
                channel.external_id,
                user_id,
                options["text"],
                event_id=unique[:19],
                name=name,
                screen_name=name.lower().replace(" ", "")[:15],
            )
        headers = {"Content-Type": "application/json", **simulation.sign(channel.kind, body)}
        url = f"{options['url'].rstrip('/')}/webhooks/{channel.kind}/"
        try:
            response = requests.post(url, data=body, headers=headers, timeout=10)
        except requests.RequestException as exc:
            raise CommandError(f"Could not reach Parley at {url}: {exc}") from exc
        if response.status_code != HTTPStatus.OK:
            raise CommandError(f"Parley answered {response.status_code}: {response.text[:200]}")
        self.stdout.write(f"{name} wrote to {channel.name}: delivered ({response.status_code})")
