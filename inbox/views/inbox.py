"""The agent inbox: conversation list, thread, composer, side panel and the actions on them.

Every view takes the membership the page middleware resolved, finds objects through access
(404 for "missing" and "not yours" alike), reads through selectors and writes through services.
htmx requests get the fragment they target (the `HX-Target` header); anything else gets the
whole page, so every URL survives a reload. Domain errors become a readable message in the
page (409 / 422), never a 500.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    QueryDict,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from inbox import access
from inbox.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
)
from inbox.models import (
    ChannelStatus,
    Conversation,
    ConversationStatus,
    Membership,
    Message,
    Priority,
    Role,
    User,
    Visibility,
)
from inbox.selectors.conversations import (
    ConversationFilters,
    SLAFilter,
    conversation_row,
    conversation_rows,
    conversation_view_counts,
    current_sla_clocks,
    customer_thread,
)
from inbox.selectors.directory import channel_choices, customer_identities, member_list
from inbox.selectors.messages import thread_messages
from inbox.selectors.sla import follow_up_list
from inbox.services.conversations import conversation_update
from inbox.services.delivery import message_retry
from inbox.services.follow_ups import follow_up_cancel, follow_up_create
from inbox.services.messages import conversation_move_to_dm, message_send, note_add
from inbox.services.reads import conversation_mark_read
from inbox.views.presentation import channel_capabilities, http_url, window_view

LIST_LIMIT = 100
VIEW_LABELS = {"mine": "Mine", "unassigned": "Unassigned", "all": "All"}
STATUS_LABELS: dict[str, str] = {
    ConversationStatus.OPEN: "Open",
    ConversationStatus.PENDING: "Pending",
    ConversationStatus.SNOOZED: "Snoozed",
    ConversationStatus.RESOLVED: "Resolved",
}
PANES = "conversation-panes"
LIST = "conversation-list"
SNOOZE_HOUR = time(9, 0)
MAX_KEY_LENGTH = 255
MAX_ID = 2**63 - 1  # ids beyond a signed 64-bit integer cannot exist (and SQLite rejects them)


# ---- request plumbing ----------------------------------------------------------------------


def _membership(request: HttpRequest) -> Membership:
    membership: Membership = request.membership  # type: ignore[attr-defined]  # set by OrganizationScopeMiddleware
    return membership


def _htmx_target(request: HttpRequest) -> str | None:
    if request.headers.get("HX-Request") != "true":
        return None
    return request.headers.get("HX-Target") or ""


def _page(response: HttpResponse) -> HttpResponse:
    """Fragments and pages share URLs: caches must tell them apart, and never keep either."""
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _id(raw: str | int | None) -> int | None:
    """A positive id from a URL or query string, else None."""
    text = str(raw) if raw is not None else ""
    if not text.isdigit() or not 0 < int(text) <= MAX_ID:
        return None
    return int(text)


def _conversation(membership: Membership, pk: int) -> Conversation:
    if _id(pk) is None:
        raise Http404
    try:
        return access.conversation_get(
            organization=membership.organization, pk=pk, viewer=membership
        )
    except NotFoundError:
        raise Http404 from None


def _message(membership: Membership, conversation: Conversation, pk: int) -> Message:
    if _id(pk) is None:
        raise Http404
    try:
        return access.message_get(
            organization=membership.organization, conversation=conversation, pk=pk
        )
    except NotFoundError:
        raise Http404 from None


def _error_status(error: DomainError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ForbiddenError):
        return 403
    if isinstance(error, ConflictError):
        return 409
    return 422


# ---- list state (the query string) ---------------------------------------------------------


SLA_FILTERS: dict[str, str] = {
    "": "Any SLA",
    "breached": "SLA breached",
    "warning": "SLA warning",
    "due_soon": "SLA due within 30 min",
}
SORTS: dict[str, str] = {"waiting": "Waiting longest", "sla": "Next SLA deadline"}
DUE_SOON_MINUTES = 30


@dataclass(frozen=True)
class ListState:
    """What the conversation list shows, as the URL's query string says.

    view: mine | unassigned | all (supervisors); status: a conversation status or "any";
    channel: a channel id; q: search text; sla: "", breached, warning or due_soon; sort:
    waiting (who waited longest first) or sla (next SLA deadline first).
    """

    view: str
    status: str
    channel_id: int | None
    q: str
    default_view: str
    sla: str = ""
    sort: str = "waiting"

    @classmethod
    def from_query(cls, params: QueryDict, membership: Membership) -> ListState:
        supervisor = membership.has_role(Role.SUPERVISOR)
        default_view = "all" if supervisor else "mine"
        view = params.get("view") or default_view
        if view not in VIEW_LABELS or (view == "all" and not supervisor):
            view = default_view
        status = params.get("status") or ConversationStatus.OPEN
        if status != "any" and status not in ConversationStatus.values:
            status = ConversationStatus.OPEN
        channel_id = _id(params.get("channel"))
        q = " ".join((params.get("q") or "").split())[:200]
        sla = params.get("sla") or ""
        sort = params.get("sort") or "waiting"
        return cls(
            view,
            status,
            channel_id,
            q,
            default_view,
            sla=sla if sla in SLA_FILTERS else "",
            sort=sort if sort in SORTS else "waiting",
        )

    def filters(self) -> ConversationFilters:
        assignee = {"mine": "me", "unassigned": "unassigned"}.get(self.view)
        statuses = () if self.status == "any" else (self.status,)
        sla: SLAFilter = {"breached": "breached", "warning": "warning"}.get(self.sla, "")  # type: ignore[assignment]  # the two literal values
        if self.sla == "due_soon":
            sla = "due_within"
        return ConversationFilters(
            statuses=statuses,
            assignee=assignee,
            channel_id=self.channel_id,
            q=self.q,
            order="sla_due" if self.sort == "sla" else "waiting",
            sla=sla,
            sla_minutes=DUE_SOON_MINUTES,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        values: dict[str, Any] = {
            "view": self.view,
            "status": self.status,
            "channel": self.channel_id,
            "q": self.q,
            "sla": self.sla,
            "sort": self.sort,
            **changes,
        }
        defaults = {"view": self.default_view, "status": ConversationStatus.OPEN, "sort": "waiting"}
        return {
            key: str(value)
            for key, value in values.items()
            if value not in (None, "") and defaults.get(key) != value
        }

    def query(self, **changes: Any) -> str:
        params = self.params(**changes)
        return f"?{urlencode(params)}" if params else ""


def _inbox_url(membership: Membership, state: ListState, conversation_id: int | None) -> str:
    slug = membership.organization.slug
    if conversation_id is None:
        return reverse("inbox", args=[slug]) + state.query()
    return reverse("inbox-conversation", args=[slug, conversation_id]) + state.query()


# ---- contexts ------------------------------------------------------------------------------


@dataclass
class Tab:
    key: str
    label: str
    url: str
    current: bool
    count: int | None = None


def _list_context(membership: Membership, state: ListState, open_id: int | None) -> dict[str, Any]:
    organization = membership.organization
    rows = list(
        conversation_rows(organization=organization, viewer=membership, filters=state.filters())[
            : LIST_LIMIT + 1
        ]
    )
    counts = conversation_view_counts(organization=organization, viewer=membership)
    slug = organization.slug
    path = (
        reverse("inbox-conversation", args=[slug, open_id])
        if open_id
        else reverse("inbox", args=[slug])
    )
    views = ["mine", "unassigned"] + (["all"] if membership.has_role(Role.SUPERVISOR) else [])
    view_tabs = [
        Tab(key, VIEW_LABELS[key], path + state.query(view=key), key == state.view, count)
        for key, count in (
            ("mine", counts.mine),
            ("unassigned", counts.unassigned),
            ("all", counts.all),
        )
        if key in views
    ]
    status_tabs = [
        Tab(key, label, path + state.query(status=key), key == state.status)
        for key, label in [*STATUS_LABELS.items(), ("any", "Any")]
    ]
    return {
        "list_state": state,
        "list_query": state.query(),
        "list_path": path,
        "search_hidden": [
            (key, value)
            for key, value in state.params().items()
            if key not in ("q", "channel", "sla", "sort")
        ],
        "sla_filters": list(SLA_FILTERS.items()),
        "sorts": list(SORTS.items()),
        "clear_search_query": state.query(q=""),
        "unassigned_url": path + state.query(view="unassigned"),
        "channels": list(channel_choices(organization=organization)),
        "view_tabs": view_tabs,
        "status_tabs": status_tabs,
        "view_label": VIEW_LABELS[state.view],
        "status_label": STATUS_LABELS.get(state.status, "any status"),
        "rows": rows[:LIST_LIMIT],
        "rows_truncated": len(rows) > LIST_LIMIT,
        "open_id": open_id,
    }


@dataclass
class Cycle:
    """One conversation of the customer's history, as the thread shows it."""

    conversation: Conversation
    messages: list[Message]
    current: bool
    expanded: bool
    linkable: bool


