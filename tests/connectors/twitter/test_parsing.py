"""X payloads (exact fixture bytes) to normalized events, plus robustness properties.

The property tests pin the contract the webhook endpoint relies on: for a well-signed body of
any shape, parse() returns a list of normalized events or raises InvalidPayloadError; nothing
else escapes (a stray TypeError would turn into a 500 and a retry storm).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import connectors.twitter
from connectors.base import (
    AccessRevoked,
    Attachment,
    ContentDeleted,
    IgnoredEvent,
    InboundMessage,
    InvalidPayloadError,
    OutboundEcho,
    PersonProfile,
    ReferralEvent,
    StatusWatermark,
)
from connectors.twitter.adapter import TwitterConnector
from connectors.twitter.parsing import parse, without_post

FIXTURES = Path(connectors.twitter.__file__).parent / "fixtures"
BRAND = "1290000000000000001"
SAM = "987654321"
SAM_PROFILE = PersonProfile(
    display_name="Sam Customer",
    screen_name="samcustomer",
    avatar_url="https://pbs.twimg.com/profile_images/000/sam_normal.jpg",
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def at(year: int, month: int, day: int, *clock: int) -> datetime:
    """A UTC moment; `clock` is hour, minute, second, microsecond, trailing ones optional."""
    hour, minute, second, microsecond = (*clock, 0, 0, 0, 0)[:4]
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def dm(
    event_id: str = "1876543210987650100",
    sender: str = SAM,
    recipient: str = BRAND,
    text: str = "hi",
    ts: object = "1767225600000",
) -> dict[str, Any]:
    return {
        "type": "message_create",
        "id": event_id,
        "created_timestamp": ts,
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "message_data": {"text": text},
        },
    }


def tweet(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "created_at": "Thu Jan 01 00:00:05 +0000 2026",
        "id": 1876500000000000555,
        "id_str": "1876500000000000555",
        "text": "@AcmeSupport help",
        "truncated": False,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id_str": None,
        "user": {"id_str": SAM, "name": "Sam Customer", "screen_name": "samcustomer"},
        "entities": {"user_mentions": [{"id_str": BRAND, "screen_name": "AcmeSupport"}]},
    }
    base.update(fields)
    return base


# ---- fixtures ------------------------------------------------------------------------------


def test_signed_worked_example() -> None:
    assert parse(fixture("dm_signed_example.json")) == [
        InboundMessage(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876543210987654321",
            text="Can you help with my refund?",
            sent_at=at(2026, 1, 1, 0, 0, 0, 123000),
            visibility="private",
            profile=PersonProfile(display_name="Sam Customer", screen_name="samcustomer"),
        )
    ]


def test_dm_with_media_and_initiated_via() -> None:
    assert parse(fixture("dm_received_media.json")) == [
        InboundMessage(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876543210987654321",
            text="Here is my order number: 4512 https://t.co/AbCdEf12",
            sent_at=at(2026, 1, 1, 0, 0, 0, 123000),
            visibility="private",
            attachments=(
                Attachment(
                    type="photo",
                    url="https://ton.twitter.com/1.1/ton/data/dm/1876543210987654321/"
                    "1876543210987654000/receipt.jpg",
                    data={"media_id": "1876543210987654000"},
                ),
            ),
            metadata={"initiated_via": {"tweet_id": "1876500000000000777"}},
            profile=SAM_PROFILE,
        )
    ]


def test_dm_sent_by_the_brand_is_an_echo_to_the_recipient() -> None:
    # The payload names an app (source_app_id); direction comes from sender_id alone.
    assert parse(fixture("dm_sent_by_brand.json")) == [
        OutboundEcho(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876543299999999999",
            text="Hi Sam, sorry about the delay. Checking order 4512 now.",
            sent_at=at(2026, 1, 1, 0, 5, 0, 456000),
            visibility="private",
            our_message_id=None,
            profile=SAM_PROFILE,
        )
    ]


def test_public_mention() -> None:
    assert parse(fixture("mention.json")) == [
        InboundMessage(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876500000000000555",
            text="@AcmeSupport my parcel is a week late, order 4512",
            sent_at=at(2026, 1, 1, 0, 0, 5),
            visibility="public",
            metadata={
                "tweet_id": "1876500000000000555",
                "in_reply_to_status_id": None,
                "display_text_range": [13, 49],
                "user_has_blocked": False,
            },
            profile=SAM_PROFILE,
        )
    ]


def test_truncated_mention_uses_the_full_text() -> None:
    full = json.loads(fixture("mention_truncated.json"))["tweet_create_events"][0][
        "extended_tweet"
    ]["full_text"]

    [event] = parse(fixture("mention_truncated.json"))

    assert isinstance(event, InboundMessage)
    assert event.text == full
    assert event.text.startswith("@AcmeSupport I ordered")
    assert event.text.endswith("today? 😤")
    assert "…" not in event.text
    assert event.external_id == "1876500000000000666"
    assert event.visibility == "public"
    assert event.sent_at == at(2026, 1, 1, 8, 30)
    # The range that belongs to the full text, and the string "false" read as a bool.
    assert event.metadata == {
        "tweet_id": "1876500000000000666",
        "in_reply_to_status_id": None,
        "display_text_range": [13, len(full)],
        "user_has_blocked": False,
    }


def test_own_public_reply_is_an_echo_and_a_standalone_post_is_ignored() -> None:
    assert parse(fixture("own_tweet_reply.json")) == [
        OutboundEcho(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876500000000000777",
            text="@samcustomer Sorry to hear that! Please DM us your order number. "
            "https://t.co/DmLink0001",
            sent_at=at(2026, 1, 1, 0, 5),
            visibility="public",
            profile=PersonProfile(screen_name="samcustomer"),
            metadata={
                "tweet_id": "1876500000000000777",
                "in_reply_to_status_id": "1876500000000000555",
            },
        ),
        IgnoredEvent(channel_id=BRAND, kind="own_tweet"),
    ]


def test_batch_keeps_payload_order_and_reads_every_dm() -> None:
    events = parse(fixture("batch.json"))

    # Payload order, not timestamp order (the second DM is the oldest).
    assert [(type(e).__name__, getattr(e, "external_id", None)) for e in events] == [
        ("InboundMessage", "1876543210987650001"),
        ("InboundMessage", "1876543210987650002"),
        ("OutboundEcho", "1876543210987650003"),
        ("InboundMessage", "1876543210987650004"),
    ]
    first, second, third, fourth = events
    assert isinstance(first, InboundMessage)
    assert first.customer_id == SAM
    assert first.metadata == {"initiated_via": {"tweet_id": "1876500000000000777"}}
    assert first.profile == SAM_PROFILE
    assert isinstance(second, InboundMessage)
    assert second.customer_id == "555000111"
    assert second.sent_at == at(2026, 1, 1, 0, 0, 0, 100000)
    assert second.metadata == {
        "initiated_via": {"welcome_message_id": "1876500000000000321"},
        "quick_reply_response": {"type": "options", "metadata": "csat-5"},
    }
    # profile_image_url (no _https) is the fallback avatar.
    assert second.profile == PersonProfile(
        display_name="Ria Rossi",
        screen_name="ria_r",
        avatar_url="http://pbs.twimg.com/profile_images/000/ria_normal.jpg",
    )
    assert isinstance(third, OutboundEcho)
    assert third.customer_id == SAM
    assert third.text == "Hi Sam, we're here."
    assert isinstance(fourth, InboundMessage)
    assert fourth.text == "Café ☕ ok, thanks!"


def test_a_missing_users_map_is_valid() -> None:
    assert parse(fixture("no_users_map.json")) == [
        InboundMessage(
            channel_id=BRAND,
            customer_id="42424242",
            external_id="1876543210987650010",
            text="no profile for me",
            sent_at=at(2026, 1, 1),
            profile=None,
        )
    ]


def test_typing_is_ignored_but_routed() -> None:
    assert parse(fixture("typing.json")) == [
        IgnoredEvent(channel_id=BRAND, kind="direct_message_indicate_typing_events")
    ]


def test_revoke_is_routed_to_the_brand() -> None:
    assert parse(fixture("revoke.json")) == [AccessRevoked(channel_id=BRAND)]


def test_a_deleted_tweet_names_the_post_and_its_author() -> None:
    assert parse(fixture("tweet_delete.json")) == [
        ContentDeleted(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876500000000000555",
            deleted_at=at(2026, 1, 1, 0, 5, 0),
            posted_at=at(2025, 1, 7, 5, 23, 58, 341000),  # from the id (a snowflake)
        )
    ]


def test_a_deleted_post_is_left_out_of_a_raw_body_and_the_rest_kept() -> None:
    other = tweet(id=1876500000000000999, id_str="1876500000000000999")
    payload: dict[str, Any] = {
        "for_user_id": BRAND,
        "tweet_create_events": [tweet(), other],
        "users": {},
    }
    deleted = "1876500000000000555"  # tweet()'s

    scrubbed = without_post(body(payload), deleted)

    assert scrubbed is not None
    assert json.loads(scrubbed) == {**payload, "tweet_create_events": [other]}
    assert without_post(scrubbed, deleted) is None  # nothing left to leave out
    assert without_post(fixture("dm_signed_example.json"), deleted) is None
    assert without_post(b"not json", deleted) is None


def test_copies_of_a_deleted_post_inside_other_events_go_too() -> None:
    deleted = tweet()
    quoting = tweet(id=2, id_str="2", quoted_status_id_str="1876500000000000555")
    quoting["quoted_status"] = deleted
    favorite = {"id": "f1", "favorited_status": deleted, "user": {"id_str": SAM}}
    payload = {
        "for_user_id": BRAND,
        "tweet_create_events": [quoting],
        "favorite_events": [favorite],
    }

    scrubbed = without_post(body(payload), "1876500000000000555")

    assert scrubbed is not None
    kept = json.loads(scrubbed)
    assert "quoted_status" not in kept["tweet_create_events"][0]
    assert kept["tweet_create_events"][0]["id_str"] == "2"  # the quoting post stays
    assert kept["favorite_events"] == [{"id": "f1", "user": {"id_str": SAM}}]


def test_a_deleted_xaa_post_keeps_its_envelope_only() -> None:
    post = {"id": "1876500000000001001", "author_id": SAM, "text": "@AcmeSupport help"}
    raw = xaa("post.mention.create", post, includes={"users": []})

    scrubbed = without_post(raw, "1876500000000001001")

    assert scrubbed is not None
    data = json.loads(scrubbed)["data"]
    assert (data["event_type"], data["payload"]) == ("post.mention.create", {})
    assert "includes" not in data
    assert b"help" not in scrubbed


def test_malformed_tweet_deletes_are_ignored_one_by_one() -> None:
    good = {"status": {"id_str": "2", "user_id_str": SAM, "id": 1}}  # *_str wins
    payload = {
        "for_user_id": BRAND,
        "tweet_delete_events": [1, {}, {"status": "x"}, {"status": {"id": "1"}}, good],
    }

    events = parse(body(payload))

    malformed = IgnoredEvent(channel_id=BRAND, kind="malformed_tweet_delete")
    assert events[:-1] == [malformed] * 4
    assert isinstance(events[-1], ContentDeleted)
    assert (events[-1].external_id, events[-1].customer_id) == ("2", SAM)
    assert parse(body({"for_user_id": BRAND, "tweet_delete_events": {}})) == [malformed]


def test_xaa_dm_received_unwraps_v2_users() -> None:
    assert parse(fixture("xaa_dm_received.json")) == [
        InboundMessage(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876543210987654321",
            text="hello!",
            sent_at=at(2026, 1, 1, 0, 0, 0, 123000),
            profile=SAM_PROFILE,
        )
    ]


def test_xaa_post_mention() -> None:
    assert parse(fixture("xaa_post_mention.json")) == [
        InboundMessage(
            channel_id=BRAND,
            customer_id=SAM,
            external_id="1876500000000000999",
            text="hey @AcmeSupport where is my parcel 4512?",
            sent_at=at(2026, 1, 1, 0, 0, 5),
            visibility="public",
            metadata={
                "tweet_id": "1876500000000000999",
                "in_reply_to_status_id": None,
                "display_text_range": [0, 41],
            },
            profile=SAM_PROFILE,
        )
    ]


def test_every_fixture_parses_through_the_adapter() -> None:
    connector = TwitterConnector()
    names = sorted(p.name for p in FIXTURES.glob("*.json"))

    assert len(names) >= 12
    for name in names:
        assert connector.parse(fixture(name)), name


# ---- envelopes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'[{"for_user_id": "1"}]',
        b'"a string"',
        b"null",
        b"42",
        b"{}",
        b'{"foo": 1}',
        b'{"for_user_id": null}',
        b'{"for_user_id": true}',
        b'{"for_user_id": ""}',
        b'{"for_user_id": 1.5}',
        b'{"for_user_id": ["1"]}',
        b'{"data": {"no": "event_type"}}',
        b'{"data": {"event_type": 7}}',
        b'{"data": "dm.received"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"for_user_id": ' + b"1" * 5000 + b"}",
    ],
)
def test_not_an_x_envelope_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidPayloadError):
        parse(raw)


def test_numeric_for_user_id_becomes_a_string() -> None:
    [event] = parse(body({"for_user_id": int(BRAND), "direct_message_events": [dm()]}))

    assert isinstance(event, InboundMessage)
    assert event.channel_id == BRAND


def test_an_envelope_without_events_is_an_empty_list() -> None:
    assert parse(body({"for_user_id": BRAND})) == []
    assert parse(body({"for_user_id": BRAND, "users": {}})) == []


@pytest.mark.parametrize(
    "key",
    [
        "direct_message_mark_read_events",
        "favorite_events",
        "follow_events",
        "block_events",
        "mute_events",
        "something_new_from_x",
    ],
)
def test_other_aaa_keys_are_ignored_but_routed(key: str) -> None:
    assert parse(body({"for_user_id": BRAND, key: [{"id": "1"}]})) == [
        IgnoredEvent(channel_id=BRAND, kind=key)
    ]


def test_mixed_keys_keep_payload_order() -> None:
    payload = {
        "for_user_id": BRAND,
        "tweet_create_events": [tweet()],
        "favorite_events": [{}],
        "direct_message_events": [dm()],
    }

    assert [type(e).__name__ for e in parse(body(payload))] == [
        "InboundMessage",
        "IgnoredEvent",
        "InboundMessage",
    ]


# ---- direct messages -----------------------------------------------------------------------


def test_malformed_items_are_ignored_one_by_one() -> None:
    broken_text = dm(event_id="2")
    broken_text["message_create"]["message_data"]["text"] = 42
    payload = {
        "for_user_id": BRAND,
        "direct_message_events": [
            1,
            "x",
            None,
            {},
            {"type": "message_create"},
            {"type": "reaction_create", "id": "9"},
            dm(ts="not a timestamp"),
            dm(ts="9" * 16),  # past year 9999
            dm(sender=""),
            broken_text,
            dm(event_id="1876543210987650999", text="still here"),
        ],
    }

    events = parse(body(payload))

    assert events[:-1] == [
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="unsupported_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="unsupported_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
    ]
    assert isinstance(events[-1], InboundMessage)
    assert events[-1].text == "still here"


def test_event_arrays_of_the_wrong_type_are_ignored() -> None:
    payload = {"for_user_id": BRAND, "direct_message_events": {}, "tweet_create_events": "x"}

    assert parse(body(payload)) == [
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message"),
        IgnoredEvent(channel_id=BRAND, kind="malformed_tweet"),
    ]


def test_integer_ids_and_timestamps_are_accepted() -> None:
    event = dm(ts=1767225600000)
    event["id"] = 1876543210987650100
    event["message_create"]["sender_id"] = int(SAM)

    [parsed] = parse(body({"for_user_id": BRAND, "direct_message_events": [event]}))

    assert isinstance(parsed, InboundMessage)
    assert (parsed.external_id, parsed.customer_id) == ("1876543210987650100", SAM)
    assert parsed.sent_at == at(2026, 1, 1)


def test_text_is_kept_exactly() -> None:
    text = "  <b>order</b> #4512 \n\t@AcmeSupport https://t.co/x \u00fc\U0001f600  "

    [event] = parse(body({"for_user_id": BRAND, "direct_message_events": [dm(text=text)]}))

    assert isinstance(event, InboundMessage)
    assert event.text == text


def test_the_brand_writing_to_itself_is_ignored() -> None:
    payload = {"for_user_id": BRAND, "direct_message_events": [dm(sender=BRAND)]}

    assert parse(body(payload)) == [IgnoredEvent(channel_id=BRAND, kind="self_direct_message")]


def test_an_echo_without_a_recipient_is_ignored() -> None:
    event = dm(sender=BRAND)
    del event["message_create"]["target"]

    assert parse(body({"for_user_id": BRAND, "direct_message_events": [event]})) == [
        IgnoredEvent(channel_id=BRAND, kind="malformed_direct_message")
    ]


def test_source_app_id_does_not_make_a_received_dm_an_echo() -> None:
    event = dm()
    event["message_create"]["source_app_id"] = "268278"
    payload = {"for_user_id": BRAND, "direct_message_events": [event], "apps": {"268278": {}}}

    [parsed] = parse(body(payload))

    assert isinstance(parsed, InboundMessage)


def test_location_attachment_is_kept_as_data() -> None:
    event = dm()
    location = {"type": "shared_place", "shared_place": {"place": {"id": "abc"}}}
    event["message_create"]["message_data"]["attachment"] = {
        "type": "location",
        "location": location,
    }

    [parsed] = parse(body({"for_user_id": BRAND, "direct_message_events": [event]}))

    assert isinstance(parsed, InboundMessage)
    assert parsed.attachments == (Attachment(type="location", data=location),)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"user_has_blocked": True}, {"user_has_blocked": True}),
        ({"user_has_blocked": "true"}, {"user_has_blocked": True}),
        ({"user_has_blocked": "false"}, {"user_has_blocked": False}),
        ({"user_has_blocked": False}, {"user_has_blocked": False}),
        ({"is_blocked_by": True}, {"user_has_blocked": True}),
        ({"is_blocked_by": "true"}, {"user_has_blocked": True}),
        ({"user_has_blocked": "false", "is_blocked_by": "true"}, {"user_has_blocked": True}),
        ({"user_has_blocked": "maybe"}, {}),
        ({"user_has_blocked": 1}, {}),
        ({}, {}),
    ],
)
def test_blocked_flag_in_both_names_and_types(
    flags: dict[str, object], expected: dict[str, bool]
) -> None:
    payload = {"for_user_id": BRAND, **flags, "direct_message_events": [dm()]}
    mention = {"for_user_id": BRAND, **flags, "tweet_create_events": [tweet()]}

    [message] = parse(body(payload))
    [public] = parse(body(mention))

    assert isinstance(message, InboundMessage)
    assert isinstance(public, InboundMessage)
    assert message.metadata == expected
    assert {k: v for k, v in public.metadata.items() if k == "user_has_blocked"} == expected


# ---- tweets --------------------------------------------------------------------------------


def test_id_str_is_used_never_the_numeric_id() -> None:
    # The float-rounded value X clients used to see: must not leak into our ids.
    exact = tweet(id=1876500000000000512, id_str="1876500000000000555")
    numeric_only = tweet(id_str=None)

    events = parse(body({"for_user_id": BRAND, "tweet_create_events": [exact, numeric_only]}))

    assert isinstance(events[0], InboundMessage)
    assert events[0].external_id == "1876500000000000555"
    assert events[0].metadata["tweet_id"] == "1876500000000000555"
    assert events[1] == IgnoredEvent(channel_id=BRAND, kind="malformed_tweet")


def test_a_reply_to_the_brand_without_a_mention_counts() -> None:
    reply = tweet(
        text="still nothing",
        entities={"user_mentions": []},
        in_reply_to_status_id_str="1876500000000000777",
        in_reply_to_user_id_str=BRAND,
    )

    [event] = parse(body({"for_user_id": BRAND, "tweet_create_events": [reply]}))

    assert isinstance(event, InboundMessage)
    assert event.metadata["in_reply_to_status_id"] == "1876500000000000777"


def test_a_quote_of_the_brand_counts() -> None:
    quote = tweet(
        text="look at this",
        entities={"user_mentions": []},
        quoted_status_id_str="1876500000000000777",
        quoted_status={"id_str": "1876500000000000777", "user": {"id_str": BRAND}},
    )

    [event] = parse(body({"for_user_id": BRAND, "tweet_create_events": [quote]}))

    assert isinstance(event, InboundMessage)
    assert event.metadata["quoted_status_id"] == "1876500000000000777"


def test_tweets_not_addressed_to_the_brand_are_ignored() -> None:
    other = tweet(entities={"user_mentions": [{"id_str": "111"}]}, in_reply_to_user_id_str="111")

    assert parse(body({"for_user_id": BRAND, "tweet_create_events": [other]})) == [
        IgnoredEvent(channel_id=BRAND, kind="unaddressed_tweet")
    ]


def test_retweets_are_ignored() -> None:
    retweet = tweet(text="RT @AcmeSupport: sale!", retweeted_status={"id_str": "1"})

    assert parse(body({"for_user_id": BRAND, "tweet_create_events": [retweet]})) == [
        IgnoredEvent(channel_id=BRAND, kind="retweet")
    ]


def test_the_brand_threading_its_own_posts_is_ignored() -> None:
    own = tweet(user={"id_str": BRAND}, in_reply_to_user_id_str=BRAND)

    assert parse(body({"for_user_id": BRAND, "tweet_create_events": [own]})) == [
        IgnoredEvent(channel_id=BRAND, kind="own_tweet")
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp_ms": "1767225605123"}, at(2026, 1, 1, 0, 0, 5, 123000)),
        ({"created_at": "Thu Jan 01 00:00:05 +0000 2026"}, at(2026, 1, 1, 0, 0, 5)),
        ({"created_at": "Thu Jan 01 02:00:05 +0200 2026"}, at(2026, 1, 1, 0, 0, 5)),
        ({"created_at": "Wed Dec 31 19:00:05 -0500 2025"}, at(2026, 1, 1, 0, 0, 5)),
    ],
)
def test_tweet_timestamps(fields: dict[str, str], expected: datetime) -> None:
    item = tweet(**fields)
    if "timestamp_ms" in fields:
        del item["created_at"]

    [event] = parse(body({"for_user_id": BRAND, "tweet_create_events": [item]}))

    assert isinstance(event, InboundMessage)
    assert event.sent_at == expected
    assert event.sent_at.utcoffset() is not None


@pytest.mark.parametrize(
    "created_at",
    [
        "",
        "yesterday",
        "Thu Foo 01 00:00:05 +0000 2026",
        "Thu Feb 30 00:00:05 +0000 2026",
        "Thu Jan 01 25:00:05 +0000 2026",
        "Thu Jan 01 00:00:05 +2500 2026",
        "Thu Jan 01 00:00 +0000 2026",
        "Thu Jan \u0660\u0661 00:00:05 +0000 2026",
        1767225605,
    ],
)
def test_unreadable_tweet_dates_make_the_tweet_malformed(created_at: object) -> None:
    item = tweet(created_at=created_at)

    assert parse(body({"for_user_id": BRAND, "tweet_create_events": [item]})) == [
        IgnoredEvent(channel_id=BRAND, kind="malformed_tweet")
    ]


# ---- XAA -----------------------------------------------------------------------------------


def xaa(event_type: str, payload: object, **extra: object) -> bytes:
    return body(
        {
            "data": {
                "event_uuid": "-1",
                "filter": {"user_id": BRAND},
                "event_type": event_type,
                "payload": payload,
                **extra,
            }
        }
    )


def test_xaa_dm_sent_is_an_echo() -> None:
    raw = xaa("dm.sent", {"direct_message_events": [dm(sender=BRAND, recipient=SAM)]})

    [event] = parse(raw)

    assert isinstance(event, OutboundEcho)
    assert (event.channel_id, event.customer_id) == (BRAND, SAM)


def test_xaa_reply_from_the_brand_is_a_public_echo() -> None:
    post = {
        "id": "1876500000000001000",
        "author_id": BRAND,
        "text": "@samcustomer on it",
        "created_at": "2026-01-01T00:10:00.000Z",
        "in_reply_to_user_id": SAM,
        "referenced_tweets": [{"type": "replied_to", "id": "1876500000000000999"}],
    }
    users = [{"data": {"id": SAM, "username": "samcustomer", "name": "Sam Customer"}}]

    [event] = parse(xaa("post.reply.create", post, includes={"users": users}))

    assert event == OutboundEcho(
        channel_id=BRAND,
        customer_id=SAM,
        external_id="1876500000000001000",
        text="@samcustomer on it",
        sent_at=at(2026, 1, 1, 0, 10),
        visibility="public",
        profile=PersonProfile(display_name="Sam Customer", screen_name="samcustomer"),
        metadata={
            "tweet_id": "1876500000000001000",
            "in_reply_to_status_id": "1876500000000000999",
        },
    )


def test_xaa_long_post_uses_the_note_tweet_text() -> None:
    post = {
        "id": "1876500000000001001",
        "author_id": SAM,
        "text": "@AcmeSupport short preview…",
        "note_tweet": {"text": "@AcmeSupport the whole long story"},
        "created_at": "2026-01-01T00:10:00Z",
        "referenced_tweets": [{"type": "replied_to", "id": "1876500000000000777"}],
    }

    [event] = parse(xaa("post.mention.create", post))

    assert isinstance(event, InboundMessage)
    assert event.text == "@AcmeSupport the whole long story"
    assert event.metadata["in_reply_to_status_id"] == "1876500000000000777"
    assert event.profile is None


@pytest.mark.parametrize(
    "event_type", ["dm.read", "dm.indicate_typing", "chat.received", "like.create"]
)
def test_other_xaa_types_are_ignored_but_routed(event_type: str) -> None:
    assert parse(xaa(event_type, {"anything": 1})) == [
        IgnoredEvent(channel_id=BRAND, kind=event_type)
    ]


def test_xaa_revoke_with_an_empty_filter_routes_by_the_payload_user() -> None:
    raw = body(
        {
            "data": {
                "event_uuid": "5934540941047412905",
                "filter": {},
                "event_type": "oauth.revoke",
                "payload": {"date_time": "2026-07-23T21:44:05+00:00", "user_id": BRAND},
            }
        }
    )

    assert parse(raw) == [AccessRevoked(channel_id=BRAND)]


def test_xaa_dm_without_a_filtered_user_cannot_be_routed() -> None:
    raw = body(
        {"data": {"event_type": "dm.received", "payload": {"direct_message_events": [dm()]}}}
    )

    assert parse(raw) == [IgnoredEvent(channel_id=None, kind="dm.received")]


# ---- properties ----------------------------------------------------------------------------

EVENT_TYPES = (InboundMessage, OutboundEcho, StatusWatermark, ReferralEvent, IgnoredEvent)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# Well-formed building blocks: the generators below start from plausible X objects and then
# corrupt a few random spots, so the deep paths (echo vs customer, mentions, timestamps,
# profiles) are exercised, not only the first type check.
people = st.sampled_from([BRAND, SAM, "555000111"])
event_ids = st.integers(10**17, 10**19).map(str)
millis = st.integers(0, 4 * 10**12).map(str)
moments = st.integers(946_684_800, 4_102_444_800).map(lambda s: datetime.fromtimestamp(s, tz=UTC))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def v1_date(moment: datetime) -> str:
    """X's v1.1 created_at, spelled out by hand (strftime's %a/%b follow the locale)."""
    return (
        f"{WEEKDAYS[moment.weekday()]} {MONTHS[moment.month - 1]} "
        f"{moment:%d %H:%M:%S} +0000 {moment.year}"
    )


v1_dates = moments.map(v1_date)
iso_dates = moments.map(lambda d: d.isoformat().replace("+00:00", "Z"))
optional_people = st.none() | people
v1_users = st.fixed_dictionaries(
    {"id_str": people},
    optional={
        "name": st.text(max_size=20),
        "screen_name": st.text(max_size=15),
        "profile_image_url_https": st.text(max_size=20),
        "profile_image_url": st.text(max_size=20),
    },
)
v2_users = st.fixed_dictionaries(
    {"id": people},
    optional={"name": st.text(max_size=20), "username": st.text(max_size=15)},
)
user_maps = st.dictionaries(
    people, v1_users | v2_users | st.builds(lambda u: {"data": u}, v2_users)
)
v1_mentions = st.fixed_dictionaries(
    {"user_mentions": st.lists(st.fixed_dictionaries({"id_str": people}), max_size=2)}
)
valid_direct_messages = st.fixed_dictionaries(
    {
        "type": st.just("message_create"),
        "id": event_ids,
        "created_timestamp": millis,
        "message_create": st.fixed_dictionaries(
            {
                "target": st.fixed_dictionaries({"recipient_id": people}),
                "sender_id": people,
                "message_data": st.fixed_dictionaries(
                    {"text": st.text()},
                    optional={
                        "quick_reply_response": json_values,
                        "attachment": st.fixed_dictionaries(
                            {"type": st.sampled_from(["media", "location"])},
                            optional={
                                "media": st.fixed_dictionaries(
                                    {"type": st.sampled_from(["photo", "video"])},
                                    optional={
                                        "media_url_https": st.text(max_size=20),
                                        "id_str": event_ids,
                                    },
                                ),
                                "location": json_values,
                            },
                        ),
                    },
                ),
            },
            optional={"source_app_id": st.text(max_size=8)},
        ),
    },
    optional={
        "initiated_via": st.fixed_dictionaries(
            {}, optional={"tweet_id": event_ids, "welcome_message_id": event_ids}
        )
    },
)
valid_tweets = st.fixed_dictionaries(
    {
        "id_str": event_ids,
        "text": st.text(),
        "created_at": v1_dates,
        "user": v1_users,
        "entities": v1_mentions,
        "in_reply_to_user_id_str": optional_people,
        "in_reply_to_status_id_str": st.none() | event_ids,
    },
    optional={
        "id": st.integers(10**17, 10**19),
        "truncated": st.booleans(),
        "extended_tweet": st.fixed_dictionaries(
            {"full_text": st.text()},
            optional={
                "display_text_range": st.lists(st.integers(0, 300), min_size=2, max_size=2),
                "entities": v1_mentions,
            },
        ),
        "timestamp_ms": millis,
        "display_text_range": st.lists(st.integers(0, 300), min_size=2, max_size=2),
        "in_reply_to_screen_name": st.text(max_size=15),
        "quoted_status": st.fixed_dictionaries({"user": v1_users}),
        "retweeted_status": st.builds(lambda: {"id_str": "1"}),
    },
)
valid_v2_posts = st.fixed_dictionaries(
    {
        "id": event_ids,
        "author_id": people,
        "text": st.text(),
        "created_at": iso_dates,
    },
    optional={
        "note_tweet": st.fixed_dictionaries({"text": st.text()}),
        "in_reply_to_user_id": people,
        "display_text_range": st.lists(st.integers(0, 300), min_size=2, max_size=2),
        "referenced_tweets": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["replied_to", "quoted", "retweeted"]),
                    "id": event_ids,
                }
            ),
            max_size=2,
        ),
    },
)
valid_aaa_envelopes = st.fixed_dictionaries(
    {"for_user_id": st.just(BRAND) | st.just(int(BRAND))},
    optional={
        "direct_message_events": st.lists(valid_direct_messages, max_size=4),
        "tweet_create_events": st.lists(valid_tweets, max_size=4),
        "users": user_maps,
        "user_has_blocked": st.sampled_from([True, False, "true", "false", "TRUE", ""]),
        "is_blocked_by": st.sampled_from([True, False, "true", "false"]),
        "favorite_events": json_values,
    },
)
valid_xaa_envelopes = st.one_of(
    st.builds(
        lambda event_type, dms, users, user_id: {
            "data": {
                "event_uuid": "-1",
                "filter": {"user_id": user_id},
                "event_type": event_type,
                "payload": {"direct_message_events": dms, "users": users},
            }
        },
        st.sampled_from(["dm.received", "dm.sent"]),
        st.lists(valid_direct_messages, max_size=3),
        user_maps,
        st.just(BRAND),
    ),
    st.builds(
        lambda event_type, post, users: {
            "data": {
                "filter": {"user_id": BRAND},
                "event_type": event_type,
                "payload": post,
                "includes": {"users": users},
            }
        },
        st.sampled_from(["post.mention.create", "post.reply.create"]),
        valid_v2_posts,
        st.lists(v2_users | st.builds(lambda u: {"data": u}, v2_users), max_size=3),
    ),
    st.builds(
        lambda event_type, payload: {
            "data": {"filter": {}, "event_type": event_type, "payload": payload}
        },
        st.sampled_from(["oauth.revoke", "chat.received", "dm.read"]),
        json_values,
    ),
)


def _paths(value: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a JSON value, the value itself included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def corrupted(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid object with up to three spots replaced by arbitrary JSON or removed.

    Works on a deep copy: drawn values can be shared between examples (st.just), and
    mutating them in place would make generation inconsistent.
    """
    value = copy.deepcopy(draw(valid))
    for _ in range(draw(st.integers(0, 3))):
        paths = [path for path in _paths(value) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return value


aaa_envelopes = corrupted(valid_aaa_envelopes)
xaa_envelopes = corrupted(valid_xaa_envelopes)


def assert_parses_or_is_invalid(raw: bytes) -> None:
    try:
        events = parse(raw)
    except InvalidPayloadError:
        return
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, EVENT_TYPES)
        if isinstance(event, InboundMessage | OutboundEcho):
            assert isinstance(event.channel_id, str)
            assert event.channel_id
            assert isinstance(event.customer_id, str)
            assert event.customer_id
            assert event.customer_id != event.channel_id
            assert isinstance(event.external_id, str)
            assert event.external_id
            assert isinstance(event.text, str)
            assert event.sent_at.utcoffset() is not None
        else:
            assert event.channel_id is None or isinstance(event.channel_id, str)


