"""API endpoints. Each: validate input, call one service or selector, serialize the result."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox import access
from inbox.api import serializers as s
from inbox.api.authentication import TokenAuthentication
from inbox.api.base import TenantViewSet
from inbox.api.pagination import KeysetPagination
from inbox.api.tokens import token_for
from inbox.models import ConversationStatus, MessageKind, Role, User
from inbox.selectors.conversations import (
    ConversationFilters,
    ConversationOrder,
    SLAFilter,
    conversation_list,
    current_sla_clocks,
)
from inbox.selectors.directory import (
    channel_list,
    customer_detail,
    customer_list,
    member_list,
)
from inbox.selectors.messages import message_list
from inbox.selectors.sla import business_hours_list, follow_up_list, sla_policy_list
from inbox.services.channels import channel_create, channel_update
from inbox.services.conversations import UNSET, conversation_update
from inbox.services.customers import customer_update
from inbox.services.delivery import message_retry
from inbox.services.follow_ups import follow_up_cancel, follow_up_create
from inbox.services.messages import conversation_move_to_dm, message_send, note_add
from inbox.services.organizations import member_create, member_remove, member_set_role
from inbox.services.sla_settings import (
    ShiftInput,
    business_hours_delete,
    business_hours_save,
    organization_set_auto_resolve,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_update,
)


def _valid(serializer_class: type[Any], data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    validated: dict[str, Any] = serializer.validated_data
    return validated


class TokenView(APIView):
    """Exchange email and password for the user's API token."""

    authentication_classes: list[type[Any]] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        # Without a challenge DRF turns AuthenticationFailed into 403; wrong credentials are 401.
        return TokenAuthentication.keyword

    @extend_schema(request=s.TokenRequestSerializer, responses=s.TokenSerializer)
    def post(self, request: Request) -> Response:
        data = _valid(s.TokenRequestSerializer, request.data)
        user = authenticate(
            request._request, email=data["email"].lower(), password=data["password"]
        )
        if not isinstance(user, User) or not user.is_active:
            raise AuthenticationFailed("Wrong email or password.")
        return Response({"token": token_for(user)})


