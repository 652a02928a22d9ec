"""Turns an X webhook body (AAA or XAA envelope) into normalized events.

The body has already passed the signature check, so it came from X; what it contains is still
untrusted in shape. X adds fields, changes types (`user_has_blocked` is seen as a bool and as a
string) and sends event kinds we do not handle, and a non-2xx answer to a well-signed event only
buys retries (or a webhook marked invalid). So the rule here: only a body that is not a JSON
object, or not one of X's envelopes, raises InvalidPayloadError; any item inside a valid
envelope that we cannot read becomes an IgnoredEvent and the rest of the batch still counts.
Nothing else may escape. There is deliberately no catch-all `except Exception`: a bug here
must fail loudly (the raw event stays stored and can be replayed) rather than be filed as an
invalid payload.

Conventions (PROTOCOLS.md section 2 and its section 9 corrections):
- Ids are strings. A tweet is identified by `id_str`, never by the numeric `id`.
- A DM or tweet is the brand's own (an echo) when its sender/author is the subscribed account
  (`for_user_id` in AAA, `filter.user_id` in XAA). `source_app_id` is not used for this.
- Texts are kept exactly as received: leading @mentions, t.co links and all. Display trimming
  is the UI's business, using `display_text_range` from the metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from connectors.base import (
    AccessRevoked,
    Attachment,
    ContentDeleted,
    IgnoredEvent,
    InboundMessage,
    InvalidPayloadError,
    NormalizedEvent,
    OutboundEcho,
    PersonProfile,
)

JSONObject = dict[str, Any]
UserMap = Mapping[str, JSONObject]

# Envelope keys that describe the payload rather than carry events of their own.
_ENVELOPE_KEYS = frozenset({"for_user_id", "users", "apps", "user_has_blocked", "is_blocked_by"})
_BLOCK_FLAG_KEYS = ("user_has_blocked", "is_blocked_by")

DM_EVENTS_KEY = "direct_message_events"
TWEET_EVENTS_KEY = "tweet_create_events"
TWEET_DELETE_EVENTS_KEY = "tweet_delete_events"

# IgnoredEvent kinds for items we recognised but will not act on.
KIND_MALFORMED_DM = "malformed_direct_message"
KIND_UNSUPPORTED_DM = "unsupported_direct_message"
KIND_SELF_DM = "self_direct_message"
KIND_MALFORMED_TWEET = "malformed_tweet"
KIND_OWN_TWEET = "own_tweet"
KIND_RETWEET = "retweet"
KIND_UNADDRESSED_TWEET = "unaddressed_tweet"
KIND_MALFORMED_DELETE = "malformed_tweet_delete"

XAA_DM_TYPES = frozenset({"dm.received", "dm.sent"})
XAA_POST_TYPES = frozenset({"post.mention.create", "post.reply.create"})
XAA_REVOKE = "oauth.revoke"
AAA_USER_EVENT = "user_event"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SNOWFLAKE_EPOCH_MS = 1288834974657  # X's epoch (2010-11-04), in Unix milliseconds
_SNOWFLAKE_SHIFT = 22
_MAX_SNOWFLAKE_DIGITS = 20  # a 64-bit id
# A millisecond timestamp longer than this is garbage; the cap also keeps int() away from
# Python's digit limit for str -> int conversion.
_MAX_TIMESTAMP_DIGITS = 16
# "Thu Jan 01 00:00:05 +0000 2026": weekday, month, day, time, offset, year.
_V1_DATE_PARTS = 6
_V1_OFFSET_LENGTH = 5  # "+HHMM"
_V1_FIELD_DIGITS = 4
_RANGE_LENGTH = 2
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}


def parse(body: bytes) -> list[NormalizedEvent]:
    """Every event in a verified X webhook body, in payload order.

    Accepts the AAA envelope (an object with `for_user_id`), the XAA envelope
    (`{"data": {"event_type": ..., "filter": ..., "payload": ...}}`) and AAA's envelope-less
    `user_event` (authorization revoked). Raises InvalidPayloadError when the body is not JSON,
    not an object, or none of these; never raises anything else.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long integers;
        # RecursionError is what a deeply nested body raises inside the decoder.
        raise InvalidPayloadError("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidPayloadError("body is not a JSON object")

    if "for_user_id" in payload:
        channel_id = _id(payload["for_user_id"])
        if channel_id is None:
            raise InvalidPayloadError("for_user_id is not a user id")
        return _parse_activity(payload, channel_id)

    data = payload.get("data")
    if isinstance(data, dict) and isinstance(data.get("event_type"), str):
        return _parse_xaa(data)

    user_event = payload.get(AAA_USER_EVENT)
    if isinstance(user_event, dict):
        return [_user_event(user_event)]

    raise InvalidPayloadError("neither an AAA nor an XAA envelope")


def without_post(body: bytes, post_id: str) -> bytes | None:
    """The raw body with post `post_id` left out, or None when it holds no such post.

    For a post its author deleted: X's terms want it gone from what we keep, the raw events
    included. Wherever the post sits (an item of `tweet_create_events`, the payload of an XAA
    post event, a `quoted_status` or `retweeted_status` inside another post, a favorite's
    `favorited_status`), that copy goes and the rest of the body stays; an XAA event keeps its
    envelope with an empty payload. The body no longer matches its signature, which was
    checked on receipt.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    changed = False
    if isinstance(data, dict) and _is_post(data.get("payload"), post_id):
        data["payload"] = {}
        data.pop("includes", None)
        changed = True
    changed = _drop_post(payload, post_id) or changed
    return json.dumps(payload, separators=(",", ":")).encode() if changed else None


def _drop_post(node: object, post_id: str) -> bool:
    """Remove every copy of the post below `node`, in place; True when one was found."""
    changed = False
    if isinstance(node, list):
        kept = [item for item in node if not _is_post(item, post_id)]
        changed = len(kept) != len(node)
        node[:] = kept
        for item in node:
            changed = _drop_post(item, post_id) or changed
    elif isinstance(node, dict):
        for key in [k for k, v in node.items() if _is_post(v, post_id)]:
            del node[key]
            changed = True
        for value in node.values():
            changed = _drop_post(value, post_id) or changed
    return changed


def _is_post(item: object, post_id: str) -> bool:
    """A post object with this id: v1.1 (`id_str`, `text` / `full_text`) or v2 (`id`, `text`)."""
    if not isinstance(item, dict) or not ("text" in item or "full_text" in item):
        return False
    return (_str_id(item.get("id_str")) or _id(item.get("id"))) == post_id


# ---- envelopes -----------------------------------------------------------------------------


def _parse_activity(payload: JSONObject, channel_id: str) -> list[NormalizedEvent]:
    """An AAA-style object: event arrays keyed by kind, plus a users map and flags.

    Also used for the `payload` of XAA `dm.*` events, which has the same shape.
    """
    users = _users_map(payload.get("users"))
    flags = _block_flags(payload)
    events: list[NormalizedEvent] = []
    for key, value in payload.items():
        if key in _ENVELOPE_KEYS:
            continue
        if key == DM_EVENTS_KEY and isinstance(value, list):
            events.extend(_direct_message(item, channel_id, users, flags) for item in value)
        elif key == DM_EVENTS_KEY:
            events.append(IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_DM))
        elif key == TWEET_EVENTS_KEY and isinstance(value, list):
            events.extend(_aaa_tweet(item, channel_id, flags) for item in value)
        elif key == TWEET_EVENTS_KEY:
            events.append(IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_TWEET))
        elif key == TWEET_DELETE_EVENTS_KEY and isinstance(value, list):
            events.extend(_tweet_delete(item, channel_id) for item in value)
        elif key == TWEET_DELETE_EVENTS_KEY:
            events.append(IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_DELETE))
        else:
            # Typing, read marks, favorites, follows, blocks, ...: routed, not acted on.
            events.append(IgnoredEvent(channel_id=channel_id, kind=key))
    return events


def _parse_xaa(data: JSONObject) -> list[NormalizedEvent]:
    """One XAA delivery: exactly one event of `event_type` for the filtered user."""
    event_type: str = data["event_type"]
    event_filter = data.get("filter")
    channel_id = _id(event_filter.get("user_id")) if isinstance(event_filter, dict) else None
    payload = data.get("payload")

    if event_type in XAA_DM_TYPES and channel_id is not None and isinstance(payload, dict):
        # Direction comes from sender_id == channel, not from the event type, so dm.sent and
        # dm.received share one path (and agree with AAA).
        return _parse_activity(payload, channel_id)

    if event_type in XAA_POST_TYPES and channel_id is not None and isinstance(payload, dict):
        # `includes` sits beside `payload` in the documented deliveries; accept it inside too.
        includes = data.get("includes")
        if not isinstance(includes, dict):
            includes = payload.get("includes")
        post = _v2_post(payload, includes if isinstance(includes, dict) else {})
        if post is None:
            return [IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_TWEET)]
        return [_post_event(post, channel_id, flags=_block_flags(payload))]

    if event_type == XAA_REVOKE:
        if channel_id is None and isinstance(payload, dict):
            # The revoke's filter may be empty; the revoking user is in the payload.
            channel_id = _id(payload.get("user_id"))
        if channel_id is not None:
            return [AccessRevoked(channel_id=channel_id)]

    return [IgnoredEvent(channel_id=channel_id, kind=event_type)]


def _user_event(user_event: JSONObject) -> NormalizedEvent:
    """AAA `{"user_event": {"revoke": {...}}}`: the brand removed our app's access.

    It carries no `for_user_id`; the brand is `revoke.source.user_id`.
    """
    channel_id: str | None = None
    kind = AAA_USER_EVENT
    revoke = user_event.get("revoke")
    if isinstance(revoke, dict):
        kind = f"{AAA_USER_EVENT}.revoke"
        source = revoke.get("source")
        if isinstance(source, dict):
            channel_id = _id(source.get("user_id"))
        if channel_id is not None:
            return AccessRevoked(channel_id=channel_id)
    return IgnoredEvent(channel_id=channel_id, kind=kind)


# ---- direct messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class _DirectMessage:
    """The fields of a `message_create` event we rely on, read and type-checked once."""

    event_id: str
    sender_id: str
    recipient_id: str | None
    text: str
    sent_at: datetime
    attachments: tuple[Attachment, ...]
    event: JSONObject
    message_data: JSONObject


def _direct_message(
    item: object, channel_id: str, users: UserMap, flags: Mapping[str, Any]
) -> NormalizedEvent:
    """One `direct_message_events[]` item: the customer's DM, or the brand's echo."""
    message = _read_direct_message(item)
    if isinstance(message, str):
        return IgnoredEvent(channel_id=channel_id, kind=message)
    if message.sender_id == channel_id:
        return _dm_echo(message, channel_id, users)
    return _dm_inbound(message, channel_id, users, flags)


def _read_direct_message(item: object) -> _DirectMessage | str:
    """The DM's fields, or the IgnoredEvent kind saying why it cannot be used."""
    if not isinstance(item, dict):
        return KIND_MALFORMED_DM
    if item.get("type") != "message_create":
        return KIND_UNSUPPORTED_DM
    message_create = item.get("message_create")
    message_create = message_create if isinstance(message_create, dict) else {}
    message_data = message_create.get("message_data")
    target = message_create.get("target")
    event_id = _id(item.get("id"))
    sender_id = _id(message_create.get("sender_id"))
    sent_at = _from_milliseconds(item.get("created_timestamp"))
    text = message_data.get("text", "") if isinstance(message_data, dict) else None
    if (
        not isinstance(message_data, dict)
        or not isinstance(text, str)
        or event_id is None
        or sender_id is None
        or sent_at is None
    ):
        return KIND_MALFORMED_DM
    return _DirectMessage(
        event_id=event_id,
        sender_id=sender_id,
        recipient_id=_id(target.get("recipient_id")) if isinstance(target, dict) else None,
        text=text,
        sent_at=sent_at,
        attachments=_dm_attachments(message_data.get("attachment")),
        event=item,
        message_data=message_data,
    )


def _dm_echo(message: _DirectMessage, channel_id: str, users: UserMap) -> NormalizedEvent:
    """The brand's own DM (from Parley or any other client), filed under its recipient."""
    if message.recipient_id is None:
        return IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_DM)
    if message.recipient_id == channel_id:
        # The brand wrote to itself: there is no customer to file it under.
        return IgnoredEvent(channel_id=channel_id, kind=KIND_SELF_DM)
    # The blocked flags describe the customer's side; the brand's own DM does not carry them.
    return OutboundEcho(
        channel_id=channel_id,
        customer_id=message.recipient_id,
        external_id=message.event_id,
        text=message.text,
        sent_at=message.sent_at,
        visibility="private",
        attachments=message.attachments,
        our_message_id=None,
        profile=_profile(users.get(message.recipient_id)),
    )


