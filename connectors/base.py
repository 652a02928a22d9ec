"""The connector contract: what every platform adapter offers, and what crosses the boundary.

Dataclasses here are frozen and platform-neutral; inbox code never sees a platform payload.
Adapters live in connectors/<platform>/adapter.py and are found through connectors.registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

WindowState = Literal["open", "human_agent", "closed"]
Visibility = Literal["public", "private"]


@dataclass(frozen=True)
class ReplyWindow:
    """Whether an agent may reply now, and until when.

    `closes_at` is when the current state ends (open → human_agent → closed); for a closed
    window it is when it closed, and None when the customer never wrote.
    """

    state: WindowState
    closes_at: datetime | None

    @property
    def can_send(self) -> bool:
        return self.state != "closed"


# ---- inbound: webhook handshake, verification, normalized events ---------------------------


@dataclass(frozen=True)
class Handshake:
    """The answer to a platform's verification GET (Meta hub.challenge, X CRC)."""

    status: int
    content_type: str
    body: str


class InvalidPayloadError(ValueError):
    """Correctly signed, but not JSON or not the platform's envelope (answered 400)."""


@dataclass(frozen=True)
class Attachment:
    """A file the customer sent: its type and the platform's URL, kept as data, never fetched."""

    type: str
    url: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonProfile:
    """What the payload says about a person (X's users map); empty means unknown."""

    display_name: str = ""
    screen_name: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class Referral:
    """Where a conversation came from: an m.me ref, an ad, a "Message us" link."""

    ref: str = ""
    source: str = ""
    type: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundMessage:
    """The customer wrote (a message, a postback shown by its title, a public mention)."""

    channel_id: str  # page id / brand X user id: routes the event to one tenant
    customer_id: str  # PSID / X user id
    external_id: str
    text: str
    sent_at: datetime
    visibility: Visibility = "private"
    attachments: tuple[Attachment, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    referral: Referral | None = None
    profile: PersonProfile | None = None
    standby: bool = False  # another app owns the thread (Messenger handover)


@dataclass(frozen=True)
class OutboundEcho:
    """The brand sent something: our own send coming back, or a reply from another app."""

    channel_id: str
    customer_id: str  # the recipient
    external_id: str
    text: str
    sent_at: datetime
    visibility: Visibility = "private"
    attachments: tuple[Attachment, ...] = ()
    our_message_id: int | None = None  # from the metadata we attached when sending
    from_our_app: bool = False  # app_id is ours (Messenger)
    profile: PersonProfile | None = None
    standby: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)  # e.g. the post a reply answers


@dataclass(frozen=True)
class StatusWatermark:
    """Everything the brand sent to this customer up to `watermark` was delivered / read."""

    channel_id: str
    customer_id: str
    status: Literal["delivered", "read"]
    watermark: datetime
    external_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReferralEvent:
    """An existing customer opened the thread through a link or an ad (a customer action)."""

    channel_id: str
    customer_id: str
    referral: Referral
    sent_at: datetime
    standby: bool = False


@dataclass(frozen=True)
class CustomerAction:
    """The customer acted without writing (a reaction to a message): no message, but a
    customer action all the same, which reopens the reply window (PROTOCOLS 9)."""

    channel_id: str
    customer_id: str
    kind: str
    sent_at: datetime
    standby: bool = False


@dataclass(frozen=True)
class ContentDeleted:
    """The author deleted a post on the platform (X `tweet_delete_events`): its content must go
    from Parley too, also when the post itself arrives later (a replay)."""

    channel_id: str
    customer_id: str  # the post's author: the customer, or the brand itself
    external_id: str
    deleted_at: datetime
    posted_at: datetime | None = None  # when the post was made, if its id tells


@dataclass(frozen=True)
class AccessRevoked:
    """The account removed our app's access (X `user_event.revoke`, `oauth.revoke`): nothing
    sends until an admin reconnects the channel."""

    channel_id: str


