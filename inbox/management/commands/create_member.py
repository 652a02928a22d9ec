from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox.errors import DomainError
from inbox.management.commands._output import command_error, print_membership
from inbox.models import Organization, Role
from inbox.services.organizations import member_create


class Command(BaseCommand):
    help = "Add a member to an organization; prints one JSON line with the user's token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", choices=Role.values, default=Role.AGENT)
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug {options['org']!r}.")
        try:
            membership = member_create(
                organization=organization,
                email=options["email"],
                password=options["password"],
                role=options["role"],
                name=options["name"],
            )
        except DomainError as exc:
            raise command_error(exc) from exc
        print_membership(self, membership)