def _dm_inbound(
    message: _DirectMessage, channel_id: str, users: UserMap, flags: Mapping[str, Any]
) -> InboundMessage:
    """A customer's DM, with what joins it to a public thread or a quick-reply choice."""
    metadata: dict[str, Any] = dict(flags)
    initiated_via = message.event.get("initiated_via")
    if isinstance(initiated_via, dict):
        # The public tweet (DM prompt) or welcome message that opened this DM: joins the DM
        # to the public thread when present.
        origin = {
            key: value
            for key in ("tweet_id", "welcome_message_id")
            if (value := _id(initiated_via.get(key))) is not None
        }
        if origin:
            metadata["initiated_via"] = origin
    quick_reply = message.message_data.get("quick_reply_response")
    if isinstance(quick_reply, dict):
        metadata["quick_reply_response"] = quick_reply
    return InboundMessage(
        channel_id=channel_id,
        customer_id=message.sender_id,
        external_id=message.event_id,
        text=message.text,
        sent_at=message.sent_at,
        visibility="private",
        attachments=message.attachments,
        metadata=metadata,
        profile=_profile(users.get(message.sender_id)),
    )


def _dm_attachments(attachment: object) -> tuple[Attachment, ...]:
    """A DM carries at most one attachment; media URLs need a signed GET, so keep them as data."""
    if not isinstance(attachment, dict):
        return ()
    kind = attachment.get("type")
    if not isinstance(kind, str) or not kind:
        return ()
    if kind == "media":
        media = attachment.get("media")
        if not isinstance(media, dict):
            return ()
        media_type = media.get("type")
        url = media.get("media_url_https")
        media_id = media.get("id_str")
        return (
            Attachment(
                type=media_type if isinstance(media_type, str) and media_type else "media",
                url=url if isinstance(url, str) else "",
                data={"media_id": media_id} if isinstance(media_id, str) else {},
            ),
        )
    # Other kinds (a shared location) keep their own sub-object, named after the type.
    detail = attachment.get(kind)
    return (Attachment(type=kind, data=detail if isinstance(detail, dict) else {}),)


