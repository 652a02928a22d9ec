"""API endpoints. Each: validate input, call one service or selector, serialize the result."""

from __future__ import annotations

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
from inbox.selectors.conversations import ConversationFilters, conversation_list
from inbox.selectors.directory import (
    channel_list,
    customer_detail,
    customer_list,
    member_list,
)
from inbox.selectors.messages import message_list
from inbox.services.channels import channel_create, channel_update
from inbox.services.conversations import UNSET, conversation_update
from inbox.services.customers import customer_update
from inbox.services.delivery import message_retry
from inbox.services.messages import conversation_move_to_dm, message_send, note_add
from inbox.services.organizations import member_create, member_remove, member_set_role


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
    return ConversationFilters(
        statuses=statuses,
        assignee=assignee,
        channel_id=_int_param(params, "channel"),
        customer_id=_int_param(params, "customer"),
        q=(params.get("q") or "").strip()[:200],
    )


class ConversationViewSet(TenantViewSet):
    pagination = KeysetPagination(("-last_message_at", "-id"))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, description="open|pending|snoozed|resolved, comma-separated"
            ),
            OpenApiParameter("assignee", str, description="me | unassigned | a user id"),
            OpenApiParameter("channel", int),
            OpenApiParameter("customer", int),
            OpenApiParameter("q", str, description="Search customer names and message text"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses=s.ConversationSerializer(many=True),
    )
    def list(self, request: Request, slug: str) -> Response:
        queryset = conversation_list(
            organization=self.organization,
            viewer=self.membership,
            filters=_conversation_filters(request.query_params),
        )
        rows, nxt, prev = self.pagination.paginate(queryset, request)
        data = s.ConversationSerializer(rows, many=True).data
        return self.pagination.response(request, list(data), nxt, prev)

    @extend_schema(responses=s.ConversationSerializer)
    def retrieve(self, request: Request, slug: str, pk: str) -> Response:
        conversation = access.conversation_get(
            organization=self.organization, pk=pk, viewer=self.membership
        )
        return Response(s.ConversationSerializer(conversation).data)

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
        return Response(s.ConversationSerializer(conversation).data)

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
