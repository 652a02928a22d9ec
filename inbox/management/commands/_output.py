"""Shared output for the provisioning commands: one JSON line, last."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from inbox.api.tokens import token_for
from inbox.errors import DomainError
from inbox.models import Membership


def print_membership(command: BaseCommand, membership: Membership) -> None:
    command.stdout.write(
        json.dumps(
            {
                "organization_id": membership.organization_id,
                "organization_slug": membership.organization.slug,
                "user_id": membership.user_id,
                "email": membership.user.email,
                "role": membership.role,
                "token": token_for(membership.user),
            }
        )
    )


def command_error(exc: DomainError) -> CommandError:
    fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.field_errors.items())
    return CommandError(f"{exc.detail} {fields}".strip())
