"""No well-signed body of any shape gets a 500 from either webhook endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.connectors.conftest import BRAND_X_ID, PAGE_ID, post_webhook
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
ids = st.sampled_from([PAGE_ID, BRAND_X_ID, "1", "", 0, None])
item = st.fixed_dictionaries(
    {"sender": st.fixed_dictionaries({"id": ids}), "recipient": st.fixed_dictionaries({"id": ids})},
    optional={
        "timestamp": st.integers() | st.text(max_size=15),
        "message": json_values,
        "delivery": json_values,
        "read": json_values,
        "postback": json_values,
        "referral": json_values,
    },
)
messenger_envelopes = st.fixed_dictionaries(
    {
        "object": st.just("page"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {"id": ids},
                optional={"messaging": st.lists(item, max_size=3), "standby": json_values},
            ),
            max_size=3,
        ),
    }
)
x_envelopes = st.fixed_dictionaries(
    {"for_user_id": ids},
    optional={
        "direct_message_events": st.lists(json_values, max_size=3),
        "tweet_create_events": st.lists(json_values, max_size=3),
        "users": json_values,
    },
)
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | messenger_envelopes.map(lambda v: json.dumps(v).encode())
    | x_envelopes.map(lambda v: json.dumps(v).encode())
)


@pytest.fixture
def channels() -> None:
    ChannelFactory(kind="messenger", external_id=PAGE_ID)
    ChannelFactory(kind="twitter", external_id=BRAND_X_ID)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, kind=st.sampled_from(["messenger", "twitter"]))
def test_no_well_signed_body_gets_a_500(
    client: Client, channels: Any, body: bytes, kind: str
) -> None:
    response = post_webhook(client, kind, body)
    assert response.status_code in (200, 400), (response.status_code, body)
