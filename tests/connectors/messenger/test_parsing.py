"""Messenger bodies → normalized events: every fixture, batches, and bodies of any shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connectors.base import (
    AccessRevoked,
    Attachment,
    CustomerAction,
    IgnoredEvent,
    InboundMessage,
    InvalidPayloadError,
    OutboundEcho,
    Referral,
    ReferralEvent,
    StatusWatermark,
)
from connectors.messenger.adapter import MessengerConnector
from connectors.messenger.fixtures import load, names
from connectors.messenger.parsing import outbound_metadata, parse

PAGE = "104857600123456"
PSID = "6022448899123456"
PAGE_B = "104857600654321"
PSID_B = "6022448899654321"
OUR_APP = "1517776481860111"


@pytest.fixture(autouse=True)
def meta_settings(settings: Any) -> Any:
    settings.META_APP_ID = OUR_APP
    return settings


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)


def only(name: str) -> Any:
    events = parse(load(name))
    assert len(events) == 1, events
    return events[0]


def test_at_helper_matches_the_documented_instant() -> None:
    assert at(1767225599876) == datetime(2025, 12, 31, 23, 59, 59, 876000, tzinfo=UTC)


# ---- messages ---------------------------------------------------------------------------


def test_text_message() -> None:
    assert only("text_message") == InboundMessage(
        channel_id=PAGE,
        customer_id=PSID,
        external_id="m_AbCdEf0123456789",
        text="Hi, my order #4512 has not arrived",
        sent_at=datetime(2025, 12, 31, 23, 59, 59, 876000, tzinfo=UTC),
    )


def test_escaped_unicode_is_decoded() -> None:
    event = only("escaped_unicode")
    assert isinstance(event, InboundMessage)
    assert event.text == "Grüße aus Köln"
    assert event.external_id == "m_GhIjKl9876543210"


def test_quick_reply_payload_is_metadata() -> None:
    event = only("quick_reply")
    assert isinstance(event, InboundMessage)
    assert event.text == "Track my order"
    assert event.metadata == {"quick_reply": "TRACK_ORDER"}


def test_reply_to_mid_is_metadata() -> None:
    event = only("reply_to")
    assert isinstance(event, InboundMessage)
    assert event.metadata == {"reply_to": "m_AbCdEf0123456789"}
    assert event.sent_at == at(1767225612000)


def test_attachments_keep_type_and_url_in_order() -> None:
    event = only("attachments_image")
    assert isinstance(event, InboundMessage)
    assert event.text == ""
    assert event.attachments == (
        Attachment(
            type="image",
            url="https://scontent.example.fbcdn.net/v/t1.15752-9/photo_receipt.jpg",
        ),
        Attachment(type="file", url="https://cdn.example.fbsbx.com/v/t59.2708-21/invoice_4512.pdf"),
    )


def test_sticker_keeps_its_id_as_data() -> None:
    event = only("sticker")
    assert isinstance(event, InboundMessage)
    url = "https://scontent.example.fbcdn.net/v/t39.1997-6/thumbs_up.png"
    assert event.attachments == (
        Attachment(type="sticker", url=url, data={"sticker_id": 369239263222822}),
        Attachment(type="image", url=url, data={"sticker_id": 369239263222822}),
    )


def test_fallback_attachment_keeps_title() -> None:
    event = only("fallback")
    assert isinstance(event, InboundMessage)
    assert event.text == "https://parcels.example.com/track/4512"
    assert event.attachments == (
        Attachment(
            type="fallback",
            url="https://parcels.example.com/track/4512",
            data={"title": "Track parcel 4512"},
        ),
    )


def test_legacy_fallback_with_url_beside_a_null_payload() -> None:
    body = envelope(
        item(
            message={
                "mid": "m_old",
                "attachments": [
                    {
                        "type": "fallback",
                        "title": "Parcel",
                        "url": "https://x.example/p",
                        "payload": None,
                    }
                ],
            }
        )
    )
    (event,) = parse(body)
    assert isinstance(event, InboundMessage)
    assert event.attachments == (
        Attachment(type="fallback", url="https://x.example/p", data={"title": "Parcel"}),
    )


def test_referral_inside_a_message() -> None:
    event = only("message_referral")
    assert isinstance(event, InboundMessage)
    assert event.referral == Referral(
        ref="spring-sale",
        source="ADS",
        type="OPEN_THREAD",
        data={
            "ad_id": "6045246247433",
            "ads_context_data": {
                "ad_title": "Spring sale",
                "photo_url": "https://ads.example.com/p.jpg",
            },
        },
    )


# ---- echoes -----------------------------------------------------------------------------


def test_echo_of_our_send_names_our_message() -> None:
    assert only("echo_ours") == OutboundEcho(
        channel_id=PAGE,
        customer_id=PSID,
        external_id="m_EchoEcho33333333",
        text="Sorry about that! Could you send your order number?",
        sent_at=at(1767225700000),
        our_message_id=42,
        from_our_app=True,
    )


def test_echo_from_another_app() -> None:
    event = only("echo_other_app")
    assert isinstance(event, OutboundEcho)
    assert (event.channel_id, event.customer_id) == (PAGE, PSID)
    assert event.from_our_app is False
    assert event.our_message_id is None
    assert event.text == "Here is the label"
    assert event.attachments == (
        Attachment(type="image", url="https://scontent.example.fbcdn.net/v/label.png"),
    )


def test_another_apps_metadata_does_not_claim_our_message() -> None:
    body = envelope(
        item(
            sender=PAGE,
            recipient=PSID,
            message={"is_echo": True, "app_id": 999, "metadata": "parley:out:42", "mid": "m_1"},
        )
    )
    (event,) = parse(body)
    assert isinstance(event, OutboundEcho)
    assert (event.from_our_app, event.our_message_id) == (False, None)


def test_without_a_configured_app_id_the_metadata_is_read(settings: Any) -> None:
    settings.META_APP_ID = ""
    event = only("echo_ours")
    assert isinstance(event, OutboundEcho)
    assert (event.from_our_app, event.our_message_id) == (False, 42)


def test_app_id_as_a_string_is_ours_too() -> None:
    body = envelope(
        item(
            sender=PAGE,
            recipient=PSID,
            message={"is_echo": True, "app_id": OUR_APP, "metadata": "parley:out:7", "mid": "m"},
        )
    )
    (event,) = parse(body)
    assert isinstance(event, OutboundEcho)
    assert (event.from_our_app, event.our_message_id) == (True, 7)


@pytest.mark.parametrize(
    "metadata",
    [
        "parley:out:",
        "parley:out:0",
        "parley:out:-1",
        "parley:out:42 ",
        "parley:out:4x2",
        "parley:out:7b3c2f4e-1d2a-4c55-9a0e-5f7d1c2b9a10",
        "parley:out:99999999999999999999",
        "parley:out:٤٢",  # Arabic-Indic digits: int() would accept them
        "PARLEY:OUT:42",
        42,
        None,
    ],
)
def test_metadata_that_is_not_one_of_our_ids(metadata: object) -> None:
    body = envelope(
        item(
            sender=PAGE,
            recipient=PSID,
            message={"is_echo": True, "app_id": int(OUR_APP), "metadata": metadata, "mid": "m"},
        )
    )
    (event,) = parse(body)
    assert isinstance(event, OutboundEcho)
    assert event.our_message_id is None


def test_outbound_metadata_round_trips() -> None:
    assert outbound_metadata(123) == "parley:out:123"
    body = envelope(
        item(
            sender=PAGE,
            recipient=PSID,
            message={
                "is_echo": True,
                "app_id": OUR_APP,
                "metadata": outbound_metadata(123),
                "mid": "m",
            },
        )
    )
    (event,) = parse(body)
    assert isinstance(event, OutboundEcho)
    assert event.our_message_id == 123


# ---- receipts, postbacks, referrals ---------------------------------------------------------


def test_delivery_watermark() -> None:
    assert only("delivery") == StatusWatermark(
        channel_id=PAGE,
        customer_id=PSID,
        status="delivered",
        watermark=at(1767225700000),
        external_ids=("m_EchoEcho33333333",),
    )


def test_read_watermark() -> None:
    assert only("read") == StatusWatermark(
        channel_id=PAGE, customer_id=PSID, status="read", watermark=at(1767225700000)
    )


def test_postback_with_referral() -> None:
    assert only("postback_referral") == InboundMessage(
        channel_id=PAGE,
        customer_id=PSID,
        external_id="m_PbPb444444444444",
        text="Get Started",
        sent_at=at(1767225800000),
        metadata={"postback": "GET_STARTED"},
        referral=Referral(
            ref="site-header.cust-8812.sig-5f2a", source="SHORTLINK", type="OPEN_THREAD"
        ),
    )


def test_postback_without_mid_gets_a_deterministic_key() -> None:
    event = only("postback_no_mid")
    assert isinstance(event, InboundMessage)
    # sha1("HUMAN") = 72ba091a53d2...: the key a redelivery of the same tap computes again.
    assert event.external_id == f"pb:{PAGE}:{PSID}:1767225810000:72ba091a53d2"
    assert event.text == "Talk to a human"
    assert event.metadata == {"postback": "HUMAN"}
    assert parse(load("postback_no_mid")) == [event]


def test_postback_keys_differ_by_payload_and_time() -> None:
    def key(payload: object, ts: int) -> str:
        (event,) = parse(envelope(item(timestamp=ts, postback={"title": "t", "payload": payload})))
        assert isinstance(event, InboundMessage)
        return event.external_id

    keys = {key("A", 1), key("B", 1), key("A", 2), key(None, 1), key({"b": 1, "a": 2}, 1)}
    assert len(keys) == 5
    assert key({"b": 1, "a": 2}, 1) == key({"a": 2, "b": 1}, 1)


def test_referral_event() -> None:
    assert only("referral") == ReferralEvent(
        channel_id=PAGE,
        customer_id=PSID,
        referral=Referral(
            ref="order-page.cust-8812.sig-5f2a", source="SHORTLINK", type="OPEN_THREAD"
        ),
        sent_at=at(1767225900000),
    )


# ---- envelope, batches, standby, ignored --------------------------------------------------


def test_standby_items_are_flagged() -> None:
    events = parse(load("standby"))
    assert len(events) == 2
    message, read = events
    assert isinstance(message, InboundMessage)
    assert message.standby is True
    assert message.text == "Hello? Anyone there?"
    assert read == StatusWatermark(
        channel_id=PAGE, customer_id=PSID, status="read", watermark=at(1767225990000)
    )


def test_batch_is_flattened_in_payload_order() -> None:
    events = parse(load("batch"))

    def summary(event: object) -> tuple[str, str | None, str, bool | None]:
        name = type(event).__name__
        if isinstance(event, InboundMessage | OutboundEcho):
            return name, event.channel_id, event.external_id, event.standby
        if isinstance(event, StatusWatermark):
            return name, event.channel_id, event.status, None
        if isinstance(event, CustomerAction):
            return name, event.channel_id, event.kind, None
        assert isinstance(event, IgnoredEvent)
        return name, event.channel_id, event.kind, None

    assert [summary(e) for e in events] == [
        ("InboundMessage", PAGE, "m_Batch_A1", False),
        ("StatusWatermark", PAGE, "delivered", None),
        ("OutboundEcho", PAGE, "m_Batch_A3", False),
        ("StatusWatermark", PAGE, "read", None),
        ("InboundMessage", PAGE_B, "m_Batch_B1", False),
        ("CustomerAction", PAGE_B, "reaction", None),
        ("InboundMessage", PAGE_B, "m_Batch_B3", False),
        ("InboundMessage", PAGE_B, "m_Batch_B4", True),
    ]
    echo = events[2]
    assert isinstance(echo, OutboundEcho)
    assert (echo.customer_id, echo.our_message_id, echo.from_our_app) == (PSID, 7, True)
    assert [
        e.customer_id for e in events[4:] if not isinstance(e, IgnoredEvent | AccessRevoked)
    ] == [PSID_B] * 4
    reaction = events[5]
    assert isinstance(reaction, CustomerAction)
    assert (reaction.customer_id, reaction.kind, reaction.standby) == (PSID_B, "reaction", False)


def test_standby_before_messaging_keeps_payload_order() -> None:
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE,
                    "standby": [item(message={"mid": "m_1", "text": "one"})],
                    "messaging": [item(message={"mid": "m_2", "text": "two"})],
                }
            ],
        }
    ).encode()
    events = parse(body)
    assert [(e.external_id, e.standby) for e in events if isinstance(e, InboundMessage)] == [
        ("m_1", True),
        ("m_2", False),
    ]


def test_instagram_object_is_acknowledged_and_ignored() -> None:
    assert parse(load("instagram_object")) == []


@pytest.mark.parametrize("kind", ["whatsapp_business_account", "user", ""])
def test_other_objects_yield_nothing(kind: str) -> None:
    assert parse(json.dumps({"object": kind, "entry": [{"id": PAGE}]}).encode()) == []


def parse_reaction_time() -> datetime:
    """The timestamp of the reaction in the unknown_event fixture."""
    items = json.loads(load("unknown_event"))["entry"][0]["messaging"]
    [reaction] = [i for i in items if "reaction" in i]
    return datetime.fromtimestamp(int(reaction["timestamp"]) / 1000, tz=UTC)


def test_unknown_and_unhandled_events_are_ignored_with_their_kind() -> None:
    assert parse(load("unknown_event")) == [
        IgnoredEvent(channel_id=PAGE, kind="optin"),
        IgnoredEvent(channel_id=PAGE, kind="account_linking"),
        IgnoredEvent(channel_id=PAGE, kind="pass_thread_control"),
        CustomerAction(
            channel_id=PAGE, customer_id=PSID, kind="reaction", sent_at=parse_reaction_time()
        ),
        IgnoredEvent(channel_id=PAGE, kind="message_edit"),
    ]


def test_malformed_items_are_ignored_and_their_neighbour_survives() -> None:
    events = parse(load("malformed_items"))
    assert events == [
        IgnoredEvent(channel_id=PAGE, kind="malformed"),
        IgnoredEvent(channel_id=PAGE, kind="malformed:message"),  # no sender
        IgnoredEvent(channel_id=PAGE, kind="malformed:message"),  # negative timestamp
        InboundMessage(
            channel_id=PAGE,
            customer_id=PSID,
            external_id="m_NumericIds",
            text="numbers",
            sent_at=at(1767226300004),
        ),
        IgnoredEvent(channel_id=PAGE, kind="malformed:message"),  # 10**40 ms
        IgnoredEvent(channel_id=PAGE, kind="malformed:message"),  # is_echo "yes"
        IgnoredEvent(channel_id=PAGE, kind="malformed:message"),  # mid is an object
        IgnoredEvent(channel_id=PAGE, kind="malformed:message"),  # text is a number
        IgnoredEvent(channel_id=PAGE, kind="malformed:delivery"),  # no watermark
        IgnoredEvent(channel_id=PAGE, kind="malformed:referral"),  # null referral
        IgnoredEvent(channel_id=PAGE, kind="malformed:read"),  # null sender and timestamp
    ]


def test_entry_without_id_routes_by_recipient() -> None:
    body = json.dumps(
        {"object": "page", "entry": [{"messaging": [item(message={"mid": "m", "text": "x"})]}]}
    ).encode()
    (event,) = parse(body)
    assert isinstance(event, InboundMessage)
    assert event.channel_id == PAGE


def test_echo_without_entry_id_routes_by_sender() -> None:
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "messaging": [
                        item(sender=PAGE, recipient=PSID, message={"is_echo": True, "mid": "m"})
                    ]
                }
            ],
        }
    ).encode()
    (event,) = parse(body)
    assert isinstance(event, OutboundEcho)
    assert (event.channel_id, event.customer_id) == (PAGE, PSID)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1767225599876, at(1767225599876)),
        ("1767225599876", at(1767225599876)),
        (1767225599876.0, at(1767225599876)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (253402300799999, datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_timestamps_that_are_read(timestamp: object, expected: datetime) -> None:
    (event,) = parse(envelope(item(timestamp=timestamp, message={"mid": "m"})))
    assert isinstance(event, InboundMessage)
    assert event.sent_at == expected
    assert event.sent_at.tzinfo is UTC


@pytest.mark.parametrize(
    "timestamp",
    [
        -1,
        253402300800000,
        10**30,
        1767225599876.5,
        "-1767225599876",
        "1767225599876.0",
        " 1767225599876",
        "١٧٦٧٢٢٥٥٩٩٨٧٦",  # Arabic-Indic digits
        "",
        True,
        None,
        [1767225599876],
    ],
)
def test_timestamps_out_of_range_or_of_the_wrong_type(timestamp: object) -> None:
    events = parse(envelope(item(timestamp=timestamp, message={"mid": "m"})))
    assert events == [IgnoredEvent(channel_id=PAGE, kind="malformed:message")]


@pytest.mark.parametrize("bad_id", [None, "", True, 1.5, {"id": "x"}, "9" * 65])
def test_ids_of_the_wrong_shape(bad_id: object) -> None:
    events = parse(envelope(item(sender=bad_id, message={"mid": "m"})))
    assert events == [IgnoredEvent(channel_id=PAGE, kind="malformed:message")]


def test_text_is_kept_exactly() -> None:
    text = "  <b>Hello</b> &amp; \\u00e9\r\n\t \u200b😀 "
    (event,) = parse(envelope(item(message={"mid": "m", "text": text})))
    assert isinstance(event, InboundMessage)
    assert event.text == text


def test_broken_extras_are_dropped_alone() -> None:
    message = {
        "mid": "m",
        "text": "keep me",
        "attachments": [None, 1, {"payload": {"url": 5}}, {"type": "image", "payload": "x"}],
        "quick_reply": {"payload": {"not": "a string"}},
        "reply_to": {"mid": None},
        "referral": "ad",
    }
    (event,) = parse(envelope(item(message=message)))
    assert isinstance(event, InboundMessage)
    assert event.text == "keep me"
    assert event.attachments == (
        Attachment(type="unknown", url="", data={"url": 5}),
        Attachment(type="image"),
    )
    assert event.metadata == {}
    assert event.referral is None


def test_delivery_skips_bad_mids() -> None:
    body = envelope(item(delivery={"mids": ["m_1", None, 7, {"x": 1}, ""], "watermark": "5"}))
    (event,) = parse(body)
    assert isinstance(event, StatusWatermark)
    assert event.external_ids == ("m_1", "7")
    assert event.watermark == at(5)


# ---- invalid bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b'{"object":"page","entry":[]',
        b"[]",
        b'"page"',
        b"null",
        b"{}",
        b'{"object":"page"}',
        b'{"entry":[]}',
        b'{"object":"page","entry":{}}',
        b'{"object":"page","entry":null}',
        b'{"object":1,"entry":[]}',
        b'{"object":null,"entry":[]}',
        b'{"object":"instagram","entry":"x"}',
        b'{"object":"page","entry":[],"x":NaN}',
        b'{"object":"page","entry":[Infinity]}',
        b'{"field":"messaging_postbacks","value":{"sender":{"id":"1"}}}',  # dashboard test shape
        b"[" * 100_000 + b"]" * 100_000,
        b'{"object":"page","entry":[' + b"9" * 5000 + b"]}",  # beyond Python's int digit limit
    ],
)
def test_invalid_bodies_raise_invalid_payload(body: bytes) -> None:
    with pytest.raises(InvalidPayloadError):
        parse(body)


def test_empty_entry_list_is_valid() -> None:
    assert parse(b'{"object":"page","entry":[]}') == []


def test_non_object_entries_and_messaging_are_ignored() -> None:
    body = b'{"object":"page","entry":[1,null,{"id":"5","messaging":{}},{"id":"6","changes":[]}]}'
    assert parse(body) == [
        IgnoredEvent(channel_id=None, kind="malformed"),
        IgnoredEvent(channel_id=None, kind="malformed"),
        IgnoredEvent(channel_id="5", kind="malformed:messaging"),
    ]


@pytest.mark.parametrize("depth", [100, 500, 800, 900, 950, 980, 990, 1000, 2000])
def test_deep_nesting_never_escapes(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = (
        b'{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},'
        b'"recipient":{"id":"1"},"timestamp":1,"postback":{"title":"t","payload":'
        + nested.encode()
        + b"}}]}]}"
    )
    try:
        events = parse(body)
    except InvalidPayloadError:
        return
    assert len(events) == 1
    assert isinstance(events[0], InboundMessage)


def test_adapter_parse_delegates() -> None:
    assert MessengerConnector().parse(load("text_message")) == parse(load("text_message"))


def test_every_fixture_parses() -> None:
    for name in names():
        assert isinstance(parse(load(name)), list), name
    assert len(names()) >= 19


# ---- properties: any shape → a list or InvalidPayloadError ---------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

ids = st.one_of(
    st.sampled_from([PAGE, PSID, OUR_APP, ""]),
    st.integers(),
    st.text(max_size=70),
    json_values,
)
timestamps = st.one_of(
    st.integers(min_value=-(10**16), max_value=10**16),
    st.integers(),
    st.sampled_from(["1767225599876", "-1", "1e3", " 1", "١٢"]),
    st.floats(),
    json_values,
)
parties = st.fixed_dictionaries({}, optional={"id": ids}) | json_values
texts = st.text(max_size=30) | json_values
referrals = (
    st.fixed_dictionaries({}, optional={"ref": texts, "source": texts, "type": texts, "ad_id": ids})
    | json_values
)
attachments = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["image", "sticker", "fallback", ""]) | json_values,
            "payload": st.fixed_dictionaries(
                {}, optional={"url": texts, "sticker_id": ids, "title": texts}
            )
            | json_values,
            "url": texts,
            "title": texts,
        },
    )
    | json_values,
    max_size=3,
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "mid": ids,
        "text": texts,
        "is_echo": st.booleans() | json_values,
        "app_id": ids,
        "metadata": st.sampled_from(["parley:out:42", "parley:out:0", "x"]) | json_values,
        "attachments": attachments | json_values,
        "quick_reply": st.fixed_dictionaries({}, optional={"payload": texts}) | json_values,
        "reply_to": st.fixed_dictionaries({}, optional={"mid": ids}) | json_values,
        "referral": referrals,
    },
)
receipts = st.fixed_dictionaries(
    {}, optional={"watermark": timestamps, "mids": st.lists(ids, max_size=3) | json_values}
)
postbacks = st.fixed_dictionaries(
    {},
    optional={"mid": ids, "title": texts, "payload": texts, "referral": referrals},
)
items = (
    st.fixed_dictionaries(
        {},
        optional={
            "sender": parties,
            "recipient": parties,
            "timestamp": timestamps,
            "message": messages | json_values,
            "delivery": receipts | json_values,
            "read": receipts | json_values,
            "postback": postbacks | json_values,
            "referral": referrals,
            "reaction": json_values,
            "optin": json_values,
        },
    )
    | json_values
)
entries = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": ids,
            "time": timestamps,
            "messaging": st.lists(items, max_size=4) | json_values,
            "standby": st.lists(items, max_size=3) | json_values,
        },
    )
    | json_values
)
envelopes = st.fixed_dictionaries(
    {"object": st.sampled_from(["page", "page", "page", "instagram"]) | json_values},
    optional={"entry": st.lists(entries, max_size=3) | json_values},
)

PROPERTY_SETTINGS = hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(body: bytes) -> None:
    """parse() returns well-typed events or raises InvalidPayloadError; nothing else."""
    try:
        events = parse(body)
    except InvalidPayloadError:
        return
    assert isinstance(events, list)
    for event in events:
        if isinstance(event, IgnoredEvent):
            assert event.channel_id is None or isinstance(event.channel_id, str)
            assert isinstance(event.kind, str)
            assert event.kind
            continue
        assert isinstance(event, InboundMessage | OutboundEcho | StatusWatermark | ReferralEvent)
        assert isinstance(event.channel_id, str)
        assert event.channel_id
        assert isinstance(event.customer_id, str)
        assert event.customer_id
        moment = event.watermark if isinstance(event, StatusWatermark) else event.sent_at
        assert moment.tzinfo is UTC
        if isinstance(event, InboundMessage | OutboundEcho):
            assert isinstance(event.external_id, str)
            assert 0 < len(event.external_id) <= 255
            assert isinstance(event.text, str)
            assert all(
                isinstance(a.url, str) and isinstance(a.type, str) for a in event.attachments
            )
        if isinstance(event, OutboundEcho):
            assert event.our_message_id is None or event.our_message_id > 0


@PROPERTY_SETTINGS
@given(value=json_values)
def test_any_json_value(value: object) -> None:
    check(json.dumps(value).encode())


@PROPERTY_SETTINGS
@given(value=envelopes)
def test_any_envelope(value: object) -> None:
    check(json.dumps(value).encode())


@PROPERTY_SETTINGS
@given(value=envelopes)
def test_any_envelope_as_meta_escapes_it(value: object) -> None:
    check(json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode())


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=300))
def test_any_bytes(body: bytes) -> None:
    check(body)


@PROPERTY_SETTINGS
@given(value=envelopes, data=st.data())
def test_any_envelope_with_a_byte_changed(value: object, data: st.DataObject) -> None:
    body = bytearray(json.dumps(value).encode())
    if body:
        index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[index] = data.draw(st.integers(min_value=0, max_value=255))
    check(bytes(body))


# ---- helpers ------------------------------------------------------------------------------


def item(
    *,
    sender: object = PSID,
    recipient: object = PAGE,
    timestamp: object = 1767225599876,
    **event: object,
) -> dict[str, object]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": timestamp,
        **event,
    }


def envelope(*messaging: dict[str, object], page: str = PAGE) -> bytes:
    return json.dumps(
        {"object": "page", "entry": [{"id": page, "messaging": list(messaging)}]}
    ).encode()
