"""Messenger webhook bodies → normalized events (PROTOCOLS 1.3 to 1.5).

This runs on bodies whose signature already verified, so one rule shapes everything here: a
signed body of any shape yields a list or raises InvalidPayloadError, never anything else. A
crash would fail the stored event over and over, and an endpoint that answers 5xx makes Meta
retry and, after an hour, unsubscribe the page for every tenant (PROTOCOLS 1.5, 7.2).

So the envelope is checked strictly (that is the 400 case) and every item inside it leniently:
an item we cannot read becomes an IgnoredEvent, and its neighbours in the batch still count.
Fields that fill a typed slot (ids, mid, text, timestamp) must have the right type or the item
is "malformed:<kind>"; optional extras (attachments, quick reply, referral) are dropped alone
when they are malformed, because losing the customer's words over a broken extra is worse.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NoReturn

from django.conf import settings

from connectors.base import (
    Attachment,
    CustomerAction,
    IgnoredEvent,
    InboundMessage,
    InvalidPayloadError,
    NormalizedEvent,
    OutboundEcho,
    Referral,
    ReferralEvent,
    StatusWatermark,
)

PAGE_OBJECT = "page"

# What we put into the Send API's `message.metadata`, and read back from its echo (1.6, 7.4).
OUTBOUND_METADATA_PREFIX = "parley:out:"
_OUTBOUND_METADATA = re.compile(re.escape(OUTBOUND_METADATA_PREFIX) + r"([1-9][0-9]{0,18})")
_MAX_MESSAGE_ID = 2**63 - 1  # a bigint primary key; anything larger is not one of ours

# The inbox stores page ids / PSIDs in 64 characters and platform message ids in 255. Longer
# values are not Meta ids; refusing them here keeps a database error out of the worker.
MAX_ID_LENGTH = 64
MAX_MID_LENGTH = 255

# Unix milliseconds, as a number or a string of digits ("All JSON properties ... are strings"
# on some reference pages, PROTOCOLS 8). Outside [epoch, year 9999] a datetime cannot hold it.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MILLISECONDS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // timedelta(
    milliseconds=1
)
_DIGITS = re.compile(r"[0-9]{1,15}")

_ENVELOPE_KEYS = frozenset({"sender", "recipient", "timestamp"})
# The event keys we act on, in the order we look for them (an item carries exactly one).
_HANDLED_KINDS = ("message", "postback", "referral", "delivery", "read", "reaction")
_MAX_KIND_LENGTH = 64


class _MalformedError(Exception):
    """Internal: this item cannot be read; it becomes IgnoredEvent("malformed:<kind>")."""


def _malformed() -> NoReturn:
    raise _MalformedError


def outbound_metadata(message_id: int) -> str:
    """The `message.metadata` string a send carries so its echo names our message id."""
    return f"{OUTBOUND_METADATA_PREFIX}{message_id}"


def parse(body: bytes) -> list[NormalizedEvent]:
    """Every event of a Messenger webhook body, in payload order, batches flattened.

    Precondition: the signature was verified on these exact bytes. Reads META_APP_ID from the
    settings at call time (to recognise our own echoes). Raises InvalidPayloadError when the
    body is not strict JSON or not an object with a string "object" and a list "entry"; a body
    for another object ("instagram", ...) is acknowledged and yields []. Nothing else raises.
    """
    document = _load(body)
    if not isinstance(document, dict):
        raise InvalidPayloadError("the body is not a JSON object")
    kind = document.get("object")
    entries = document.get("entry")
    if not isinstance(kind, str) or not isinstance(entries, list):
        raise InvalidPayloadError('the body has no string "object" and list "entry"')
    if kind != PAGE_OBJECT:
        return []
    our_app_id: str = settings.META_APP_ID
    events: list[NormalizedEvent] = []
    for entry in entries:
        events.extend(_entry_events(entry, our_app_id=our_app_id))
    return events


def _load(body: bytes) -> object:
    """Strict JSON: NaN and Infinity are not JSON, and no Meta body carries them; refusing them
    here also keeps them out of the JSON columns downstream (PostgreSQL rejects them)."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    # ValueError covers bad JSON, bad UTF-8 and integers beyond Python's digit limit;
    # RecursionError covers absurdly deep nesting; TypeError a body that is not bytes at all.
    except (ValueError, RecursionError, TypeError) as exc:
        raise InvalidPayloadError(f"the body is not JSON: {exc}") from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# ---- entries and items ---------------------------------------------------------------------