# ---- tweets / posts ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Post:
    """What we need from a v1.1 tweet or a v2 post, read once so both share one decision."""

    post_id: str
    author_id: str
    text: str
    sent_at: datetime
    in_reply_to_status_id: str | None
    in_reply_to_user_id: str | None
    display_text_range: list[int] | None
    quoted_status_id: str | None
    is_retweet: bool
    addresses_brand: bool
    author_profile: PersonProfile | None
    recipient_profile: PersonProfile | None


def _aaa_tweet(item: object, channel_id: str, flags: Mapping[str, Any]) -> NormalizedEvent:
    """One `tweet_create_events[]` item (a full v1.1 Tweet object)."""
    if not isinstance(item, dict):
        return IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_TWEET)
    post = _v1_tweet(item, channel_id)
    if post is None:
        return IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_TWEET)
    return _post_event(post, channel_id, flags)


def _v1_tweet(tweet: JSONObject, channel_id: str) -> _Post | None:
    """Reads a v1.1 Tweet object; None when a field we rely on is missing or mistyped."""
    post_id = _str_id(tweet.get("id_str"))
    user = tweet.get("user")
    author_id = _str_id(user.get("id_str")) if isinstance(user, dict) else None
    if post_id is None or author_id is None:
        return None

    extended = tweet.get("extended_tweet")
    extended = extended if isinstance(extended, dict) else {}
    full_text = extended.get("full_text")
    display_range: object
    if tweet.get("truncated") is True and isinstance(full_text, str):
        # A long tweet's `text` is cut at 140 characters; the real text lives here.
        text: object = full_text
        display_range = extended.get("display_text_range")
    else:
        text = tweet.get("text")
        if not isinstance(text, str):
            text = tweet.get("full_text")  # tweet_mode=extended shape
        display_range = tweet.get("display_text_range")
    if not isinstance(text, str):
        return None

    sent_at = _from_milliseconds(tweet.get("timestamp_ms")) or _from_twitter_date(
        tweet.get("created_at")
    )
    if sent_at is None:
        return None

    in_reply_to_user_id = _str_id(tweet.get("in_reply_to_user_id_str"))
    quoted = tweet.get("quoted_status")
    quoted_user = quoted.get("user") if isinstance(quoted, dict) else None
    quoted_status_id = _str_id(tweet.get("quoted_status_id_str"))
    quotes_brand = (
        isinstance(quoted_user, dict) and _str_id(quoted_user.get("id_str")) == channel_id
    )
    mentions_brand = channel_id in _v1_mention_ids(tweet.get("entities")) or (
        channel_id in _v1_mention_ids(extended.get("entities"))
    )
    reply_screen_name = tweet.get("in_reply_to_screen_name")
    return _Post(
        post_id=post_id,
        author_id=author_id,
        text=text,
        sent_at=sent_at,
        in_reply_to_status_id=_str_id(tweet.get("in_reply_to_status_id_str")),
        in_reply_to_user_id=in_reply_to_user_id,
        display_text_range=_text_range(display_range),
        quoted_status_id=quoted_status_id,
        is_retweet=isinstance(tweet.get("retweeted_status"), dict),
        addresses_brand=mentions_brand or in_reply_to_user_id == channel_id or quotes_brand,
        author_profile=_profile(user),
        recipient_profile=(
            PersonProfile(screen_name=reply_screen_name)
            if isinstance(reply_screen_name, str) and reply_screen_name
            else None
        ),
    )


