"""The landing pages: choose an organization, then its conversation list."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render

from inbox import access
from inbox.models import Membership, User
from inbox.selectors.conversations import ConversationFilters, conversation_list


@login_required
def home(request: HttpRequest) -> HttpResponse | HttpResponseRedirect:
    """One organization: straight to it; several: let the person choose."""
    assert isinstance(request.user, User)  # noqa: S101  # login_required guarantees it
    memberships = access.memberships_of(user=request.user)
    if len(memberships) == 1:
        return redirect("organization-home", slug=memberships[0].organization.slug)
    return render(request, "inbox/choose_organization.html", {"memberships": memberships})


def organization_home(request: HttpRequest, slug: str) -> HttpResponse:
    """The organization's conversations, most recent first (the inbox proper comes later)."""
    membership: Membership = request.membership  # type: ignore[attr-defined]  # set by OrganizationScopeMiddleware
    assert isinstance(request.user, User)  # noqa: S101  # the middleware requires a signed-in user
    conversations = conversation_list(
        organization=membership.organization, viewer=membership, filters=ConversationFilters()
    )[:100]
    return render(
        request,
        "inbox/organization_home.html",
        {
            "organization": membership.organization,
            "membership": membership,
            "memberships": access.memberships_of(user=request.user),
            "conversations": conversations,
        },
    )
