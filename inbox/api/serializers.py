"""Input and output shapes of the API. Outputs read only what selectors loaded (no queries)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from inbox.models import (
    BusinessHours,
    Channel,
    ChannelKind,
    ChannelStatus,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    FollowUp,
    Membership,
    Message,
    MessageKind,
    Organization,
    Priority,
    Role,
    SLAClock,
    SLAEscalation,
    SLAPolicy,
    Visibility,
)
from inbox.services.messages import reply_window

# ---- outputs -------------------------------------------------------------------------------


class ChannelSubscriptionSerializer(serializers.ModelSerializer[Channel]):
    """Whether the platform sends the channel's events to Parley, as last checked."""

    status = serializers.CharField(source="subscription_status")
    checked_at = serializers.DateTimeField(source="subscription_checked_at")
    error = serializers.CharField(source="subscription_error")

    class Meta:
        model = Channel
        fields = ["status", "checked_at", "error"]


class ChannelSerializer(serializers.ModelSerializer[Channel]):
    """A channel as clients see it: never any credential value, only which ones are set."""

    credentials_set = serializers.SerializerMethodField()
    subscription = ChannelSubscriptionSerializer(source="*", read_only=True)

    class Meta:
        model = Channel
        fields = [
            "id",
            "kind",
            "name",
            "external_id",
            "settings",
            "status",
            "last_event_at",
            "created_at",
            "credentials_set",
            "subscription",
        ]

    def get_credentials_set(self, channel: Channel) -> list[str]:
        return sorted(channel.credentials or {})


class ChannelRefSerializer(serializers.ModelSerializer[Channel]):
    class Meta:
        model = Channel
        fields = ["id", "kind", "name"]


class CustomerRefSerializer(serializers.ModelSerializer[Customer]):
    class Meta:
        model = Customer
        fields = ["id", "display_name", "avatar_url"]


class WindowSerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=["open", "human_agent", "closed"])
    closes_at = serializers.DateTimeField(allow_null=True)


class SLAClockSerializer(serializers.ModelSerializer[SLAClock]):
    """One clock of the current cycle. `due_at` is null while paused; a met clock keeps the
    deadline it met."""

    policy = serializers.IntegerField(source="policy_id", allow_null=True)

    class Meta:
        model = SLAClock
        fields = ["metric", "due_at", "state", "policy"]


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    customer = CustomerRefSerializer()
    channel = ChannelRefSerializer()
    assignee = serializers.IntegerField(source="assignee_id", allow_null=True)
    last_message = serializers.CharField(source="last_message_preview")
    window = serializers.SerializerMethodField()
    # Loaded by the selector (conversation_list's prefetch, or current_sla_clocks).
    sla = SLAClockSerializer(source="current_sla_clocks", many=True, read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "number",
            "status",
            "priority",
            "assignee",
            "customer",
            "channel",
            "last_message",
            "last_message_at",
            "last_inbound_at",
            "waiting_since",
            "snoozed_until",
            "first_response_at",
            "resolved_at",
            "default_visibility",
            "source",
            "created_at",
            "window",
            "sla",
            "sla_due_at",
        ]

    def get_window(self, conversation: Conversation) -> dict[str, Any]:
        window = reply_window(conversation)
        return {"state": window.state, "closes_at": window.closes_at}


class MessageSerializer(serializers.ModelSerializer[Message]):
    author = serializers.IntegerField(source="author_id", allow_null=True)
    conversation = serializers.IntegerField(source="conversation_id")

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "kind",
            "visibility",
            "text",
            "attachments",
            "status",
            "failure_code",
            "failure_reason",
            "external_id",
            "author",
            "sent_outside",
            "sent_at",
            "created_at",
            "deleted_at",
        ]


class IdentitySerializer(serializers.ModelSerializer[CustomerIdentity]):
    channel = ChannelRefSerializer()

    class Meta:
        model = CustomerIdentity
        fields = ["id", "channel", "platform_user_id", "screen_name", "profile"]


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    identities = IdentitySerializer(many=True)

    class Meta:
        model = Customer
        fields = ["id", "display_name", "avatar_url", "notes", "tier", "identities", "created_at"]


class CustomerConversationSerializer(serializers.ModelSerializer[Conversation]):
    channel = ChannelRefSerializer()
    last_message = serializers.CharField(source="last_message_preview")

    class Meta:
        model = Conversation
        fields = ["id", "number", "status", "channel", "last_message", "last_message_at"]


class CustomerDetailSerializer(CustomerSerializer):
    conversations = CustomerConversationSerializer(many=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "conversations"]


class MemberSerializer(serializers.ModelSerializer[Membership]):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role"]


