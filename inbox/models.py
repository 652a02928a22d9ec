"""Parley's data: tenants, people, channels, customers, conversations, messages, raw webhooks.

Data and constraints only (shared/STYLE.md): behaviour lives in services/ and selectors/.
Every tenant-owned row carries `organization`; its default manager is fail-closed
(inbox.tenancy.TenantManager) and `all_tenants` is the explicit cross-tenant escape hatch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone

from inbox.fields import EncryptedJSONField
from inbox.tenancy import AllTenantsManager, TenantManager


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address; may belong to several organizations."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@", 1)[0]


class Organization(models.Model):
    """A tenant: one brand with its channels, people and conversations."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC")
    # Source of the per-organization conversation number; bumped under a row lock.
    last_conversation_number = models.PositiveIntegerField(default=0)
    # Optional: resolve conversations left pending this many days (None: never).
    auto_resolve_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    auto_resolve_message = models.TextField(
        blank=True, help_text="Sent when a pending conversation is auto-resolved, window allowing"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_resolve_after_days__isnull=True)
                | Q(auto_resolve_after_days__gte=1),
                name="organization_auto_resolve_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


ROLE_RANK: dict[str, int] = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


class Membership(models.Model):
    """A user's role in one organization. Roles are cumulative: admin ⊇ supervisor ⊇ agent."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager["Membership"]()
    all_tenants = AllTenantsManager["Membership"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.organization_id}:{self.role}"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class ChannelKind(models.TextChoices):
    MESSENGER = "messenger"
    TWITTER = "twitter"


class ChannelStatus(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"
    ERROR = "error"


class SubscriptionStatus(models.TextChoices):
    """Whether the platform sends this channel's events to our webhook (checked by a job)."""

    PENDING = "pending"  # not checked yet
    SUBSCRIBED = "subscribed"
    FAILED = "failed"  # the last check or subscribe call failed: tried again later
    NOT_CONFIGURED = "not_configured"  # X without TWITTER_WEBHOOK_ID: subscribed by hand


class Channel(models.Model):
    """A connected Messenger page or X account. Its platform id maps to exactly one tenant."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=64, help_text="Page id or X user id")
    credentials = EncryptedJSONField(default=dict)
    settings = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=ChannelStatus.choices, default=ChannelStatus.ACTIVE
    )
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    subscription_status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING
    )
    subscription_checked_at = models.DateTimeField(null=True, blank=True)
    subscription_error = models.TextField(blank=True)
    # When the job looks again (None: as soon as it can). Claiming a check moves it a lease
    # ahead; new credentials or a resumed channel set it back to None.
    subscription_next_check_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["Channel"]()
    all_tenants = AllTenantsManager["Channel"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "external_id"], name="channel_unique_platform_id"
            ),
        ]
        indexes = [models.Index(fields=["organization", "kind"], name="channel_org_kind")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class Customer(models.Model):
    """A person writing to the brand, possibly on several channels."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    display_name = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    notes = models.TextField(blank=True)
    tier = models.CharField(max_length=32, blank=True, help_text="Loyalty tier, for SLA policies")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager["Customer"]()
    all_tenants = AllTenantsManager["Customer"]()

    class Meta:
        indexes = [models.Index(fields=["organization", "display_name"], name="customer_org_name")]

    def __str__(self) -> str:
        return self.display_name or f"customer {self.pk}"