@dataclass
class Composer:
    mode: str = "reply"
    draft: str = ""
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    visibility: str = ""


def _panes_context(
    membership: Membership,
    state: ListState,
    conversation: Conversation,
    *,
    composer: Composer | None = None,
    error: DomainError | None = None,
) -> dict[str, Any]:
    organization = membership.organization
    thread = customer_thread(organization=organization, customer=conversation.customer)
    newest = thread[-1].pk if thread else None
    cycles = [
        Cycle(
            conversation=c,
            messages=list(c.messages.all()),
            current=c.pk == conversation.pk,
            expanded=c.pk in (conversation.pk, newest),
            linkable=access.can_see_conversation(membership, c),
        )
        for c in thread
    ]
    current = next((c for c in cycles if c.current), None)
    current_messages = current.messages if current else []
    last_id = max((m.pk for m in current_messages), default=0)
    conversation_mark_read(
        organization=organization,
        actor=membership,
        conversation=conversation,
        last_message_id=last_id,
    )
    current_sla_clocks(organization=organization, conversation=conversation)
    composer = composer or Composer()
    if not composer.visibility:
        composer.visibility = conversation.default_visibility
    capabilities = channel_capabilities(conversation.channel.kind)
    source = conversation.source if isinstance(conversation.source, dict) else {}
    referral = source.get("referral") if isinstance(source.get("referral"), dict) else None
    referral_data = (referral or {}).get("data")
    slug = organization.slug
    return {
        "conversation": conversation,
        "customer": conversation.customer,
        "cycles": cycles,
        "identities": list(
            customer_identities(organization=organization, customer=conversation.customer)
        ),
        "members": list(member_list(organization=organization)),
        "follow_ups": list(
            follow_up_list(
                organization=organization, conversation=conversation, include_closed=False
            )
        ),
        "window": window_view(conversation),
        "public_replies": capabilities.public_replies,
        "can_move_to_dm": capabilities.public_replies
        and conversation.default_visibility == Visibility.PUBLIC
        and conversation.channel.status != ChannelStatus.PAUSED,
        "referral": referral,
        "referral_link": http_url(referral_data.get("referer_uri"))
        if isinstance(referral_data, dict)
        else "",
        "priorities": Priority.choices,
        "composer": composer,
        "error": error,
        "conversation_url": _inbox_url(membership, state, conversation.pk),
        "messages_url": reverse("inbox-messages", args=[slug, conversation.pk]),
        "action_query": state.query(),
    }


