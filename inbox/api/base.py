"""The one base class of every tenant route: organization from the URL, membership checked.

Subclasses never touch a model manager: lists come from `scoped_queryset()` (a selector) and
single objects from `get_object()` (an access function). A non-member of the URL's
organization gets 404 on every route, collections included.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from inbox import access
from inbox.models import Membership, Organization, Role
from inbox.tenancy import activate, deactivate


class TenantViewSet(viewsets.ViewSet):
    """Resolves `self.organization` / `self.membership` and the tenant scope for the request."""

    read_role: Role = Role.AGENT
    write_role: Role = Role.AGENT

    organization: Organization
    membership: Membership
    _scope_token: Token[int | None] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and IsAuthenticated first
        self.membership = access.membership_for(user=request.user, organization_slug=kwargs["slug"])
        self.organization = self.membership.organization
        self._scope_token = activate(self.organization)
        role = self.read_role if request.method in SAFE_METHODS else self.write_role
        access.require_role(self.membership, role)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._scope_token is not None:
                deactivate(self._scope_token)
                self._scope_token = None

    def ok(self, data: Any, status: int = 200) -> Response:
        return Response(data, status=status)
