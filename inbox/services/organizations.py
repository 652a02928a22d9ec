"""Organizations and their members."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction

from inbox.errors import ConflictError, ForbiddenError, InvalidError
from inbox.models import Membership, Organization, Role, User
from inbox.services.conversations import conversations_unassign_all
from inbox.services.sla_settings import sla_policy_create_default
from inbox.tenancy import scoped


def _check_time_zone(time_zone: str) -> None:
    if time_zone not in zoneinfo.available_timezones():
        raise InvalidError("Unknown time zone.", field_errors={"time_zone": ["Unknown."]})


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidError("Weak password.", field_errors={"password": list(exc.messages)}) from exc


@transaction.atomic
def organization_create(
    *,
    slug: str,
    name: str,
    admin_email: str,
    admin_password: str,
    time_zone: str = "UTC",
) -> tuple[Organization, Membership]:
    """Create a tenant, its default SLA policy and its first admin (an existing user keeps
    their password).

    Raises InvalidError on a bad slug or time zone, ConflictError when the slug is taken.
    """
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise InvalidError("Invalid slug.", field_errors={"slug": list(exc.messages)}) from exc
    _check_time_zone(time_zone)
    if Organization.objects.filter(slug=slug).exists():
        raise ConflictError(f"An organization with slug {slug!r} exists.")
    organization = Organization.objects.create(slug=slug, name=name, time_zone=time_zone)
    sla_policy_create_default(organization=organization)
    membership = member_create(
        organization=organization, email=admin_email, password=admin_password, role=Role.ADMIN
    )
    return organization, membership


@scoped
@transaction.atomic
def member_create(
    *,
    organization: Organization,
    email: str,
    password: str | None = None,
    role: str = Role.AGENT,
    name: str = "",
) -> Membership:
    """Add a person to the organization, creating their user if the email is new.

    A new user needs a password; an existing user keeps theirs (they may belong to several
    organizations). Raises InvalidError on bad input, ConflictError if already a member.
    """
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidError("Invalid email.", field_errors={"email": list(exc.messages)}) from exc
    if role not in Role.values:
        raise InvalidError("Unknown role.", field_errors={"role": [f"One of {Role.values}."]})
    user = User.objects.filter(email=email).first()
    if user is None:
        if not password:
            raise InvalidError(
                "A new user needs a password.", field_errors={"password": ["Required."]}
            )
        _check_password(password)
        user = User.objects.create_user(email=email, password=password, name=name)
    try:
        with transaction.atomic():
            return Membership.objects.create(organization=organization, user=user, role=role)
    except IntegrityError:
        raise ConflictError(f"{email} is already a member.") from None


@scoped
@transaction.atomic
def member_set_role(
    *, organization: Organization, actor: Membership, membership: Membership, role: str
) -> Membership:
    """Change a member's role; the last admin cannot demote themselves out of the tenant."""
    if role not in Role.values:
        raise InvalidError("Unknown role.", field_errors={"role": [f"One of {Role.values}."]})
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(organization=organization, leaving=membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@scoped
@transaction.atomic
def member_remove(*, organization: Organization, actor: Membership, membership: Membership) -> None:
    if membership.role == Role.ADMIN:
        _keep_an_admin(organization=organization, leaving=membership)
    # Their unresolved conversations go back to the unassigned queue.
    conversations_unassign_all(organization=organization, user_id=membership.user_id)
    membership.delete()


def _keep_an_admin(*, organization: Organization, leaving: Membership) -> None:
    admins = Membership.objects.select_for_update().filter(
        organization=organization, role=Role.ADMIN
    )
    if not admins.exclude(pk=leaving.pk).exists():
        raise ForbiddenError("An organization keeps at least one admin.")