def _v2_post(post: JSONObject, includes: JSONObject) -> _Post | None:
    """Reads a v2 Post (XAA `post.*` payload); None when a field we rely on is unusable.

    The subscription (mentions of / replies to the brand) already says the post addresses
    the brand, so no mention check here.
    """
    post_id = _id(post.get("id"))
    author_id = _id(post.get("author_id"))
    note = post.get("note_tweet")
    note_text = note.get("text") if isinstance(note, dict) else None
    # Long posts carry their full text in note_tweet; `text` is then the truncated preview.
    text = note_text if isinstance(note_text, str) else post.get("text")
    sent_at = _from_iso(post.get("created_at"))
    if post_id is None or author_id is None or not isinstance(text, str) or sent_at is None:
        return None

    in_reply_to_status_id = quoted_status_id = None
    is_retweet = False
    references = post.get("referenced_tweets")
    for reference in references if isinstance(references, list) else ():
        if not isinstance(reference, dict):
            continue
        ref_type, ref_id = reference.get("type"), _id(reference.get("id"))
        if ref_type == "replied_to":
            in_reply_to_status_id = ref_id
        elif ref_type == "quoted":
            quoted_status_id = ref_id
        elif ref_type == "retweeted":
            is_retweet = True

    users = _included_users(includes.get("users"))
    in_reply_to_user_id = _id(post.get("in_reply_to_user_id"))
    return _Post(
        post_id=post_id,
        author_id=author_id,
        text=text,
        sent_at=sent_at,
        in_reply_to_status_id=in_reply_to_status_id,
        in_reply_to_user_id=in_reply_to_user_id,
        display_text_range=_text_range(post.get("display_text_range")),
        quoted_status_id=quoted_status_id,
        is_retweet=is_retweet,
        addresses_brand=True,
        author_profile=_profile(users.get(author_id)),
        recipient_profile=(
            _profile(users.get(in_reply_to_user_id)) if in_reply_to_user_id else None
        ),
    )


