"""What the browser tests share: signing in by labels, and posting signed platform webhooks to
the running server exactly as Meta and X do."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from playwright.sync_api import Page, WebSocket, expect

from connectors.simulation import messenger_messages, messenger_text, now_ms, sign
from tests.factories import PASSWORD

PAGE_ID = "104857600123456"  # the Messenger page the tests' channels stand for
BRAND_X_ID = "1290000000000000001"  # the X account (the fake platform's brand id)

# "Within 2 s" of the action (the POST returning, the click, the keystroke), with a second of
# slack for a loaded machine.
LIVE_MS = 3000


def sign_in(
    page: Page, base_url: str, email: str, next_path: str, *, password: str = PASSWORD
) -> None:
    """Sign in through the login form and land on `next_path`."""
    page.goto(f"{base_url}/accounts/login/?next={quote(next_path)}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def inbox_path(slug: str, conversation_id: int | None = None, query: str = "") -> str:
    path = f"/o/{slug}/inbox/" + (f"{conversation_id}/" if conversation_id else "")
    return path + query


def post_webhook(base_url: str, kind: str, body: bytes) -> None:
    """POST a signed webhook body the way the platform does; the server answers 200 at once
    and a worker processes the event."""
    response = requests.post(
        f"{base_url}/webhooks/{kind}/",
        data=body,
        headers={**sign(kind, body), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def messenger_text_body(psid: str, text: str, *, mid: str) -> bytes:
    return messenger_messages(PAGE_ID, [messenger_text(PAGE_ID, psid, text, mid=mid)])


def messenger_delivery_body(psid: str, *, watermark_ms: int | None = None) -> bytes:
    """Meta's delivery receipt: everything the page sent to `psid` up to the watermark."""
    at = watermark_ms or now_ms()
    item: dict[str, Any] = {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": at,
        "delivery": {"watermark": at},
    }
    return messenger_messages(PAGE_ID, [item])


def wait_until(
    page: Page, condition: Callable[[], bool], what: str, *, timeout_ms: int = 10_000
) -> None:
    """Wait until `condition()` holds, letting Playwright deliver the page's events (route
    handlers, frames) meanwhile; fail with `what` after `timeout_ms`."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        page.wait_for_timeout(25)


def watch_dialogs(page: Page) -> list[str]:
    """Every alert, confirm or prompt the page opens (each is dismissed)."""
    seen: list[str] = []

    def record(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return seen


@dataclass
class SocketLog:
    """The frames the page's websockets received, per socket, in order (decoded JSON)."""

    frames: list[list[dict[str, Any]]] = field(default_factory=list)

    def watch(self, page: Page) -> SocketLog:
        page.on("websocket", self._opened)
        return self

    def _opened(self, socket: WebSocket) -> None:
        received: list[dict[str, Any]] = []
        self.frames.append(received)
        socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

    def wait_for(
        self,
        page: Page,
        kind: str,
        *,
        socket: int = -1,
        payload: dict[str, Any] | None = None,
        timeout_ms: int = 10_000,
        **fields: Any,
    ) -> dict[str, Any]:
        """The first frame of type `kind` with these `fields` (and these `payload` items) on
        socket number `socket`, waiting for it while the page runs."""
        wanted = payload or {}
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            frames = self.frames[socket] if -len(self.frames) <= socket < len(self.frames) else []
            for frame in frames:
                got = frame.get("payload") or {}
                if (
                    frame.get("type") == kind
                    and all(frame.get(k) == v for k, v in fields.items())
                    and all(got.get(k) == v for k, v in wanted.items())
                ):
                    return frame
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} frame {fields} {wanted}: {self.frames}")
            page.wait_for_timeout(25)  # lets Playwright deliver the page's events meanwhile
