"""CRC handshake and webhook signature checks, against the vectors in PROTOCOLS.md section 4.

Signatures here are computed with hmac/hashlib directly, not with the adapter's helper, so a
bug in that helper cannot make its own test pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

import connectors.twitter
from connectors.registry import connector_for
from connectors.twitter.adapter import TwitterConnector

FIXTURES = Path(connectors.twitter.__file__).parent / "fixtures"
CONSUMER_SECRET = "Kq3vT9zR1pLm7Xc2Wn8Yb5Hd0Fg4Js6Ua1Ve3Ti9Oo2Pp7Qr"
OAUTH2_SECRET = "oauth2-client-secret-Vb7Nq2Lx9Rt4Kp1Zs8Mw3Jd6Hf0Gc5Ye"
CRC_TOKEN = "Zm9vYmFyLWNyYy10b2tlbi0xNzY3MjI1NjAw"
CRC_RESPONSE = "sha256=5qFYh7uqb1UcuNa/pG3u/Rv/IUqBrXK4Niig5PXr3No="
SIGNED_BODY = (FIXTURES / "dm_signed_example.json").read_bytes()
BODY_SIGNATURE = "sha256=/P7zuhCxamaOmwYHcMmbnejbrybXqcZZ842bLI6NbKc="
BODY_SIGNATURE_HEX = "sha256=fcfef3ba10b16a668e9b060770c99b9de8dbaf26d7a9c659f38d9b2c8e8d6ca7"
LEGACY = "x-twitter-webhooks-signature"
OAUTH2 = "x-twitter-webhooks-signature-oauth2"


# pytest-django's `settings` fixture type is not public API (renamed across releases): Any.


def sign(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


@pytest.fixture
def connector() -> TwitterConnector:
    return TwitterConnector()


@pytest.fixture
def consumer_only(settings: Any) -> None:
    settings.TWITTER_CONSUMER_SECRET = CONSUMER_SECRET
    settings.TWITTER_OAUTH2_CLIENT_SECRET = ""


@pytest.fixture
def oauth2_only(settings: Any) -> None:
    settings.TWITTER_CONSUMER_SECRET = ""
    settings.TWITTER_OAUTH2_CLIENT_SECRET = OAUTH2_SECRET


@pytest.fixture
def both_secrets(settings: Any) -> None:
    settings.TWITTER_CONSUMER_SECRET = CONSUMER_SECRET
    settings.TWITTER_OAUTH2_CLIENT_SECRET = OAUTH2_SECRET


@pytest.fixture
def no_secrets(settings: Any) -> None:
    settings.TWITTER_CONSUMER_SECRET = ""
    settings.TWITTER_OAUTH2_CLIENT_SECRET = ""


def test_the_fixture_is_the_458_byte_worked_example() -> None:
    assert len(SIGNED_BODY) == 458
    assert SIGNED_BODY.startswith(b'{"for_user_id":"1290000000000000001"')
    assert not SIGNED_BODY.endswith(b"\n")


def test_registry_serves_this_adapter() -> None:
    assert isinstance(connector_for("twitter"), TwitterConnector)


def test_kept_headers_include_both_signatures(connector: TwitterConnector) -> None:
    assert connector.kept_headers == (LEGACY, OAUTH2, "content-type", "user-agent")


# ---- CRC ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("consumer_only")
def test_crc_with_the_consumer_secret_matches_the_vector(connector: TwitterConnector) -> None:
    answer = connector.handshake({"crc_token": CRC_TOKEN})

    assert answer.status == 200
    assert answer.content_type == "application/json"
    assert answer.body == '{"response_token": "' + CRC_RESPONSE + '"}'
    assert json.loads(answer.body) == {"response_token": CRC_RESPONSE}


@pytest.mark.usefixtures("both_secrets")
def test_crc_uses_the_oauth2_client_secret_when_set(connector: TwitterConnector) -> None:
    answer = connector.handshake({"crc_token": CRC_TOKEN})

    assert answer.status == 200
    token = json.loads(answer.body)["response_token"]
    assert token == sign(OAUTH2_SECRET, CRC_TOKEN.encode())
    assert token != CRC_RESPONSE


@pytest.mark.usefixtures("oauth2_only")
def test_crc_with_only_the_oauth2_client_secret(connector: TwitterConnector) -> None:
    answer = connector.handshake({"crc_token": CRC_TOKEN})

    assert answer.status == 200
    assert json.loads(answer.body) == {"response_token": sign(OAUTH2_SECRET, CRC_TOKEN.encode())}


@pytest.mark.usefixtures("consumer_only")
@pytest.mark.parametrize("query", [{}, {"crc_token": ""}, {"hub.challenge": "x"}])
def test_crc_without_a_token_is_a_bad_request(
    connector: TwitterConnector, query: dict[str, str]
) -> None:
    answer = connector.handshake(query)

    assert answer.status == 400
    assert answer.content_type == "text/plain"
    assert "response_token" not in answer.body


@pytest.mark.usefixtures("no_secrets")
def test_crc_without_any_secret_is_refused(connector: TwitterConnector) -> None:
    answer = connector.handshake({"crc_token": CRC_TOKEN})

    assert answer.status == 403
    assert answer.content_type == "text/plain"
    assert "response_token" not in answer.body


def test_crc_reads_settings_at_call_time(connector: TwitterConnector, settings: Any) -> None:
    settings.TWITTER_OAUTH2_CLIENT_SECRET = ""
    settings.TWITTER_CONSUMER_SECRET = CONSUMER_SECRET
    first = json.loads(connector.handshake({"crc_token": CRC_TOKEN}).body)
    settings.TWITTER_OAUTH2_CLIENT_SECRET = OAUTH2_SECRET
    second = json.loads(connector.handshake({"crc_token": CRC_TOKEN}).body)

    assert first["response_token"] == CRC_RESPONSE
    assert second["response_token"] == sign(OAUTH2_SECRET, CRC_TOKEN.encode())


# ---- event signatures --------------------------------------------------------------------


@pytest.mark.usefixtures("consumer_only")
@pytest.mark.parametrize(
    "name", [LEGACY, "X-Twitter-Webhooks-Signature", "X-TWITTER-WEBHOOKS-SIGNATURE"]
)
def test_the_event_vector_verifies(connector: TwitterConnector, name: str) -> None:
    assert connector.verify(SIGNED_BODY, {name: BODY_SIGNATURE})


@pytest.mark.usefixtures("consumer_only")
def test_our_independent_signer_agrees_with_the_vector() -> None:
    assert sign(CONSUMER_SECRET, SIGNED_BODY) == BODY_SIGNATURE


@pytest.mark.usefixtures("consumer_only")
@pytest.mark.parametrize(
    "header",
    [
        BODY_SIGNATURE_HEX,  # Meta's hex format, wrong for X
        BODY_SIGNATURE.removeprefix("sha256="),  # missing prefix
        BODY_SIGNATURE.replace("sha256=", "sha1="),
        BODY_SIGNATURE[:-2] + "A=",
        "",
        "sha256=",
        "sha256=ünïcödé",  # non-ASCII must be a clean False, not a TypeError
    ],
)
def test_wrong_signatures_are_rejected(connector: TwitterConnector, header: str) -> None:
    assert not connector.verify(SIGNED_BODY, {LEGACY: header})


@pytest.mark.usefixtures("consumer_only")
def test_missing_headers_are_rejected(connector: TwitterConnector) -> None:
    assert not connector.verify(SIGNED_BODY, {})
    assert not connector.verify(SIGNED_BODY, {"content-type": "application/json"})
    # Meta's header name carries nothing for X.
    assert not connector.verify(SIGNED_BODY, {"x-hub-signature-256": BODY_SIGNATURE})


@pytest.mark.usefixtures("consumer_only")
def test_the_signature_covers_the_exact_bytes(connector: TwitterConnector) -> None:
    reserialised = json.dumps(json.loads(SIGNED_BODY), indent=2).encode()
    tampered = SIGNED_BODY.replace(b"refund", b"REFUND")

    assert not connector.verify(reserialised, {LEGACY: BODY_SIGNATURE})
    assert not connector.verify(tampered, {LEGACY: BODY_SIGNATURE})
    assert not connector.verify(SIGNED_BODY + b"\n", {LEGACY: BODY_SIGNATURE})


@pytest.mark.usefixtures("oauth2_only")
def test_the_oauth2_header_alone_verifies_with_only_the_oauth2_secret(
    connector: TwitterConnector,
) -> None:
    header = sign(OAUTH2_SECRET, SIGNED_BODY)

    assert connector.verify(SIGNED_BODY, {OAUTH2: header})
    assert connector.verify(SIGNED_BODY, {"X-Twitter-Webhooks-Signature-OAuth2": header})


@pytest.mark.usefixtures("oauth2_only")
def test_each_header_is_checked_against_its_own_secret_only(
    connector: TwitterConnector,
) -> None:
    # The legacy header is useless without a consumer secret, even when it carries the
    # vector or a digest made with the OAuth2 secret.
    assert not connector.verify(SIGNED_BODY, {LEGACY: BODY_SIGNATURE})
    assert not connector.verify(SIGNED_BODY, {LEGACY: sign(OAUTH2_SECRET, SIGNED_BODY)})
    # And the OAuth2 header does not accept a consumer-secret digest.
    assert not connector.verify(SIGNED_BODY, {OAUTH2: BODY_SIGNATURE})


@pytest.mark.usefixtures("both_secrets")
@pytest.mark.parametrize(
    ("legacy", "oauth2", "accepted"),
    [
        (BODY_SIGNATURE, None, True),
        (None, "valid", True),
        (BODY_SIGNATURE, "valid", True),
        (BODY_SIGNATURE, "sha256=bogus", True),
        ("sha256=bogus", "valid", True),
        ("sha256=bogus", "sha256=bogus", False),
        (None, None, False),
    ],
)
def test_either_valid_header_is_enough_when_both_secrets_are_set(
    connector: TwitterConnector, legacy: str | None, oauth2: str | None, accepted: bool
) -> None:
    headers: dict[str, str] = {}
    if legacy is not None:
        headers[LEGACY] = legacy
    if oauth2 is not None:
        headers[OAUTH2] = sign(OAUTH2_SECRET, SIGNED_BODY) if oauth2 == "valid" else oauth2

    assert connector.verify(SIGNED_BODY, headers) is accepted


@pytest.mark.usefixtures("no_secrets")
def test_nothing_verifies_when_no_secret_is_configured(connector: TwitterConnector) -> None:
    # An empty HMAC key is one anyone can use: it must not count as configured.
    assert not connector.verify(SIGNED_BODY, {LEGACY: sign("", SIGNED_BODY)})
    assert not connector.verify(SIGNED_BODY, {OAUTH2: sign("", SIGNED_BODY)})
    assert not connector.verify(SIGNED_BODY, {LEGACY: BODY_SIGNATURE})


def test_the_crc_never_signs_a_webhook_body(settings: Any) -> None:
    """Answering a JSON body as a CRC token would let anyone forge signed events."""
    settings.TWITTER_CONSUMER_SECRET = "forgery-test-secret"
    body = '{"for_user_id":"1","direct_message_events":[]}'
    answer = connector_for("twitter").handshake({"crc_token": body})
    assert answer.status == 400
    assert "response_token" not in answer.body
