"""The SLA settings page (admins): policies, business hours and auto-resolve.

Plain forms that post back to the page: each one says which form it is (`form`) and which
object it edits; a success redirects to the page (303), an error shows the page again with
the form's messages (422). Every write goes through inbox.services.sla_settings, exactly as
the API's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from inbox import access
from inbox.errors import DomainError, NotFoundError
from inbox.models import BusinessHours, Membership, Role, SLAPolicy, User
from inbox.selectors.directory import channel_choices
from inbox.selectors.sla import business_hours_list, sla_policy_list
from inbox.services.sla_settings import (
    business_hours_delete,
    business_hours_save,
    organization_set_auto_resolve,
    parse_holiday_lines,
    parse_shift_lines,
    shift_lines,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_update,
)
from inbox.views.forms import AutoResolveForm, BusinessHoursForm, SLAPolicyForm


def _admin(request: HttpRequest) -> Membership:
    membership: Membership = request.membership  # type: ignore[attr-defined]  # set by OrganizationScopeMiddleware
    if not membership.has_role(Role.ADMIN):
        raise PermissionDenied("SLA settings need the admin role.")
    return membership


def _policy_initial(policy: SLAPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "first_response_minutes": policy.first_response_minutes,
        "next_response_minutes": policy.next_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "warning_percent": policy.warning_percent,
        "use_business_hours": policy.use_business_hours,
        "escalation": policy.escalation,
        "position": policy.position,
        "channel": policy.channel_id,
        "priorities": policy.priorities,
        "tiers": ", ".join(policy.tiers),
        "active_from": policy.active_from,
        "active_until": policy.active_until,
    }


def _hours_initial(hours: BusinessHours) -> dict[str, Any]:
    schedule = hours.schedule or {}
    return {
        "channel": hours.channel_id,
        "time_zone": hours.time_zone,
        "shifts": shift_lines(schedule),
        "holidays": "\n".join(schedule.get("holidays", [])),
    }


class _Page:
    """The page's forms, unbound except the one that was posted (kept with its errors)."""

    def __init__(self, membership: Membership) -> None:
        self.membership = membership
        self.organization = membership.organization
        self.channels = [(c.pk, c.name) for c in channel_choices(organization=self.organization)]
        self.policies = list(sla_policy_list(organization=self.organization))
        self.hours = list(business_hours_list(organization=self.organization))
        self.bound: dict[str, forms.Form] = {}

    def policy_form(self, policy: SLAPolicy | None, data: Any = None) -> SLAPolicyForm:
        prefix = f"policy-{policy.pk if policy else 'new'}"
        return SLAPolicyForm(
            data,
            prefix=prefix,
            channels=self.channels,
            default=bool(policy and policy.is_default),
            initial=_policy_initial(policy) if policy else None,
        )

    def hours_form(self, hours: BusinessHours | None, data: Any = None) -> BusinessHoursForm:
        prefix = f"hours-{hours.pk if hours else 'new'}"
        initial = (
            _hours_initial(hours)
            if hours
            else {"time_zone": self.organization.time_zone, "shifts": _WORKING_WEEK}
        )
        return BusinessHoursForm(data, prefix=prefix, channels=self.channels, initial=initial)

    def auto_resolve_form(self, data: Any = None) -> AutoResolveForm:
        return AutoResolveForm(
            data,
            prefix="auto-resolve",
            initial={
                "after_days": self.organization.auto_resolve_after_days,
                "message": self.organization.auto_resolve_message,
            },
        )

    def context(self, request: HttpRequest) -> dict[str, Any]:
        assert isinstance(request.user, User)  # noqa: S101  # the middleware requires a user
        return {
            "organization": self.organization,
            "membership": self.membership,
            "memberships": access.memberships_of(user=request.user),
            "policies": [
                (p, self.bound.get(f"policy-{p.pk}") or self.policy_form(p)) for p in self.policies
            ],
            "new_policy": self.bound.get("policy-new") or self.policy_form(None),
            "hours": [
                (h, self.bound.get(f"hours-{h.pk}") or self.hours_form(h)) for h in self.hours
            ],
            "new_hours": self.bound.get("hours-new") or self.hours_form(None),
            "auto_resolve": self.bound.get("auto-resolve") or self.auto_resolve_form(),
        }