def _post_event(post: _Post, channel_id: str, flags: Mapping[str, Any]) -> NormalizedEvent:
    """The decision shared by AAA tweets and XAA posts: echo, customer message, or ignore."""
    if post.is_retweet:
        # A retweet says nothing new to the brand; answering it would be noise.
        return IgnoredEvent(channel_id=channel_id, kind=KIND_RETWEET)
    if post.author_id == channel_id:
        customer_id = post.in_reply_to_user_id
        if customer_id is None or customer_id == channel_id:
            # A standalone brand post, or the brand threading its own posts: no customer.
            return IgnoredEvent(channel_id=channel_id, kind=KIND_OWN_TWEET)
        return OutboundEcho(
            channel_id=channel_id,
            customer_id=customer_id,
            external_id=post.post_id,
            text=post.text,
            sent_at=post.sent_at,
            visibility="public",
            our_message_id=None,
            profile=post.recipient_profile,
            metadata={
                "tweet_id": post.post_id,
                "in_reply_to_status_id": post.in_reply_to_status_id,
            },
        )
    if not post.addresses_brand:
        # AAA delivers every tweet the brand can see in its activity, not only those to it.
        return IgnoredEvent(channel_id=channel_id, kind=KIND_UNADDRESSED_TWEET)
    metadata: dict[str, Any] = {
        "tweet_id": post.post_id,
        "in_reply_to_status_id": post.in_reply_to_status_id,
        "display_text_range": post.display_text_range,
        **flags,
    }
    if post.quoted_status_id is not None:
        metadata["quoted_status_id"] = post.quoted_status_id
    return InboundMessage(
        channel_id=channel_id,
        customer_id=post.author_id,
        external_id=post.post_id,
        text=post.text,
        sent_at=post.sent_at,
        visibility="public",
        metadata=metadata,
        profile=post.author_profile,
    )


