"""X-Hub-Signature-256 and the hub.challenge handshake, against PROTOCOLS 1.1, 1.2 and 4."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.http.request import HttpHeaders

from connectors.messenger.adapter import MessengerConnector
from connectors.messenger.fixtures import load

SECRET = "7c1f0e5b9a2d4e6f8a0b1c2d3e4f5a6b"
EXAMPLE_1 = "sha256=0a4f390e2ebd0af60e6af56f1f4207794a3866e392f3a13d59f0d6e48688de51"
EXAMPLE_2 = "sha256=ed56d439e55fcf87ce38f4772ccfca1865808f813c11dbf70ab30d0636f3ed36"
EXAMPLE_2_REENCODED = "sha256=8d8a9046358b10f7d2893a6c2f641d6aa5fd2f6637c640e9d590bb85d3f92451"

connector = MessengerConnector()


@pytest.fixture(autouse=True)
def meta_settings(settings: Any) -> Any:
    settings.META_APP_SECRET = SECRET
    settings.META_VERIFY_TOKEN = "my-verify-token"
    settings.META_APP_ID = "1517776481860111"
    return settings


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}"}


# ---- PROTOCOLS section 4 vectors -----------------------------------------------------------


def test_example_1_is_the_documented_270_bytes_and_verifies() -> None:
    body = load("text_message")
    assert len(body) == 270
    assert not body.endswith(b"\n")
    assert connector.verify(body, {"X-Hub-Signature-256": EXAMPLE_1})


def test_example_2_verifies_on_the_raw_escaped_bytes() -> None:
    body = load("escaped_unicode")
    assert rb"Gr\u00fc\u00dfe aus K\u00f6ln" in body  # the six characters are literal
    assert connector.verify(body, {"X-Hub-Signature-256": EXAMPLE_2})


def test_example_2_reencoded_as_utf8_does_not_verify() -> None:
    raw = load("escaped_unicode")
    reencoded = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
    assert "Grüße aus Köln".encode() in reencoded
    # The re-encoding is exactly PROTOCOLS' "wrong" body: its HMAC is the documented wrong one.
    assert signed(reencoded)["X-Hub-Signature-256"] == EXAMPLE_2_REENCODED
    assert not connector.verify(reencoded, {"X-Hub-Signature-256": EXAMPLE_2})
    assert not connector.verify(raw, {"X-Hub-Signature-256": EXAMPLE_2_REENCODED})


def test_sanity_vector(settings: Any) -> None:
    settings.META_APP_SECRET = "secret"
    header = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    assert connector.verify(b"test", {"X-Hub-Signature-256": header})
    assert not connector.verify(b"test ", {"X-Hub-Signature-256": header})


# ---- headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["X-Hub-Signature-256", "x-hub-signature-256", "X-HUB-SIGNATURE-256"]
)
def test_header_name_is_case_insensitive(name: str) -> None:
    assert connector.verify(load("text_message"), {name: EXAMPLE_1})


def test_django_request_headers_verify() -> None:
    headers = HttpHeaders(
        {"HTTP_X_HUB_SIGNATURE_256": EXAMPLE_1, "CONTENT_TYPE": "application/json"}
    )
    assert connector.verify(load("text_message"), headers)


def test_conflicting_duplicate_headers_are_rejected() -> None:
    wrong = "sha256=" + "0" * 64
    headers = {"X-Hub-Signature-256": EXAMPLE_1, "x-hub-signature-256": wrong}
    assert not connector.verify(load("text_message"), headers)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Content-Type": "application/json"}, id="other headers only"),
        pytest.param({"X-Hub-Signature-256": ""}, id="empty"),
        pytest.param({"X-Hub-Signature-256": EXAMPLE_1[len("sha256=") :]}, id="no prefix"),
        pytest.param({"X-Hub-Signature-256": "sha1=" + EXAMPLE_1[7:]}, id="sha1 prefix"),
        pytest.param({"X-Hub-Signature-256": "SHA256=" + EXAMPLE_1[7:]}, id="uppercase prefix"),
        pytest.param(
            {"X-Hub-Signature-256": "sha256=" + EXAMPLE_1[7:].upper()}, id="uppercase hex"
        ),
        pytest.param({"X-Hub-Signature-256": EXAMPLE_1[:-1]}, id="truncated"),
        pytest.param({"X-Hub-Signature-256": EXAMPLE_1 + "0"}, id="too long"),
        pytest.param({"X-Hub-Signature-256": " " + EXAMPLE_1}, id="leading space"),
        pytest.param({"X-Hub-Signature-256": EXAMPLE_1 + "\n"}, id="trailing newline"),
        pytest.param({"X-Hub-Signature-256": "sha256=" + "é" * 64}, id="non-ascii"),
        pytest.param(
            {"X-Hub-Signature": "sha1=50e373b2d2f8e478f1d86097b4084aa907ddde0c"},
            id="legacy sha1 header only",
        ),
    ],
)
def test_bad_headers_are_rejected(headers: dict[str, str]) -> None:
    assert not connector.verify(load("text_message"), headers)


def test_one_changed_byte_is_rejected() -> None:
    body = load("text_message").replace(b"#4512", b"#4513")
    assert not connector.verify(body, {"X-Hub-Signature-256": EXAMPLE_1})


def test_another_secret_is_rejected() -> None:
    body = load("text_message")
    assert not connector.verify(body, signed(body, secret="another-app-secret"))


def test_empty_secret_rejects_everything(settings: Any) -> None:
    settings.META_APP_SECRET = ""
    body = load("text_message")
    assert not connector.verify(body, signed(body, secret=""))
    assert not connector.verify(body, {"X-Hub-Signature-256": EXAMPLE_1})


def test_secret_is_read_at_call_time(settings: Any) -> None:
    body = load("text_message")
    assert connector.verify(body, {"X-Hub-Signature-256": EXAMPLE_1})
    settings.META_APP_SECRET = "rotated"
    assert not connector.verify(body, {"X-Hub-Signature-256": EXAMPLE_1})
    assert connector.verify(body, signed(body, secret="rotated"))


def test_kept_headers_include_the_signature() -> None:
    assert connector.kept_headers == ("x-hub-signature-256", "content-type", "user-agent")


# ---- handshake (PROTOCOLS 1.1) ------------------------------------------------------------

GOOD_QUERY = {
    "hub.mode": "subscribe",
    "hub.verify_token": "my-verify-token",
    "hub.challenge": "1158201444",
}


def test_handshake_echoes_the_challenge() -> None:
    answer = connector.handshake(GOOD_QUERY)
    assert (answer.status, answer.content_type, answer.body) == (200, "text/plain", "1158201444")


def test_handshake_echoes_any_challenge_verbatim() -> None:
    challenge = " 00123 abc<é>\n"
    answer = connector.handshake({**GOOD_QUERY, "hub.challenge": challenge})
    assert answer.status == 200
    assert answer.body == challenge


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({**GOOD_QUERY, "hub.verify_token": "wrong"}, id="wrong token"),
        pytest.param({**GOOD_QUERY, "hub.verify_token": "my-verify-token "}, id="token + space"),
        pytest.param({**GOOD_QUERY, "hub.verify_token": "MY-VERIFY-TOKEN"}, id="token case"),
        pytest.param({**GOOD_QUERY, "hub.verify_token": ""}, id="empty token"),
        pytest.param({**GOOD_QUERY, "hub.verify_token": "jetón"}, id="non-ascii token"),
        pytest.param({**GOOD_QUERY, "hub.mode": "unsubscribe"}, id="wrong mode"),
        pytest.param({**GOOD_QUERY, "hub.mode": "Subscribe"}, id="mode case"),
        pytest.param({k: v for k, v in GOOD_QUERY.items() if k != "hub.mode"}, id="no mode"),
        pytest.param(
            {k: v for k, v in GOOD_QUERY.items() if k != "hub.verify_token"}, id="no token"
        ),
        pytest.param(
            {k: v for k, v in GOOD_QUERY.items() if k != "hub.challenge"}, id="no challenge"
        ),
        pytest.param(
            {"hub_mode": "subscribe", "hub_verify_token": "my-verify-token", "hub_challenge": "1"},
            id="PHP-mangled names",
        ),
        pytest.param({}, id="nothing"),
    ],
)
def test_handshake_refuses(query: dict[str, str]) -> None:
    answer = connector.handshake(query)
    assert (answer.status, answer.content_type, answer.body) == (403, "text/plain", "Forbidden")


def test_handshake_refuses_when_no_token_is_configured(settings: Any) -> None:
    settings.META_VERIFY_TOKEN = ""
    assert connector.handshake({**GOOD_QUERY, "hub.verify_token": ""}).status == 403
    assert connector.handshake(GOOD_QUERY).status == 403