PROPERTY_SETTINGS = hypothesis_settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(moments)
def test_v1_created_at_round_trips(moment: datetime) -> None:
    item = tweet(created_at=v1_date(moment))

    [event] = parse(body({"for_user_id": BRAND, "tweet_create_events": [item]}))

    assert isinstance(event, InboundMessage)
    assert event.sent_at == moment


@PROPERTY_SETTINGS
@given(json_values)
def test_any_json_value_parses_or_is_invalid(value: object) -> None:
    assert_parses_or_is_invalid(json.dumps(value).encode())


@PROPERTY_SETTINGS
@given(aaa_envelopes)
def test_any_aaa_like_envelope_parses_or_is_invalid(envelope: dict[str, Any]) -> None:
    assert_parses_or_is_invalid(json.dumps(envelope).encode())


@PROPERTY_SETTINGS
@given(xaa_envelopes)
def test_any_xaa_like_envelope_parses_or_is_invalid(envelope: dict[str, Any]) -> None:
    assert_parses_or_is_invalid(json.dumps(envelope).encode())


@PROPERTY_SETTINGS
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_are_invalid(raw: bytes) -> None:
    assert_parses_or_is_invalid(raw)


@PROPERTY_SETTINGS
@given(corrupted(valid_aaa_envelopes.map(lambda e: {"body": e})))
def test_an_aaa_envelope_with_a_usable_for_user_id_never_raises(wrapper: dict[str, Any]) -> None:
    # Items may be broken, but the envelope is X's: every item is absorbed, none raises.
    envelope = wrapper.get("body")
    if not isinstance(envelope, dict):
        envelope = {}
    envelope["for_user_id"] = BRAND

    events = parse(json.dumps(envelope).encode())

    assert all(isinstance(event, EVENT_TYPES) for event in events)
    assert all(event.channel_id == BRAND for event in events)


@PROPERTY_SETTINGS
@given(valid_aaa_envelopes)
def test_well_formed_items_become_one_event_each(envelope: dict[str, Any]) -> None:
    events = parse(json.dumps(envelope).encode())
    items = len(envelope.get("direct_message_events", [])) + len(
        envelope.get("tweet_create_events", [])
    )

    assert len(events) == items + ("favorite_events" in envelope)
    for event in events:
        if isinstance(event, InboundMessage | OutboundEcho):
            assert event.customer_id != BRAND