class ChannelViewSet(TenantViewSet):
    write_role = Role.ADMIN
    pagination = KeysetPagination(("id",))

    @extend_schema(responses=s.ChannelSerializer(many=True))
    def list(self, request: Request, slug: str) -> Response:
        rows, nxt, prev = self.pagination.paginate(
            channel_list(organization=self.organization), request
        )
        return self.pagination.response(
            request, list(s.ChannelSerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(request=s.ChannelCreateSerializer, responses={201: s.ChannelSerializer})
    def create(self, request: Request, slug: str) -> Response:
        data = _valid(s.ChannelCreateSerializer, request.data)
        channel = channel_create(organization=self.organization, **data)
        return Response(s.ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.ChannelSerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        channel = access.channel_get(organization=self.organization, pk=pk)
        return Response(s.ChannelSerializer(channel).data)

    @extend_schema(request=s.ChannelUpdateSerializer, responses=s.ChannelSerializer)
    def partial_update(self, request: Request, slug: str, pk: str) -> Response:
        channel = access.channel_get(organization=self.organization, pk=pk)
        data = _valid(s.ChannelUpdateSerializer, request.data, partial=True)
        channel = channel_update(organization=self.organization, channel=channel, **data)
        return Response(s.ChannelSerializer(channel).data)

    def update(self, request: Request, slug: str, pk: str) -> Response:
        return self.partial_update(request, slug, pk)


def _int_param(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["An id."]}) from None
    if value < 1:
        raise ValidationError({name: ["An id."]})
    return value


MAX_DUE_WITHIN = 7 * 24 * 60  # a week, in minutes
ORDERINGS: dict[str, ConversationOrder] = {
    "": "recent",
    "-last_message_at": "recent",
    "sla_due_at": "sla_due",
}


def _sla_filter(params: Any) -> tuple[SLAFilter, int]:
    raw = (params.get("sla") or "").strip()
    if not raw:
        return "", 0
    if raw in ("breached", "warning"):
        return ("breached" if raw == "breached" else "warning"), 0
    kind, _, minutes = raw.partition(":")
    if kind == "due_within" and minutes.isdigit() and 1 <= int(minutes) <= MAX_DUE_WITHIN:
        return "due_within", int(minutes)
    raise ValidationError(
        {"sla": [f"breached, warning or due_within:<minutes, 1 to {MAX_DUE_WITHIN}>."]}
    )


def _ordering(params: Any) -> ConversationOrder:
    raw = params.get("ordering") or ""
    if raw not in ORDERINGS:
        raise ValidationError({"ordering": ["-last_message_at (the default) or sla_due_at."]})
    return ORDERINGS[raw]


def _conversation_filters(params: Any) -> ConversationFilters:
    statuses = tuple(v for raw in params.getlist("status") for v in raw.split(",") if v)
    unknown = [v for v in statuses if v not in ConversationStatus.values]
    if unknown:
        raise ValidationError({"status": [f"Unknown: {', '.join(unknown)}."]})
    assignee_raw = params.get("assignee")
    assignee: str | int | None = None
    if assignee_raw in ("me", "unassigned"):
        assignee = assignee_raw
    elif assignee_raw not in (None, ""):
        assignee = _int_param(params, "assignee")
    sla, sla_minutes = _sla_filter(params)
    return ConversationFilters(
        statuses=statuses,
        assignee=assignee,
        channel_id=_int_param(params, "channel"),
        customer_id=_int_param(params, "customer"),
        q=(params.get("q") or "").strip()[:200],
        order=_ordering(params),
        sla=sla,
        sla_minutes=sla_minutes,
    )


class ConversationViewSet(TenantViewSet):
    pagination = KeysetPagination(("-last_message_at", "-id"))
    # The next SLA deadline first; conversations without one (nothing owed) last.
    sla_pagination = KeysetPagination(("sla_due_at", "id"), nulls_last=True)

    def _detail(self, conversation: Any) -> Response:
        current_sla_clocks(organization=self.organization, conversation=conversation)
        return Response(s.ConversationSerializer(conversation).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, description="open|pending|snoozed|resolved, comma-separated"
            ),
            OpenApiParameter("assignee", str, description="me | unassigned | a user id"),
            OpenApiParameter("channel", int),
            OpenApiParameter("customer", int),
            OpenApiParameter("q", str, description="Search customer names and message text"),
            OpenApiParameter(
                "sla",
                str,
                description="breached | warning | due_within:<minutes> (a deadline not yet "
                "breached within that many minutes)",
            ),
            OpenApiParameter(
                "ordering",
                str,
                description="-last_message_at (default) | sla_due_at (next SLA deadline "
                "first, overdue on top, none last)",
            ),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses=s.ConversationSerializer(many=True),
    )
    def list(self, request: Request, slug: str) -> Response:
        filters = _conversation_filters(request.query_params)
        queryset = conversation_list(
            organization=self.organization, viewer=self.membership, filters=filters
        )
        pagination = self.sla_pagination if filters.order == "sla_due" else self.pagination
        rows, nxt, prev = pagination.paginate(queryset, request)
        data = s.ConversationSerializer(rows, many=True).data
        return pagination.response(request, list(data), nxt, prev)

    @extend_schema(responses=s.ConversationSerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        conversation = access.conversation_get(
            organization=self.organization, pk=pk, viewer=self.membership
        )
        return self._detail(conversation)

    @extend_schema(request=s.ConversationUpdateSerializer, responses=s.ConversationSerializer)
    def partial_update(self, request: Request, slug: str, pk: str) -> Response:
        conversation = access.conversation_get(
            organization=self.organization, pk=pk, viewer=self.membership
        )
        data = _valid(s.ConversationUpdateSerializer, request.data, partial=True)
        conversation = conversation_update(
            organization=self.organization,
            actor=self.membership,
            conversation=conversation,
            status=data.get("status", UNSET),
            snoozed_until=data.get("snoozed_until", UNSET),
            assignee_id=data.get("assignee_id", UNSET),
            priority=data.get("priority", UNSET),
        )
        return self._detail(conversation)

    def update(self, request: Request, slug: str, pk: str) -> Response:
        return self.partial_update(request, slug, pk)

    @extend_schema(request=s.MoveToDMSerializer, responses={201: s.MessageSerializer})
    def move_to_dm(self, request: Request, slug: str, pk: str) -> Response:
        """Reply publicly with a link that opens a DM, and make the thread private from now on."""
        conversation = access.conversation_get(
            organization=self.organization, pk=pk, viewer=self.membership
        )
        data = _valid(s.MoveToDMSerializer, request.data)
        message, _ = conversation_move_to_dm(
            organization=self.organization,
            actor=self.membership,
            conversation=conversation,
            text=data.get("text") or "",
            idempotency_key=data.get("idempotency_key") or None,
        )
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class MessageViewSet(TenantViewSet):
    pagination = KeysetPagination(("sent_at", "id"))

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses=s.MessageSerializer(many=True),
    )
    def list(self, request: Request, slug: str, conversation_pk: str) -> Response:
        conversation = access.conversation_get(
            organization=self.organization, pk=conversation_pk, viewer=self.membership
        )
        queryset = message_list(organization=self.organization, conversation=conversation)
        rows, nxt, prev = self.pagination.paginate(queryset, request)
        return self.pagination.response(
            request, list(s.MessageSerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(request=s.MessageCreateSerializer, responses={201: s.MessageSerializer})
    def create(self, request: Request, slug: str, conversation_pk: str) -> Response:
        conversation = access.conversation_get(
            organization=self.organization, pk=conversation_pk, viewer=self.membership
        )
        data = _valid(s.MessageCreateSerializer, request.data)
        key = data.get("idempotency_key") or None
        if data["kind"] == MessageKind.NOTE:
            message, _ = note_add(
                organization=self.organization,
                actor=self.membership,
                conversation=conversation,
                text=data["text"],
                idempotency_key=key,
            )
        else:
            message, _ = message_send(
                organization=self.organization,
                actor=self.membership,
                conversation=conversation,
                text=data["text"],
                visibility=data.get("visibility"),
                idempotency_key=key,
            )
        # A replayed idempotency key answers exactly like the first request did.
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.MessageSerializer)
    def retry(self, request: Request, slug: str, conversation_pk: str, pk: str) -> Response:
        """Queue a failed reply again."""
        conversation = access.conversation_get(
            organization=self.organization, pk=conversation_pk, viewer=self.membership
        )
        message = access.message_get(
            organization=self.organization, conversation=conversation, pk=pk
        )
        message = message_retry(organization=self.organization, message=message)
        return Response(s.MessageSerializer(message).data)


class CustomerViewSet(TenantViewSet):
    pagination = KeysetPagination(("-id",))

    @extend_schema(
        parameters=[OpenApiParameter("q", str), OpenApiParameter("cursor", str)],
        responses=s.CustomerSerializer(many=True),
    )
    def list(self, request: Request, slug: str) -> Response:
        queryset = customer_list(
            organization=self.organization, q=(request.query_params.get("q") or "").strip()
        )
        rows, nxt, prev = self.pagination.paginate(queryset, request)
        return self.pagination.response(
            request, list(s.CustomerSerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(responses=s.CustomerDetailSerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        customer = access.customer_get(organization=self.organization, pk=pk)
        detail = customer_detail(
            organization=self.organization, customer=customer, viewer=self.membership
        )
        return Response(s.CustomerDetailSerializer(detail).data)

    @extend_schema(request=s.CustomerUpdateSerializer, responses=s.CustomerDetailSerializer)
    def partial_update(self, request: Request, slug: str, pk: str) -> Response:
        customer = access.customer_get(organization=self.organization, pk=pk)
        data = _valid(s.CustomerUpdateSerializer, request.data, partial=True)
        customer_update(organization=self.organization, customer=customer, **data)
        detail = customer_detail(
            organization=self.organization, customer=customer, viewer=self.membership
        )
        return Response(s.CustomerDetailSerializer(detail).data)


class MemberViewSet(TenantViewSet):
    write_role = Role.ADMIN
    pagination = KeysetPagination(("id",))

    @extend_schema(responses=s.MemberSerializer(many=True))
    def list(self, request: Request, slug: str) -> Response:
        rows, nxt, prev = self.pagination.paginate(
            member_list(organization=self.organization), request
        )
        return self.pagination.response(
            request, list(s.MemberSerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(request=s.MemberCreateSerializer, responses={201: s.MemberSerializer})
    def create(self, request: Request, slug: str) -> Response:
        data = _valid(s.MemberCreateSerializer, request.data)
        membership = member_create(organization=self.organization, **data)
        return Response(s.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.MemberSerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        membership = access.member_get(organization=self.organization, user_id=pk)
        return Response(s.MemberSerializer(membership).data)

    @extend_schema(request=s.MemberUpdateSerializer, responses=s.MemberSerializer)
    def partial_update(self, request: Request, slug: str, pk: str) -> Response:
        membership = access.member_get(organization=self.organization, user_id=pk)
        data = _valid(s.MemberUpdateSerializer, request.data)
        membership = member_set_role(
            organization=self.organization,
            actor=self.membership,
            membership=membership,
            role=data["role"],
        )
        return Response(s.MemberSerializer(membership).data)

    def destroy(self, request: Request, slug: str, pk: str) -> Response:
        membership = access.member_get(organization=self.organization, user_id=pk)
        member_remove(organization=self.organization, actor=self.membership, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowUpViewSet(TenantViewSet):
    """Follow-ups of a conversation the member may see."""

    pagination = KeysetPagination(("at", "id"))

    def _conversation(self, conversation_pk: str) -> Any:
        return access.conversation_get(
            organization=self.organization, pk=conversation_pk, viewer=self.membership
        )

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses=s.FollowUpSerializer(many=True),
    )
    def list(self, request: Request, slug: str, conversation_pk: str) -> Response:
        conversation = self._conversation(conversation_pk)
        queryset = follow_up_list(organization=self.organization, conversation=conversation)
        rows, nxt, prev = self.pagination.paginate(queryset, request)
        return self.pagination.response(
            request, list(s.FollowUpSerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(request=s.FollowUpCreateSerializer, responses={201: s.FollowUpSerializer})
    def create(self, request: Request, slug: str, conversation_pk: str) -> Response:
        """Check on the conversation at `at`: it reopens then, comes back to you if you are
        still a member, and shows `note` as an internal note."""
        conversation = self._conversation(conversation_pk)
        data = _valid(s.FollowUpCreateSerializer, request.data)
        follow_up = follow_up_create(
            organization=self.organization,
            actor=self.membership,
            conversation=conversation,
            at=data["at"],
            note=data["note"],
        )
        return Response(s.FollowUpSerializer(follow_up).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, slug: str, conversation_pk: str, pk: str) -> Response:
        """Cancel a scheduled follow-up (409 when it already happened)."""
        conversation = self._conversation(conversation_pk)
        follow_up = access.follow_up_get(
            organization=self.organization, conversation=conversation, pk=pk
        )
        follow_up_cancel(organization=self.organization, actor=self.membership, follow_up=follow_up)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SLAPolicyViewSet(TenantViewSet):
    """SLA policies: every member reads them, admins change them."""

    write_role = Role.ADMIN
    pagination = KeysetPagination(("position", "id"))

    @extend_schema(responses=s.SLAPolicySerializer(many=True))
    def list(self, request: Request, slug: str) -> Response:
        rows, nxt, prev = self.pagination.paginate(
            sla_policy_list(organization=self.organization), request
        )
        return self.pagination.response(
            request, list(s.SLAPolicySerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(request=s.SLAPolicyInputSerializer, responses={201: s.SLAPolicySerializer})
    def create(self, request: Request, slug: str) -> Response:
        data = _valid(s.SLAPolicyInputSerializer, request.data)
        policy = sla_policy_create(organization=self.organization, actor=self.membership, **data)
        return Response(s.SLAPolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.SLAPolicySerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        policy = access.sla_policy_get(organization=self.organization, pk=pk)
        return Response(s.SLAPolicySerializer(policy).data)

    @extend_schema(request=s.SLAPolicyInputSerializer, responses=s.SLAPolicySerializer)
    def partial_update(self, request: Request, slug: str, pk: str) -> Response:
        policy = access.sla_policy_get(organization=self.organization, pk=pk)
        data = _valid(s.SLAPolicyInputSerializer, request.data, partial=True)
        policy = sla_policy_update(
            organization=self.organization,
            actor=self.membership,
            policy=policy,
            **data,
        )
        return Response(s.SLAPolicySerializer(policy).data)

    @extend_schema(request=s.SLAPolicyInputSerializer, responses=s.SLAPolicySerializer)
    def update(self, request: Request, slug: str, pk: str) -> Response:
        return self.partial_update(request, slug, pk)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, slug: str, pk: str) -> Response:
        """Delete a policy (409 for the default one)."""
        policy = access.sla_policy_get(organization=self.organization, pk=pk)
        sla_policy_delete(organization=self.organization, actor=self.membership, policy=policy)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _shifts(data: dict[str, Any]) -> list[ShiftInput]:
    return [ShiftInput(s["weekday"], s["start"], s["end"]) for s in data["shifts"]]


class BusinessHoursViewSet(TenantViewSet):
    """Working weeks: the organization's (`channel` null) and per channel; admins change them."""

    write_role = Role.ADMIN
    pagination = KeysetPagination(("id",))

    @extend_schema(responses=s.BusinessHoursSerializer(many=True))
    def list(self, request: Request, slug: str) -> Response:
        rows, nxt, prev = self.pagination.paginate(
            business_hours_list(organization=self.organization), request
        )
        return self.pagination.response(
            request, list(s.BusinessHoursSerializer(rows, many=True).data), nxt, prev
        )

    @extend_schema(
        request=s.BusinessHoursInputSerializer, responses={201: s.BusinessHoursSerializer}
    )
    def create(self, request: Request, slug: str) -> Response:
        data = _valid(s.BusinessHoursInputSerializer, request.data)
        hours = business_hours_save(
            organization=self.organization,
            actor=self.membership,
            channel_id=data["channel"],
            time_zone=data["time_zone"],
            shifts=_shifts(data),
            holidays=data["holidays"],
        )
        return Response(s.BusinessHoursSerializer(hours).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.BusinessHoursSerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        hours = access.business_hours_get(organization=self.organization, pk=pk)
        return Response(s.BusinessHoursSerializer(hours).data)

    @extend_schema(request=s.BusinessHoursInputSerializer, responses=s.BusinessHoursSerializer)
    def partial_update(self, request: Request, slug: str, pk: str) -> Response:
        """Replace the working week; fields left out keep their value."""
        hours = access.business_hours_get(organization=self.organization, pk=pk)
        data = _valid(s.BusinessHoursInputSerializer, request.data, partial=True)
        current = hours.schedule or {}
        shifts = (
            _shifts(data)
            if "shifts" in data
            else [
                ShiftInput(
                    int(x["weekday"]), time.fromisoformat(x["start"]), time.fromisoformat(x["end"])
                )
                for x in current.get("shifts", [])
            ]
        )
        holidays = (
            data["holidays"]
            if "holidays" in data
            else [date.fromisoformat(d) for d in current.get("holidays", [])]
        )
        hours = business_hours_save(
            organization=self.organization,
            actor=self.membership,
            channel_id=data.get("channel", hours.channel_id),
            time_zone=data.get("time_zone", hours.time_zone),
            shifts=shifts,
            holidays=holidays,
            hours=hours,
        )
        return Response(s.BusinessHoursSerializer(hours).data)

    @extend_schema(request=s.BusinessHoursInputSerializer, responses=s.BusinessHoursSerializer)
    def update(self, request: Request, slug: str, pk: str) -> Response:
        return self.partial_update(request, slug, pk)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, slug: str, pk: str) -> Response:
        hours = access.business_hours_get(organization=self.organization, pk=pk)
        business_hours_delete(organization=self.organization, actor=self.membership, hours=hours)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AutoResolveViewSet(TenantViewSet):
    """Auto-resolve of long-pending conversations: members read it, admins set it."""

    write_role = Role.ADMIN

    @extend_schema(responses=s.AutoResolveSerializer)
    def retrieve(self, request: Request, slug: str) -> Response:
        return Response(s.AutoResolveSerializer(self.organization).data)

    @extend_schema(request=s.AutoResolveInputSerializer, responses=s.AutoResolveSerializer)
    def partial_update(self, request: Request, slug: str) -> Response:
        """`after_days`: resolve conversations pending that many days (null: never);
        `message`: sent first when the reply window is open (empty: none)."""
        data = _valid(s.AutoResolveInputSerializer, request.data, partial=True)
        organization = organization_set_auto_resolve(
            organization=self.organization,
            actor=self.membership,
            after_days=data.get("after_days", UNSET),
            message=data.get("message", UNSET),
        )
        return Response(s.AutoResolveSerializer(organization).data)

    @extend_schema(request=s.AutoResolveInputSerializer, responses=s.AutoResolveSerializer)
    def update(self, request: Request, slug: str) -> Response:
        return self.partial_update(request, slug)
