"""Pages under /o/<slug>/ run inside their organization's tenant scope.

Anonymous visitors go to the login page; a signed-in non-member gets 404 (never a hint that
the organization exists). Times on these pages are shown in the organization's time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.views.defaults import page_not_found

from inbox import access
from inbox.errors import NotFoundError
from inbox.models import Membership
from inbox.tenancy import tenant_scope

PREFIX = "/o/"


class OrganizationScopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        slug = request.path_info[len(PREFIX) :].split("/", 1)[0]
        if not request.user.is_authenticated:
            return _to_login(request)
        try:
            membership = access.membership_for(user=request.user, organization_slug=slug)
        except NotFoundError:
            return _not_found(request)
        request.membership = membership  # type: ignore[attr-defined]  # request attribute for page views
        request.organization = membership.organization  # type: ignore[attr-defined]  # as above
        with tenant_scope(membership.organization), timezone.override(_zone(membership)):
            return self.get_response(request)


def _zone(membership: Membership) -> ZoneInfo:
    try:
        return ZoneInfo(membership.organization.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _to_login(request: HttpRequest) -> HttpResponse:
    """The login page, coming back here after. A request from the live page (htmx or its
    fetches) cannot follow a redirect into a fragment: it is told to load the login page."""
    if request.headers.get("HX-Request") != "true":
        return redirect_to_login(request.get_full_path())
    current = urlsplit(request.headers.get("HX-Current-URL") or request.get_full_path())
    back = current.path + (f"?{current.query}" if current.query else "")
    response = HttpResponse(status=204)
    response["HX-Redirect"] = redirect_to_login(back)["Location"]
    return response


def _not_found(request: HttpRequest) -> HttpResponse:
    return page_not_found(request, Http404())