def _entry_events(entry: object, *, our_app_id: str) -> Iterator[NormalizedEvent]:
    """One entry's `messaging[]` and `standby[]` items, in the order the keys appear."""
    if not isinstance(entry, dict):
        yield IgnoredEvent(channel_id=None, kind="malformed")
        return
    page_id = _optional_id(entry.get("id"))
    for key, items in entry.items():
        if key not in ("messaging", "standby") or items is None:
            continue
        if not isinstance(items, list):
            yield IgnoredEvent(channel_id=page_id, kind=f"malformed:{key}")
            continue
        for item in items:
            yield _item_event(
                item, page_id=page_id, standby=key == "standby", our_app_id=our_app_id
            )


def _item_event(
    item: object, *, page_id: str | None, standby: bool, our_app_id: str
) -> NormalizedEvent:
    if not isinstance(item, dict):
        return IgnoredEvent(channel_id=page_id, kind="malformed")
    kind = _kind_of(item)
    handler = _HANDLERS.get(kind)
    if handler is None:
        return IgnoredEvent(channel_id=page_id or _recipient_id(item), kind=kind)
    try:
        envelope = _Envelope.of(item, page_id=page_id, standby=standby)
        return handler(item[kind], envelope, our_app_id)
    except _MalformedError:
        return IgnoredEvent(channel_id=page_id or _recipient_id(item), kind=f"malformed:{kind}")


def _kind_of(item: Mapping[str, object]) -> str:
    for kind in _HANDLED_KINDS:
        if kind in item:
            return kind
    for key in item:
        if key not in _ENVELOPE_KEYS:
            # Keep the platform's name (optin, account_linking, message_edit...) for the log,
            # within reason: the key is whatever the body says.
            return key if 0 < len(key) <= _MAX_KIND_LENGTH else "unknown"
    return "unknown"


def _recipient_id(item: Mapping[str, object]) -> str | None:
    recipient = item.get("recipient")
    return _optional_id(recipient.get("id")) if isinstance(recipient, dict) else None


@dataclass(frozen=True, slots=True)
class _Envelope:
    """What every item shares: who wrote to whom, and when (PROTOCOLS 1.3)."""

    page_id: str | None
    sender_id: str
    recipient_id: str
    timestamp_ms: int
    standby: bool

    @classmethod
    def of(cls, item: Mapping[str, object], *, page_id: str | None, standby: bool) -> _Envelope:
        return cls(
            page_id=page_id,
            sender_id=_party_id(item.get("sender")),
            recipient_id=_party_id(item.get("recipient")),
            timestamp_ms=_milliseconds(item.get("timestamp")),
            standby=standby,
        )

    @property
    def sent_at(self) -> datetime:
        return _EPOCH + timedelta(milliseconds=self.timestamp_ms)

    def customer_side(self) -> tuple[str, str]:
        """(page, customer) of an event the customer caused: they are the sender. The entry's
        id wins over `recipient.id` because it is the page Meta addressed the webhook for."""
        return self.page_id or self.recipient_id, self.sender_id

    def page_side(self) -> tuple[str, str]:
        """(page, customer) of an echo: the page is the sender, the customer the recipient."""
        return self.page_id or self.sender_id, self.recipient_id


# ---- one handler per event key ---------------------------------------------------------------


def _message(value: object, envelope: _Envelope, our_app_id: str) -> NormalizedEvent:
    message = _dict(value)
    is_echo = message.get("is_echo")
    if is_echo is not None and not isinstance(is_echo, bool):
        # Guessing the direction wrong would put the page's words in the customer's mouth.
        _malformed()
    external_id = _id(message.get("mid"), max_length=MAX_MID_LENGTH)
    text = _text(message.get("text"))
    attachments = _attachments(message.get("attachments"))
    if is_echo is True:
        return _echo(
            message=message,
            envelope=envelope,
            external_id=external_id,
            text=text,
            attachments=attachments,
            our_app_id=our_app_id,
        )
    page_id, customer_id = envelope.customer_side()
    metadata: dict[str, Any] = {}
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and isinstance(quick_reply.get("payload"), str):
        metadata["quick_reply"] = quick_reply["payload"]
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict):
        reply_to_mid = _optional_id(reply_to.get("mid"), max_length=MAX_MID_LENGTH)
        if reply_to_mid is not None:
            metadata["reply_to"] = reply_to_mid
    return InboundMessage(
        channel_id=page_id,
        customer_id=customer_id,
        external_id=external_id,
        text=text,
        sent_at=envelope.sent_at,
        attachments=attachments,
        metadata=metadata,
        referral=_optional_referral(message.get("referral")),
        standby=envelope.standby,
    )