class SLAPolicySerializer(serializers.ModelSerializer[SLAPolicy]):
    channel = serializers.IntegerField(source="channel_id", allow_null=True)

    class Meta:
        model = SLAPolicy
        fields = [
            "id",
            "name",
            "is_default",
            "position",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "warning_percent",
            "use_business_hours",
            "escalation",
            "channel",
            "priorities",
            "tiers",
            "active_from",
            "active_until",
            "created_at",
        ]


class ShiftSerializer(serializers.Serializer[Any]):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 is Monday")
    start = serializers.TimeField(format="%H:%M")
    end = serializers.TimeField(format="%H:%M", help_text="Before `start`: past midnight")


class BusinessHoursSerializer(serializers.ModelSerializer[BusinessHours]):
    channel = serializers.IntegerField(source="channel_id", allow_null=True)
    shifts = serializers.SerializerMethodField()
    holidays = serializers.SerializerMethodField()

    class Meta:
        model = BusinessHours
        fields = ["id", "channel", "time_zone", "shifts", "holidays", "updated_at"]

    def get_shifts(self, hours: BusinessHours) -> list[dict[str, Any]]:
        return list((hours.schedule or {}).get("shifts", []))

    def get_holidays(self, hours: BusinessHours) -> list[str]:
        return list((hours.schedule or {}).get("holidays", []))


class FollowUpSerializer(serializers.ModelSerializer[FollowUp]):
    conversation = serializers.IntegerField(source="conversation_id")
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    assign_back_to = serializers.IntegerField(source="assign_back_to_id", allow_null=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "conversation",
            "at",
            "note",
            "state",
            "created_by",
            "assign_back_to",
            "created_at",
            "done_at",
            "cancelled_at",
        ]

    def get_state(self, follow_up: FollowUp) -> str:
        if follow_up.cancelled_at is not None:
            return "cancelled"
        return "done" if follow_up.done_at is not None else "scheduled"


class AutoResolveSerializer(serializers.ModelSerializer[Organization]):
    after_days = serializers.IntegerField(source="auto_resolve_after_days", allow_null=True)
    message = serializers.CharField(source="auto_resolve_message")

    class Meta:
        model = Organization
        fields = ["after_days", "message"]


# ---- inputs --------------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False)


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()


class ChannelCreateSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField(max_length=200, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=64)
    credentials = serializers.DictField()
    settings = serializers.DictField(required=False, default=dict)


class ChannelUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    credentials = serializers.DictField(required=False)
    settings = serializers.DictField(required=False)
    status = serializers.ChoiceField(choices=ChannelStatus.choices, required=False)


class ConversationUpdateSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ConversationStatus.choices, required=False)
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True)
    assignee_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)


class MessageCreateSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(trim_whitespace=False, max_length=20_000)
    kind = serializers.ChoiceField(choices=MessageKind.choices, default=MessageKind.MESSAGE)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    idempotency_key = serializers.CharField(max_length=255, required=False, allow_null=True)


class MoveToDMSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(required=False, allow_blank=True, max_length=280)
    idempotency_key = serializers.CharField(max_length=255, required=False, allow_null=True)


class CustomerUpdateSerializer(serializers.Serializer[Any]):
    display_name = serializers.CharField(max_length=200, required=False)
    notes = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    tier = serializers.CharField(max_length=32, allow_blank=True, required=False)


class MemberCreateSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    password = serializers.CharField(required=False, trim_whitespace=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.AGENT)


class MemberUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class SLAPolicyInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    is_default = serializers.BooleanField(required=False)
    position = serializers.IntegerField(min_value=0, required=False)
    first_response_minutes = serializers.IntegerField(min_value=1)
    next_response_minutes = serializers.IntegerField(min_value=1)
    resolution_minutes = serializers.IntegerField(min_value=1)
    warning_percent = serializers.IntegerField(min_value=1, max_value=100, required=False)
    use_business_hours = serializers.BooleanField(required=False)
    escalation = serializers.ChoiceField(choices=SLAEscalation.choices, required=False)
    channel = serializers.IntegerField(min_value=1, allow_null=True, required=False)
    priorities = serializers.ListField(
        child=serializers.ChoiceField(choices=Priority.choices), required=False
    )
    tiers = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=50
    )
    active_from = serializers.TimeField(allow_null=True, required=False)
    active_until = serializers.TimeField(allow_null=True, required=False)


class BusinessHoursInputSerializer(serializers.Serializer[Any]):
    channel = serializers.IntegerField(min_value=1, allow_null=True, required=False, default=None)
    time_zone = serializers.CharField(max_length=64)
    shifts = ShiftSerializer(many=True)
    holidays = serializers.ListField(child=serializers.DateField(), required=False, default=list)


class FollowUpCreateSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    note = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, default="", trim_whitespace=False
    )


class AutoResolveInputSerializer(serializers.Serializer[Any]):
    after_days = serializers.IntegerField(
        min_value=1, max_value=365, allow_null=True, required=False
    )
    message = serializers.CharField(max_length=2000, allow_blank=True, required=False)
