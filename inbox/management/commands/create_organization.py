from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox.errors import DomainError
from inbox.management.commands._output import command_error, print_membership
from inbox.services.organizations import organization_create


class Command(BaseCommand):
    help = "Create an organization and its first admin; prints one JSON line with the token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--time-zone", default="UTC")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            _, membership = organization_create(
                slug=options["slug"],
                name=options["name"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
                time_zone=options["time_zone"],
            )
        except DomainError as exc:
            raise command_error(exc) from exc
        print_membership(self, membership)