class CustomerIdentity(models.Model):
    """Who the customer is on one channel: the platform user id (PSID or X user id)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="identities")
    platform_user_id = models.CharField(max_length=64)
    screen_name = models.CharField(max_length=100, blank=True)
    profile = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager["CustomerIdentity"]()
    all_tenants = AllTenantsManager["CustomerIdentity"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "platform_user_id"], name="identity_unique_per_channel"
            ),
        ]
        indexes = [models.Index(fields=["organization", "customer"], name="identity_org_customer")]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.platform_user_id}"


class ConversationStatus(models.TextChoices):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Priority(models.TextChoices):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"


class Conversation(models.Model):
    """One cycle of a customer's thread on one channel, from first message to resolution."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    number = models.PositiveIntegerField(help_text="Per-organization display number")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned"
    )
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    default_visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    last_message_at = models.DateTimeField(default=timezone.now)
    last_message_preview = models.CharField(max_length=280, blank=True)
    last_inbound_at = models.DateTimeField(
        null=True, blank=True, help_text="Platform time of the customer's last action"
    )
    waiting_since = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The SLA of the current cycle, summarised from its clocks (inbox.services.sla): the policy,
    # the cycle number (0: no clock ever started), the earliest deadline still owed (running,
    # warning or breached clocks) and the most urgent state.
    sla_policy = models.ForeignKey(
        "SLAPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_cycle = models.PositiveIntegerField(default=0)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(max_length=8, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)
    # pending_since plus the organization's auto-resolve delay, while pending (the sweep's key).
    auto_resolve_at = models.DateTimeField(null=True, blank=True)
    source = models.JSONField(default=dict, blank=True, help_text="Referral / Message-us origin")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager["Conversation"]()
    all_tenants = AllTenantsManager["Conversation"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="conversation_unique_number"
            ),
            models.UniqueConstraint(
                fields=["customer", "channel"],
                condition=~Q(status="resolved"),
                name="conversation_one_unresolved_per_customer_channel",
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="conversation_snoozed_has_deadline",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "-last_message_at", "-id"],
                name="conversation_org_status_recent",
            ),
            models.Index(
                fields=["organization", "assignee", "status", "-last_message_at", "-id"],
                name="conversation_org_assignee",
            ),
            # "Mine" across statuses: without it the list reads and sorts the agent's whole
            # history (resolved included) for every page.
            models.Index(
                fields=["organization", "assignee", "-last_message_at", "-id"],
                name="conversation_assignee_recent",
            ),
            models.Index(
                fields=["organization", "-last_message_at", "-id"], name="conversation_org_recent"
            ),
            models.Index(fields=["organization", "customer"], name="conversation_org_customer"),
            models.Index(
                fields=["organization", "channel", "-last_message_at"],
                name="conversation_org_channel",
            ),
            # "Next SLA deadline first" (ordering=sla_due_at) and the due-within filter.
            models.Index(
                fields=["organization", "sla_due_at", "id"], name="conversation_org_sla_due"
            ),
            # The sla=breached|warning filters: few rows, newest activity first.
            models.Index(
                fields=["organization", "sla_state", "-last_message_at", "-id"],
                condition=Q(sla_state__in=["warning", "breached"]),
                name="conversation_org_sla_attention",
            ),
            # Sweep indexes (all tenants at once, partial, so they hold only what can come due):
            # snoozes to wake, pending conversations to auto-resolve.
            models.Index(
                fields=["snoozed_until"],
                condition=Q(status="snoozed"),
                name="conversation_snooze_due",
            ),
            models.Index(
                fields=["auto_resolve_at"],
                condition=Q(status="pending", auto_resolve_at__isnull=False),
                name="conversation_auto_resolve_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.number}"


class MessageDirection(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageKind(models.TextChoices):
    MESSAGE = "message"
    NOTE = "note"


class MessageStatus(models.TextChoices):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Message(models.Model):
    """A message in a conversation: inbound from the customer, outbound by an agent, or a note."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # Denormalized from the conversation so that (channel, external_id) can be unique.
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=8, choices=MessageDirection.choices)
    kind = models.CharField(max_length=8, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # NULL, not "", means "no platform id yet": the unique constraint ignores NULLs.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=12, choices=MessageStatus.choices)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_reason = models.TextField(blank=True)
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_outside = models.BooleanField(
        default=False, help_text="Sent by the brand from another app, not through Parley"
    )
    sent_at = models.DateTimeField(help_text="Platform time; our time until the platform says")
    created_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Its author deleted it on the platform: content removed"
    )

    objects = TenantManager["Message"]()
    all_tenants = AllTenantsManager["Message"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_unique_platform_id",
            ),
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "conversation", "sent_at", "id"],
                name="message_org_thread_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} {self.pk}"


class DeletedPost(models.Model):
    """A post its author deleted on the platform (X `tweet_delete_events`).

    X's terms require deleted content to go. The message, when we have it, keeps its row with
    the content removed (Message.deleted_at); this row is the tombstone that makes a later or
    replayed delivery of the same post store nothing, whichever arrives first.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255)
    deleted_at = models.DateTimeField()

    objects = TenantManager["DeletedPost"]()
    all_tenants = AllTenantsManager["DeletedPost"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="deleted_post_unique_platform_id"
            ),
        ]

    def __str__(self) -> str:
        return f"deleted {self.external_id} on {self.channel_id}"


