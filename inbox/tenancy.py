"""Fail-closed tenant scoping (layer two of three; see shared/STYLE.md).

Every tenant-owned model's default manager (`objects`) refuses to build a queryset unless an
organization scope is active, and then filters to that organization. The scope is a context
variable set by the API base view, the page middleware, the websocket consumer, the task
decorator and every service or selector (from its `organization` argument). Code that must
cross tenants (webhook routing by page id, benchmarks, migrations) uses the loudly named
`all_tenants` manager instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from django.apps import apps
from django.db import models

if TYPE_CHECKING:
    from inbox.models import Organization

_current_organization_id: ContextVar[int | None] = ContextVar("parley_organization", default=None)

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=models.Model)


class TenantScopeError(RuntimeError):
    """A tenant model was queried with no organization scope, or under two scopes at once."""


def current_organization_id() -> int | None:
    return _current_organization_id.get()


@contextmanager
def tenant_scope(organization: Organization | int) -> Iterator[None]:
    """Run the block with `organization` as the only visible tenant.

    Nesting the same organization is allowed; entering another one raises TenantScopeError,
    because a code path that mixes tenants is a bug.
    """
    organization_id = organization if isinstance(organization, int) else organization.pk
    active = _current_organization_id.get()
    if active is not None and active != organization_id:
        raise TenantScopeError(f"scope {active} is active; refusing to enter {organization_id}")
    token = _current_organization_id.set(organization_id)
    try:
        yield
    finally:
        _current_organization_id.reset(token)


def activate(organization: Organization) -> Token[int | None]:
    """Enter the organization's scope for the rest of a request; pair with `deactivate`.

    For framework hooks that cannot wrap a `with` block (DRF's initial/dispatch split).
    """
    active = _current_organization_id.get()
    if active is not None and active != organization.pk:
        raise TenantScopeError(f"scope {active} is active; refusing to enter {organization.pk}")
    return _current_organization_id.set(organization.pk)


def deactivate(token: Token[int | None]) -> None:
    _current_organization_id.reset(token)


def scoped(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service or selector inside the scope of its keyword-only `organization` argument."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        organization = kwargs.get("organization")
        if organization is None:
            raise TypeError(f"{func.__qualname__} needs organization= as a keyword argument")
        organization_id = organization if isinstance(organization, int) else organization.pk  # type: ignore[attr-defined]  # an Organization
        for name, value in kwargs.items():
            # Saves, refreshes and foreign keys bypass the scoped manager: refuse any object of
            # another tenant before the service touches it.
            owner = getattr(value, "organization_id", None)
            if isinstance(value, models.Model) and owner is not None and owner != organization_id:
                raise TenantScopeError(
                    f"{func.__qualname__}: {name} belongs to organization {owner}, "
                    f"not {organization_id}"
                )
        with tenant_scope(organization):  # type: ignore[arg-type]  # checked by the signature
            return func(*args, **kwargs)

    return wrapper


class TenantManager(models.Manager[M]):
    """Default manager of tenant models: scoped to the active organization, else refuses."""

    def get_queryset(self) -> models.QuerySet[M]:
        organization_id = _current_organization_id.get()
        if organization_id is None:
            raise TenantScopeError(
                f"{self.model.__name__}.objects used outside a tenant scope; "
                "use a service/selector, tenant_scope(), or all_tenants explicitly"
            )
        return super().get_queryset().filter(organization_id=organization_id)


class AllTenantsManager(models.Manager[M]):
    """The escape hatch: sees every organization's rows. Grep for it in review."""


def tenant_models() -> list[type[models.Model]]:
    """Every model that carries an organization (for the meta-tests)."""
    return [
        model
        for model in apps.get_models()
        if any(field.name == "organization" for field in model._meta.get_fields())
    ]