def _base_context(request: HttpRequest, membership: Membership) -> dict[str, Any]:
    assert isinstance(request.user, User)  # noqa: S101  # the middleware requires a signed-in user
    return {
        "organization": membership.organization,
        "membership": membership,
        "memberships": access.memberships_of(user=request.user),
    }


def _render_panes(
    request: HttpRequest,
    membership: Membership,
    state: ListState,
    conversation: Conversation | None,
    *,
    status: int = 200,
    **kwargs: Any,
) -> HttpResponse:
    context = {"organization": membership.organization, "membership": membership}
    if conversation is not None:
        context.update(_panes_context(membership, state, conversation, **kwargs))
    return _page(render(request, "inbox/_panes.html", context, status=status))


def _render_page(
    request: HttpRequest,
    membership: Membership,
    state: ListState,
    conversation: Conversation | None,
    *,
    status: int = 200,
    **kwargs: Any,
) -> HttpResponse:
    context = _base_context(request, membership)
    context.update(_list_context(membership, state, conversation.pk if conversation else None))
    if conversation is not None:
        context.update(_panes_context(membership, state, conversation, **kwargs))
    return _page(render(request, "inbox/inbox.html", context, status=status))


# ---- pages and fragments -------------------------------------------------------------------


@never_cache
@require_GET
def inbox(request: HttpRequest, slug: str, conversation_id: int | None = None) -> HttpResponse:
    """The three-pane inbox; with a conversation id, that conversation open."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = (
        _conversation(membership, conversation_id) if conversation_id is not None else None
    )
    target = _htmx_target(request)
    if target == PANES:
        return _render_panes(request, membership, state, conversation)
    if target == LIST:
        context = {"organization": membership.organization, "membership": membership}
        context.update(_list_context(membership, state, conversation_id))
        return _page(render(request, "inbox/_list.html", context))
    return _render_page(request, membership, state, conversation)


@never_cache
@require_GET
def rows(request: HttpRequest, slug: str) -> HttpResponse:
    """The list's live part (view counts and rows) for the filters in the query string."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    open_id = _id(request.GET.get("open"))
    context = {"organization": membership.organization, "membership": membership}
    context.update(_list_context(membership, state, open_id))
    return render(request, "inbox/_list_refresh.html", context)