@dataclass(frozen=True)
class IgnoredEvent:
    """Understood enough to route, but nothing Parley acts on (kept in the raw event)."""

    channel_id: str | None
    kind: str


NormalizedEvent = (
    InboundMessage
    | OutboundEcho
    | StatusWatermark
    | ReferralEvent
    | CustomerAction
    | ContentDeleted
    | AccessRevoked
    | IgnoredEvent
)


# ---- outbound ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundRequest:
    """One message to deliver. `message_id` is our id: the idempotency key platforms echo."""

    message_id: int
    channel_external_id: str
    credentials: Mapping[str, Any]
    recipient_id: str
    text: str
    visibility: Visibility
    window: WindowState
    in_reply_to: str | None = None  # the tweet a public reply answers


@dataclass(frozen=True)
class SendResult:
    external_id: str


@dataclass(frozen=True)
class Subscription:
    """Whether the platform delivers a channel's events to our webhook, after ensuring it.

    `renewed`: the subscription was missing and has just been made again (Meta drops a page's
    subscription after about an hour of failed deliveries; events in between are lost).
    """

    state: Literal["subscribed", "not_configured"]
    renewed: bool = False


class DeliveryError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class RetryableDeliveryError(DeliveryError):
    """Worth another attempt later (network, 5xx, 429, platform throttling)."""

    def __init__(self, code: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(code, reason)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Will never succeed as sent (window closed, blocked, bad token, bad parameter).
    `reauthorize`: the channel's token is invalid or expired; nothing will send until an
    admin reconnects it."""

    def __init__(self, code: str, reason: str, *, reauthorize: bool = False) -> None:
        super().__init__(code, reason)
        self.reauthorize = reauthorize


class Connector(Protocol):
    """One platform adapter."""

    kind: str
    required_credentials: tuple[str, ...]
    optional_credentials: tuple[str, ...]
    supports_public_replies: bool
    kept_headers: tuple[str, ...]  # request headers worth storing with the raw event

    def reply_window(
        self,
        *,
        last_inbound_at: datetime | None,
        channel_settings: Mapping[str, Any],
        now: datetime,
    ) -> ReplyWindow:
        """The reply window, measured from the platform time of the customer's last action."""
        ...

    def max_text_length(self, *, public: bool) -> int:
        """The longest text the platform accepts in one message."""
        ...

    def handshake(self, query: Mapping[str, str]) -> Handshake:
        """Answer the platform's verification GET."""
        ...

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Constant-time signature check over the raw body bytes, before any parsing."""
        ...

    def parse(self, body: bytes) -> list[NormalizedEvent]:
        """Every event of a (verified) body, batches flattened. Raises InvalidPayloadError
        when the body is not JSON or not the envelope; never raises anything else."""
        ...

    def send(self, request: OutboundRequest) -> SendResult:
        """Deliver one message. Raises RetryableDeliveryError or PermanentDeliveryError."""
        ...

    def move_to_dm_link(self, *, channel_external_id: str, text: str = "") -> str | None:
        """A link that opens a private conversation with the brand, for a public reply; None
        where the platform has no public side."""
        ...

    def fetch_profile(
        self, credentials: Mapping[str, Any], platform_user_id: str
    ) -> PersonProfile | None:
        """The person's name and picture from the platform; None when unavailable."""
        ...

    def without_post(self, body: bytes, post_id: str) -> bytes | None:
        """A stored raw body with a post its author deleted left out; None when the body holds
        no such post (or the platform has no deletions)."""
        ...

    def ensure_subscribed(
        self, *, channel_external_id: str, credentials: Mapping[str, Any]
    ) -> Subscription:
        """Check that the platform sends this page's / account's events to our webhook and
        subscribe it when it does not. Raises RetryableDeliveryError or PermanentDeliveryError
        (`reauthorize` for a bad token) as a send would."""
        ...