def _echo(
    *,
    message: Mapping[str, object],
    envelope: _Envelope,
    external_id: str,
    text: str,
    attachments: tuple[Attachment, ...],
    our_app_id: str,
) -> OutboundEcho:
    """The page sent something. It is ours when its app_id is our Meta app; only then is the
    metadata trusted to name our message, since any app on the page can write any metadata
    (when META_APP_ID is not configured there is nothing to check against, so it is read)."""
    page_id, customer_id = envelope.page_side()
    app_id = _optional_id(message.get("app_id"))
    from_our_app = bool(our_app_id) and app_id == our_app_id
    our_message_id = None
    if from_our_app or not our_app_id:
        our_message_id = _our_message_id(message.get("metadata"))
    return OutboundEcho(
        channel_id=page_id,
        customer_id=customer_id,
        external_id=external_id,
        text=text,
        sent_at=envelope.sent_at,
        attachments=attachments,
        our_message_id=our_message_id,
        from_our_app=from_our_app,
        standby=envelope.standby,
    )


def _our_message_id(metadata: object) -> int | None:
    if not isinstance(metadata, str):
        return None
    match = _OUTBOUND_METADATA.fullmatch(metadata)
    if match is None:
        return None
    message_id = int(match.group(1))
    return message_id if message_id <= _MAX_MESSAGE_ID else None


def _postback(value: object, envelope: _Envelope, our_app_id: str) -> NormalizedEvent:
    """A button tap, shown as its title. Postbacks lack a `mid` on older API versions; the
    fallback key is derived from the event itself so a redelivery gets the same key (1.5)."""
    postback = _dict(value)
    page_id, customer_id = envelope.customer_side()
    payload = postback.get("payload")
    external_id = _optional_id(postback.get("mid"), max_length=MAX_MID_LENGTH)
    if external_id is None:
        digest = hashlib.sha1(_payload_bytes(payload), usedforsecurity=False).hexdigest()
        external_id = f"pb:{page_id}:{customer_id}:{envelope.timestamp_ms}:{digest[:12]}"
    return InboundMessage(
        channel_id=page_id,
        customer_id=customer_id,
        external_id=external_id,
        text=_text(postback.get("title")),
        sent_at=envelope.sent_at,
        metadata={"postback": payload if payload is not None else ""},
        referral=_optional_referral(postback.get("referral")),
        standby=envelope.standby,
    )


def _payload_bytes(payload: object) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")
    except (ValueError, TypeError, RecursionError):
        return b"?"  # nested near the recursion limit: still deterministic


def _referral_event(value: object, envelope: _Envelope, our_app_id: str) -> NormalizedEvent:
    page_id, customer_id = envelope.customer_side()
    referral = _optional_referral(value)
    if referral is None:
        _malformed()
    return ReferralEvent(
        channel_id=page_id,
        customer_id=customer_id,
        referral=referral,
        sent_at=envelope.sent_at,
        standby=envelope.standby,
    )


def _reaction(value: object, envelope: _Envelope, our_app_id: str) -> NormalizedEvent:
    """A reaction (or its removal) to a message: the customer acted, the window reopens."""
    _dict(value)
    page_id, customer_id = envelope.customer_side()
    return CustomerAction(
        channel_id=page_id,
        customer_id=customer_id,
        kind="reaction",
        sent_at=envelope.sent_at,
        standby=envelope.standby,
    )


def _delivery(value: object, envelope: _Envelope, our_app_id: str) -> NormalizedEvent:
    return _watermark(value, envelope, "delivered")