class ConversationRead(models.Model):
    """How far one person has read one conversation: the last message they were shown.

    Unread counts are the customer's messages after it. One row per (conversation, user), only
    ever moved forward (inbox.services.reads).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    # A plain id, not a foreign key: ids only grow, and deleting a message must not rewind it.
    last_read_message_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager["ConversationRead"]()
    all_tenants = AllTenantsManager["ConversationRead"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "conversation"],
                name="conversation_read_unique_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} to {self.last_read_message_id}"


class SLAMetric(models.TextChoices):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class SLAEscalation(models.TextChoices):
    """What a breach does besides telling the assignee and the supervisors (the event)."""

    NOTIFY = "notify", "Notify the assignee and supervisors"
    RAISE_PRIORITY = "raise_priority", "Also raise the priority one step"
    UNASSIGN = "unassign", "Also hand it back to the unassigned queue"


class SLAPolicy(models.Model):
    """Response and resolution targets, and the conditions that select them.

    The first policy in `position` order whose conditions all hold applies (an empty condition
    holds for everything); the organization's default policy applies when none does, and has
    no conditions of its own. Targets count calendar time, or the business hours of the
    conversation's channel (else the organization's) when `use_business_hours` is set.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0, help_text="Lower is tried first")
    first_response_minutes = models.PositiveIntegerField()
    next_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    warning_percent = models.PositiveSmallIntegerField(
        default=75, help_text="Warn when this share of a target has run"
    )
    use_business_hours = models.BooleanField(default=False)
    escalation = models.CharField(
        max_length=16, choices=SLAEscalation.choices, default=SLAEscalation.NOTIFY
    )
    # Conditions.
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    priorities = models.JSONField(default=list, blank=True, help_text="Any of these priorities")
    tiers = models.JSONField(default=list, blank=True, help_text="Any of these customer tiers")
    active_from = models.TimeField(null=True, blank=True, help_text="Local time of day")
    active_until = models.TimeField(null=True, blank=True, help_text="Local time of day")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager["SLAPolicy"]()
    all_tenants = AllTenantsManager["SLAPolicy"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="sla_policy_one_default",
            ),
            models.CheckConstraint(
                condition=Q(first_response_minutes__gte=1)
                & Q(next_response_minutes__gte=1)
                & Q(resolution_minutes__gte=1),
                name="sla_policy_targets_positive",
            ),
            models.CheckConstraint(
                condition=Q(warning_percent__gte=1) & Q(warning_percent__lte=100),
                name="sla_policy_warning_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True, active_until__isnull=True)
                | Q(active_from__isnull=False, active_until__isnull=False),
                name="sla_policy_window_both_ends",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "position", "id"], name="sla_policy_org_order"),
        ]

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    """When the team works: a time zone, weekly shifts and dated holidays, for the whole
    organization (`channel` empty) or one channel. `schedule` is what
    inbox.business_hours.Schedule.from_json reads:
    `{"shifts": [{"weekday": 0, "start": "09:00", "end": "17:00"}], "holidays": ["2026-12-25"]}`.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    schedule = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager["BusinessHours"]()
    all_tenants = AllTenantsManager["BusinessHours"]()

    class Meta:
        verbose_name_plural = "business hours"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(channel__isnull=True),
                name="business_hours_one_per_organization",
            ),
            models.UniqueConstraint(
                fields=["organization", "channel"],
                condition=Q(channel__isnull=False),
                name="business_hours_one_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"business hours of {self.channel_id or 'organization'} {self.organization_id}"


class SLAClockState(models.TextChoices):
    RUNNING = "running"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"


class SLAClock(models.Model):
    """One SLA target of one conversation cycle, counting down.

    A running clock counts from `running_since`, having already `consumed` some of its target
    before a pause; `due_at` and `warn_at` are when the target and the warning threshold run
    out (working time with business hours). Paused clocks have no deadline. Next response is
    one clock per cycle that starts again each time the customer writes after an agent reply.
    The sweep moves running clocks to warning and breached with conditional updates, so each
    deadline is announced once (inbox.services.sla).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="sla_clocks"
    )
    metric = models.CharField(max_length=16, choices=SLAMetric.choices)
    cycle = models.PositiveIntegerField()
    policy = models.ForeignKey(
        SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.DurationField()
    started_at = models.DateTimeField()
    running_since = models.DateTimeField(null=True, blank=True)
    consumed = models.DurationField(default=timedelta)
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=8, choices=SLAClockState.choices, default=SLAClockState.RUNNING
    )
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["SLAClock"]()
    all_tenants = AllTenantsManager["SLAClock"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "cycle", "metric"], name="sla_clock_unique_metric"
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["running", "warning"])
                | Q(running_since__isnull=False, due_at__isnull=False, warn_at__isnull=False),
                name="sla_clock_running_has_deadline",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "conversation", "cycle"], name="sla_clock_org_conversation"
            ),
            # Sweep indexes (all tenants at once, partial: only clocks that can still come due,
            # so the sweep reads what is due and nothing else).
            models.Index(
                fields=["warn_at"], condition=Q(state="running"), name="sla_clock_warn_due"
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(state__in=["running", "warning"]),
                name="sla_clock_breach_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} of {self.conversation_id} ({self.state})"


class FollowUp(models.Model):
    """ "Check on this at <at>": the conversation reopens then, goes back to `assign_back_to`
    (the agent who set it) if they are still a member, and shows `note` as an internal note.
    Done or cancelled once, never both."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="follow_ups"
    )
    at = models.DateTimeField()
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assign_back_to = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["FollowUp"]()
    all_tenants = AllTenantsManager["FollowUp"]()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(done_at__isnull=True) | Q(cancelled_at__isnull=True),
                name="follow_up_done_or_cancelled",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "conversation", "at"], name="follow_up_org_conversation"
            ),
            # Sweep index (all tenants at once): follow-ups still to do.
            models.Index(
                fields=["at"],
                condition=Q(done_at__isnull=True, cancelled_at__isnull=True),
                name="follow_up_due",
            ),
        ]

    def __str__(self) -> str:
        return f"follow-up of {self.conversation_id} at {self.at:%Y-%m-%d %H:%M}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Delivery(models.Model):
    """The outbox record of one outbound message, written in the same transaction.

    A worker claims it (`claimed_until`) before calling the platform, so two workers never
    send the same message at once; `next_attempt_at` schedules retries with backoff, and a
    sweep re-drives any delivery whose task was lost.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="delivery")
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager["Delivery"]()
    all_tenants = AllTenantsManager["Delivery"]()

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_pending_due",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery of {self.message_id} ({self.status})"


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"


class WebhookEvent(models.Model):
    """A platform webhook POST exactly as received, kept before anything is parsed.

    `organization` and `channel` are filled once the payload's page / account id is mapped;
    they stay empty for events no channel claims.
    """

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    body = models.BinaryField()
    headers = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=12, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["WebhookEvent"]()
    all_tenants = AllTenantsManager["WebhookEvent"]()

    class Meta:
        indexes = [
            models.Index(fields=["status", "received_at"], name="webhook_status_received"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="failed"),
                name="webhook_failed_due",
            ),
            models.Index(fields=["organization", "received_at"], name="webhook_org_received"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} webhook {self.pk} ({self.status})"