_WORKING_WEEK = "\n".join(f"{day} 09:00-17:00" for day in ("Mon", "Tue", "Wed", "Thu", "Fri"))


def _find(items: list[Any], raw: str | None) -> Any:
    for item in items:
        if str(item.pk) == raw:
            return item
    raise Http404


def _apply_errors(form: forms.Form, error: DomainError) -> None:
    placed = False
    for name, problems in error.field_errors.items():
        field = {"after_days": "after_days", "message": "message"}.get(name, name)
        if field in form.fields:
            for problem in problems:
                form.add_error(field, problem)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


def _save_policy(page: _Page, request: HttpRequest) -> str | forms.Form:
    raw = request.POST.get("policy")
    policy = None if raw == "new" else _find(page.policies, raw)
    form = page.policy_form(policy, request.POST)
    if not form.is_valid():
        return form
    try:
        if policy is None:
            created = sla_policy_create(
                organization=page.organization, actor=page.membership, **form.changes()
            )
            return f"Policy “{created.name}” added."
        saved = sla_policy_update(
            organization=page.organization,
            actor=page.membership,
            policy=policy,
            **form.changes(),
        )
    except DomainError as error:
        _apply_errors(form, error)
        return form
    return f"Policy “{saved.name}” saved."


def _save_hours(page: _Page, request: HttpRequest) -> str | forms.Form:
    raw = request.POST.get("hours")
    hours = None if raw == "new" else _find(page.hours, raw)
    form = page.hours_form(hours, request.POST)
    if not form.is_valid():
        return form
    data = form.cleaned_data
    try:
        business_hours_save(
            organization=page.organization,
            actor=page.membership,
            channel_id=data["channel"],
            time_zone=data["time_zone"].strip(),
            shifts=parse_shift_lines(data["shifts"]),
            holidays=parse_holiday_lines(data["holidays"] or ""),
            hours=hours,
        )
    except DomainError as error:
        _apply_errors(form, error)
        return form
    return "Business hours saved."


def _save_auto_resolve(page: _Page, request: HttpRequest) -> str | forms.Form:
    form = page.auto_resolve_form(request.POST)
    if not form.is_valid():
        return form
    try:
        organization_set_auto_resolve(
            organization=page.organization,
            actor=page.membership,
            after_days=form.cleaned_data["after_days"],
            message=form.cleaned_data["message"] or "",
        )
    except DomainError as error:
        _apply_errors(form, error)
        return form
    return "Auto-resolve saved."


def _delete(page: _Page, request: HttpRequest, kind: str) -> str:
    if kind == "delete_policy":
        policy = _find(page.policies, request.POST.get("policy"))
        sla_policy_delete(organization=page.organization, actor=page.membership, policy=policy)
        return f"Policy “{policy.name}” deleted."
    hours = _find(page.hours, request.POST.get("hours"))
    business_hours_delete(organization=page.organization, actor=page.membership, hours=hours)
    return "Business hours deleted."


@never_cache
def sla_settings(request: HttpRequest, slug: str) -> HttpResponseBase:
    """GET: the policies, business hours and auto-resolve forms. POST: save one of them."""
    membership = _admin(request)
    page = _Page(membership)
    status = 200
    if request.method == "POST":
        kind = request.POST.get("form") or ""
        try:
            handlers = {
                "policy": _save_policy,
                "hours": _save_hours,
                "auto_resolve": _save_auto_resolve,
            }
            if kind in ("delete_policy", "delete_hours"):
                outcome: str | forms.Form = _delete(page, request, kind)
            elif kind in handlers:
                outcome = handlers[kind](page, request)
            else:
                raise Http404
        except (DomainError, NotFoundError) as error:
            messages.error(request, error.detail)
            return HttpResponseRedirect(request.path, status=303)
        if isinstance(outcome, str):
            messages.success(request, outcome)
            url = reverse("settings-sla", args=[membership.organization.slug])
            return HttpResponseRedirect(url, status=303)
        page.bound[outcome.prefix or ""] = outcome
        status = 422
    elif request.method != "GET":
        return HttpResponse(status=405)
    return render(request, "inbox/settings_sla.html", page.context(request), status=status)