def _read(value: object, envelope: _Envelope, our_app_id: str) -> NormalizedEvent:
    return _watermark(value, envelope, "read")


def _watermark(
    value: object, envelope: _Envelope, status: Literal["delivered", "read"]
) -> StatusWatermark:
    """Everything the page sent before `watermark` was delivered / read (1.4); `mids` may be
    missing, and a bad one among good ones is skipped rather than spoiling the receipt."""
    receipt = _dict(value)
    page_id, customer_id = envelope.customer_side()
    mids = receipt.get("mids")
    external_ids: tuple[str, ...] = ()
    if isinstance(mids, list):
        external_ids = tuple(
            mid
            for mid in (_optional_id(raw, max_length=MAX_MID_LENGTH) for raw in mids)
            if mid is not None
        )
    return StatusWatermark(
        channel_id=page_id,
        customer_id=customer_id,
        status=status,
        watermark=_EPOCH + timedelta(milliseconds=_milliseconds(receipt.get("watermark"))),
        external_ids=external_ids,
    )


_HANDLERS: dict[str, Callable[[object, _Envelope, str], NormalizedEvent]] = {
    "message": _message,
    "postback": _postback,
    "referral": _referral_event,
    "delivery": _delivery,
    "read": _read,
    "reaction": _reaction,
}


# ---- field readers -------------------------------------------------------------------------


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        _malformed()
    return value


def _party_id(value: object) -> str:
    """`sender` / `recipient`: an object with an id."""
    return _id(_dict(value).get("id"))


def _id(value: object, *, max_length: int = MAX_ID_LENGTH) -> str:
    found = _optional_id(value, max_length=max_length)
    if found is None:
        _malformed()
    return found


def _optional_id(value: object, *, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Meta ids are strings, but numbers turn up (app_id always, ids in tests and old payloads):
    both become the same string. Booleans, floats and empty or oversized values are no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and 0 < len(value) <= max_length:
        return value
    return None


def _text(value: object) -> str:
    """Exactly as received: no stripping, no unescaping; absent or null is ""."""
    if value is None:
        return ""
    if not isinstance(value, str):
        _malformed()
    return value


def _milliseconds(value: object) -> int:
    """Unix ms as an int, an integral float or a string of digits; anything a datetime cannot
    hold (negative, huge, NaN) makes the item malformed rather than raising."""
    if isinstance(value, bool):
        _malformed()
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            _malformed()
        value = int(value)
    elif isinstance(value, str):
        if _DIGITS.fullmatch(value) is None:
            _malformed()
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= _MAX_MILLISECONDS:
        _malformed()
    return value


def _attachments(value: object) -> tuple[Attachment, ...]:
    """Attachments by type (image, sticker, fallback, template...), the URL apart and every
    other payload field kept as data. An attachment that is not an object is dropped alone."""
    if not isinstance(value, list):
        return ()
    return tuple(_attachment(raw) for raw in value if isinstance(raw, dict))


def _attachment(raw: Mapping[str, object]) -> Attachment:
    kind = raw.get("type")
    payload = raw.get("payload")
    fields: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
    url = fields.get("url")
    if isinstance(url, str):
        del fields["url"]
    else:
        url = ""
        # Older `fallback` attachments carry url and title beside a null payload.
        legacy_url = raw.get("url")
        if isinstance(legacy_url, str) and "url" not in fields:
            url = legacy_url
    for key, extra in raw.items():
        if key not in ("type", "payload", "url"):
            fields.setdefault(key, extra)
    return Attachment(
        type=kind if isinstance(kind, str) and kind else "unknown", url=url, data=fields
    )


def _optional_referral(value: object) -> Referral | None:
    """A referral (m.me ref, ad, plugin): ref/source/type as strings, the rest (ad_id,
    ads_context_data, referer_uri...) as data. Not an object → no referral."""
    if not isinstance(value, dict):
        return None
    named: dict[str, str] = {}
    data: dict[str, Any] = {}
    for key, field_value in value.items():
        if key in ("ref", "source", "type") and isinstance(field_value, str):
            named[key] = field_value
        else:
            data[key] = field_value
    return Referral(
        ref=named.get("ref", ""),
        source=named.get("source", ""),
        type=named.get("type", ""),
        data=data,
    )
