"""Parley's data: tenants, people, channels, customers, conversations, messages, raw webhooks.

Data and constraints only (shared/STYLE.md): behaviour lives in services/ and selectors/.
Every tenant-owned row carries `organization`; its default manager is fail-closed
(inbox.tenancy.TenantManager) and `all_tenants` is the explicit cross-tenant escape hatch.
"""

from __future__ import annotations

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
    created_at = models.DateTimeField(default=timezone.now)

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