@never_cache
@require_GET
def row(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    """One list row, or 404 when the viewer may not list the conversation."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    pk = _id(conversation_id)
    conversation = (
        conversation_row(organization=membership.organization, viewer=membership, pk=pk)
        if pk
        else None
    )
    if conversation is None:
        raise Http404
    return render(
        request,
        "inbox/_row.html",
        {
            "organization": membership.organization,
            "membership": membership,
            "c": conversation,
            "list_query": state.query(),
            "open_id": None,
        },
    )


@never_cache
@require_GET
def thread_messages_after(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    """Messages of the open conversation stored after `?after=<message id>` (live updates);
    showing them moves the viewer's read marker."""
    membership = _membership(request)
    conversation = _conversation(membership, conversation_id)
    after = _id(request.GET.get("after")) or 0
    new = list(
        thread_messages(
            organization=membership.organization, conversation=conversation, after_id=after
        )
    )
    if new:
        conversation_mark_read(
            organization=membership.organization,
            actor=membership,
            conversation=conversation,
            last_message_id=max(m.pk for m in new),
        )
    return render(
        request,
        "inbox/_messages.html",
        {"organization": membership.organization, "conversation": conversation, "items": new},
    )


@never_cache
@require_GET
def thread_message(
    request: HttpRequest, slug: str, conversation_id: int, message_id: int
) -> HttpResponse:
    """One message as the thread shows it (its delivery ticks changed)."""
    membership = _membership(request)
    conversation = _conversation(membership, conversation_id)
    message = _message(membership, conversation, message_id)
    return render(
        request,
        "inbox/_message.html",
        {"organization": membership.organization, "conversation": conversation, "m": message},
    )


# ---- actions -------------------------------------------------------------------------------


def _after_write(
    request: HttpRequest,
    membership: Membership,
    state: ListState,
    conversation_id: int,
    *,
    composer: Composer | None = None,
) -> HttpResponseBase:
    """Show the result: the conversation again, or the list when it is no longer the viewer's
    to see (handed to a colleague). htmx gets the panes and the URL to show; a plain form
    post is redirected there."""
    try:
        conversation: Conversation | None = access.conversation_get(
            organization=membership.organization, pk=conversation_id, viewer=membership
        )
    except NotFoundError:
        conversation = None
    url = _inbox_url(membership, state, conversation.pk if conversation else None)
    if _htmx_target(request) is None:
        return HttpResponseRedirect(url, status=303)
    response = _render_panes(request, membership, state, conversation, composer=composer)
    response["HX-Replace-Url"] = url
    response["HX-Trigger"] = "parley:list-stale"
    return response


def _failed(
    request: HttpRequest,
    membership: Membership,
    state: ListState,
    conversation: Conversation,
    error: DomainError,
    *,
    composer: Composer | None = None,
) -> HttpResponse:
    render_ = _render_panes if _htmx_target(request) is not None else _render_page
    return render_(
        request,
        membership,
        state,
        conversation,
        status=_error_status(error),
        error=error,
        composer=composer,
    )


def _snooze_until(data: QueryDict, now: datetime) -> datetime:
    """A preset ("1h", "tomorrow" 9:00, "next_week": Monday 9:00, in the organization's time
    zone) or the `until` datetime-local field, read in that time zone."""
    zone = timezone.get_current_timezone()
    today = timezone.localtime(now).date()
    preset = data.get("preset") or ""
    if preset == "1h":
        return now + timedelta(hours=1)
    if preset == "tomorrow":
        return datetime.combine(today + timedelta(days=1), SNOOZE_HOUR, tzinfo=zone)
    if preset == "next_week":
        monday = today + timedelta(days=7 - today.weekday())
        return datetime.combine(monday, SNOOZE_HOUR, tzinfo=zone)
    return _local_datetime(data, "until", "Choose when the conversation should wake up.")


def _local_datetime(data: QueryDict, name: str, problem: str) -> datetime:
    """A datetime-local field, read in the organization's time zone."""
    raw = (data.get(name) or "").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidError(problem, field_errors={name: ["A date and time."]}) from None
    zone = timezone.get_current_timezone()
    return value if timezone.is_aware(value) else value.replace(tzinfo=zone)


def _member_id(raw: str | None) -> int:
    member_id = _id(raw)
    if member_id is None:
        raise InvalidError("Choose a colleague.", field_errors={"assignee": ["Required."]})
    return member_id


# Buttons that set fixed values, and what the agent is told afterwards.
_FIXED_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "unassign": ({"assignee_id": None}, "Back in the unassigned queue."),
    "pending": ({"status": ConversationStatus.PENDING}, "Waiting on the customer."),
    "resolve": ({"status": ConversationStatus.RESOLVED}, "Resolved."),
    "reopen": ({"status": ConversationStatus.OPEN}, "Reopened."),
}