def _v1_mention_ids(entities: object) -> set[str]:
    if not isinstance(entities, dict):
        return set()
    mentions = entities.get("user_mentions")
    if not isinstance(mentions, list):
        return set()
    return {
        mention_id
        for mention in mentions
        if isinstance(mention, dict) and (mention_id := _str_id(mention.get("id_str")))
    }


def _text_range(value: object) -> list[int] | None:
    """`display_text_range` as [start, end] when it is two integers, else unknown."""
    if (
        isinstance(value, list)
        and len(value) == _RANGE_LENGTH
        and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in value)
    ):
        return [value[0], value[1]]
    return None


# ---- people --------------------------------------------------------------------------------


def _users_map(value: object) -> dict[str, JSONObject]:
    """The `users` map by id. XAA wraps each user as `{"data": {...}}`; AAA does not.

    A missing or mistyped map is normal (not every payload has one) and means no profiles.
    """
    if not isinstance(value, dict):
        return {}
    users: dict[str, JSONObject] = {}
    for user_id, user in value.items():
        unwrapped = _unwrap_user(user)
        if unwrapped is not None:
            users[user_id] = unwrapped
    return users


def _included_users(value: object) -> dict[str, JSONObject]:
    """v2 `includes.users`: a list of (possibly `data`-wrapped) users, keyed by their id."""
    if not isinstance(value, list):
        return {}
    users: dict[str, JSONObject] = {}
    for item in value:
        user = _unwrap_user(item)
        user_id = _id(user.get("id")) if user is not None else None
        if user is not None and user_id is not None:
            users.setdefault(user_id, user)
    return users


def _unwrap_user(value: object) -> JSONObject | None:
    if not isinstance(value, dict):
        return None
    inner = value.get("data")
    return inner if isinstance(inner, dict) else value


