"""The landing pages: choose an organization, then its inbox."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render

from inbox import access
from inbox.models import User
from inbox.views import inbox


@login_required
def home(request: HttpRequest) -> HttpResponse | HttpResponseRedirect:
    """One organization: straight to it; several: let the person choose."""
    assert isinstance(request.user, User)  # noqa: S101  # login_required guarantees it
    memberships = access.memberships_of(user=request.user)
    if len(memberships) == 1:
        return redirect("organization-home", slug=memberships[0].organization.slug)
    return render(request, "inbox/choose_organization.html", {"memberships": memberships})


def organization_home(request: HttpRequest, slug: str) -> HttpResponse:
    """The organization's front page is its inbox (same page as /o/<slug>/inbox/)."""
    return inbox.inbox(request, slug)