def _changes(action: str, data: QueryDict, membership: Membership) -> tuple[dict[str, Any], str]:
    """The conversation_update arguments of a button, and what to tell the agent after."""
    if action in _FIXED_CHANGES:
        changes, done = _FIXED_CHANGES[action]
        return dict(changes), done
    if action == "assign_me":
        return {"assignee_id": membership.user_id}, "Assigned to you."
    if action == "assign":
        return {"assignee_id": _member_id(data.get("assignee"))}, "Assigned."
    if action == "priority":
        return {"priority": data.get("priority") or ""}, "Priority changed."
    if action == "snooze":
        until = _snooze_until(data, timezone.now())
        local = timezone.localtime(until)
        return (
            {"status": ConversationStatus.SNOOZED, "snoozed_until": until},
            f"Snoozed until {local:%a} {local.day} {local:%b %H:%M}.",
        )
    raise InvalidError("Unknown action.", field_errors={"action": ["Unknown."]})


@require_POST
def conversation_action(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponseBase:
    """Assign, unassign, prioritise, set pending, snooze, resolve or reopen (`action`)."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = _conversation(membership, conversation_id)
    try:
        changes, done = _changes(request.POST.get("action") or "", request.POST, membership)
        updated = conversation_update(
            organization=membership.organization,
            actor=membership,
            conversation=conversation,
            **changes,
        )
    except DomainError as error:
        return _failed(request, membership, state, conversation, error)
    if "assignee_id" in changes and updated.assignee is not None:
        done = (
            "Assigned to you."
            if updated.assignee_id == membership.user_id
            else f"Assigned to {updated.assignee.display_name}."
        )
    messages.success(request, done)
    return _after_write(request, membership, state, conversation.pk)


def _idempotency_key(data: QueryDict) -> str | None:
    key = (data.get("idempotency_key") or "").strip()
    return key[:MAX_KEY_LENGTH] or None


@require_POST
def reply(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponseBase:
    """Send a reply (`mode=reply`, the default) or add an internal note (`mode=note`).

    A repeated idempotency key (a double click, a retried request) returns the first message
    and sends nothing twice. On an error the draft is kept.
    """
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = _conversation(membership, conversation_id)
    text = request.POST.get("text") or ""
    mode = "note" if request.POST.get("mode") == "note" else "reply"
    key = _idempotency_key(request.POST)
    visibility = request.POST.get("visibility") or None
    try:
        if mode == "note":
            note_add(
                organization=membership.organization,
                actor=membership,
                conversation=conversation,
                text=text,
                idempotency_key=key,
            )
        else:
            message_send(
                organization=membership.organization,
                actor=membership,
                conversation=conversation,
                text=text,
                visibility=visibility,
                idempotency_key=key,
            )
    except DomainError as error:
        kept = Composer(
            mode=mode,
            draft=text,
            idempotency_key=key or str(uuid.uuid4()),
            visibility=visibility or "",
        )
        return _failed(request, membership, state, conversation, error, composer=kept)
    return _after_write(
        request,
        membership,
        state,
        conversation.pk,
        composer=Composer(mode=mode, visibility=visibility or ""),
    )


@require_POST
def move_to_dm(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponseBase:
    """Answer publicly with a link into a private conversation (channels with public posts)."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = _conversation(membership, conversation_id)
    try:
        conversation_move_to_dm(
            organization=membership.organization,
            actor=membership,
            conversation=conversation,
            idempotency_key=_idempotency_key(request.POST),
        )
    except DomainError as error:
        return _failed(request, membership, state, conversation, error)
    messages.success(request, "Invited the customer to a private conversation.")
    return _after_write(request, membership, state, conversation.pk)


@require_POST
def retry(
    request: HttpRequest, slug: str, conversation_id: int, message_id: int
) -> HttpResponseBase:
    """Queue a failed reply again."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = _conversation(membership, conversation_id)
    message = _message(membership, conversation, message_id)
    try:
        message_retry(organization=membership.organization, message=message)
    except DomainError as error:
        return _failed(request, membership, state, conversation, error)
    messages.success(request, "Sending again.")
    return _after_write(request, membership, state, conversation.pk)


@require_POST
def follow_up(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponseBase:
    """Schedule a follow-up: at `at` (organization time) the conversation reopens, comes back
    to the agent who set it, and shows `note`."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = _conversation(membership, conversation_id)
    try:
        at = _local_datetime(request.POST, "at", "Choose when to follow up.")
        follow_up_create(
            organization=membership.organization,
            actor=membership,
            conversation=conversation,
            at=at,
            note=request.POST.get("note") or "",
        )
    except DomainError as error:
        return _failed(request, membership, state, conversation, error)
    local = timezone.localtime(at)
    messages.success(request, f"Follow-up set for {local:%a} {local.day} {local:%b %H:%M}.")
    return _after_write(request, membership, state, conversation.pk)


@require_POST
def follow_up_cancel_view(
    request: HttpRequest, slug: str, conversation_id: int, follow_up_id: int
) -> HttpResponseBase:
    """Cancel a scheduled follow-up."""
    membership = _membership(request)
    state = ListState.from_query(request.GET, membership)
    conversation = _conversation(membership, conversation_id)
    if _id(follow_up_id) is None:
        raise Http404
    try:
        scheduled = access.follow_up_get(
            organization=membership.organization, conversation=conversation, pk=follow_up_id
        )
    except NotFoundError:
        raise Http404 from None
    try:
        follow_up_cancel(
            organization=membership.organization, actor=membership, follow_up=scheduled
        )
    except DomainError as error:
        return _failed(request, membership, state, conversation, error)
    messages.success(request, "Follow-up cancelled.")
    return _after_write(request, membership, state, conversation.pk)