def _profile(user: object) -> PersonProfile | None:
    """A v1.1 or v2 user object as a profile; None when it says nothing usable."""
    if not isinstance(user, dict):
        return None
    profile = PersonProfile(
        display_name=_first_str(user, "name"),
        screen_name=_first_str(user, "screen_name", "username"),
        avatar_url=_first_str(user, "profile_image_url_https", "profile_image_url"),
    )
    return profile if profile != PersonProfile() else None


def _first_str(obj: JSONObject, *keys: str) -> str:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _block_flags(payload: JSONObject) -> dict[str, bool]:
    """`{"user_has_blocked": bool}` when the payload says; seen as a bool, as "true"/"false",
    and under the name `is_blocked_by`. Either name saying true wins."""
    values = [flag for key in _BLOCK_FLAG_KEYS if (flag := _as_bool(payload.get(key))) is not None]
    return {"user_has_blocked": any(values)} if values else {}


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _tweet_delete(item: object, channel_id: str) -> NormalizedEvent:
    """`{"status": {"id": "...", "user_id": "..."}, "timestamp_ms": "..."}`: a post deleted by
    its author, the customer or the brand."""
    if not isinstance(item, dict) or not isinstance(item.get("status"), dict):
        return IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_DELETE)
    status: JSONObject = item["status"]
    post_id = _str_id(status.get("id_str")) or _id(status.get("id"))
    author_id = _str_id(status.get("user_id_str")) or _id(status.get("user_id"))
    if post_id is None or author_id is None:
        return IgnoredEvent(channel_id=channel_id, kind=KIND_MALFORMED_DELETE)
    deleted_at = _from_milliseconds(item.get("timestamp_ms")) or datetime.now(UTC)
    return ContentDeleted(
        channel_id=channel_id,
        customer_id=author_id,
        external_id=post_id,
        deleted_at=deleted_at,
        posted_at=_snowflake_time(post_id),
    )


def _snowflake_time(post_id: str) -> datetime | None:
    """When a post was made, from its id: X ids are snowflakes, milliseconds since X's epoch
    in the bits above the lowest 22."""
    if not (post_id.isascii() and post_id.isdigit()) or len(post_id) > _MAX_SNOWFLAKE_DIGITS:
        return None
    return _from_milliseconds((int(post_id) >> _SNOWFLAKE_SHIFT) + _SNOWFLAKE_EPOCH_MS)


# ---- scalars -------------------------------------------------------------------------------


def _id(value: object) -> str | None:
    """A user/event id given as a string or an integer; None otherwise.

    Python's json reads integers exactly, so str() of an int id is safe even past 2**53.
    """
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _str_id(value: object) -> str | None:
    """An `*_str` field: only a non-empty string counts."""
    return value if isinstance(value, str) and value else None


def _from_milliseconds(value: object) -> datetime | None:
    """X's millisecond timestamps (`created_timestamp`, `timestamp_ms`), string or integer."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= _MAX_TIMESTAMP_DIGITS):
            return None
        millis = int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        millis = value
    else:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        return None


def _from_twitter_date(value: object) -> datetime | None:
    """v1.1 `created_at`, e.g. "Thu Jan 01 00:00:05 +0000 2026".

    Parsed by hand rather than with strptime because %a/%b follow the process locale.
    """
    if not isinstance(value, str):
        return None
    parts = value.split()
    if len(parts) != _V1_DATE_PARTS:
        return None
    _weekday, month_name, day, clock, offset, year = parts
    month = _MONTHS.get(month_name)
    hour, _, rest = clock.partition(":")
    minute, _, second = rest.partition(":")
    numbers = [day, year, hour, minute, second, offset[1:]]
    if (
        month is None
        or len(offset) != _V1_OFFSET_LENGTH
        or offset[0] not in "+-"
        or not all(n.isascii() and n.isdigit() and len(n) <= _V1_FIELD_DIGITS for n in numbers)
    ):
        return None
    sign = 1 if offset[0] == "+" else -1
    try:
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        moment = datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=tz
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _from_iso(value: object) -> datetime | None:
    """v2 `created_at` (ISO 8601, "2026-07-24T21:05:48.000Z"); a naive value is taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
