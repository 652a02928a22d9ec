"""A local HTTP stand-in for the Graph Send API and the X API, for tests, benchmarks and the demo.

It is a real server on loopback (standard library only, one thread per request), so the clients
are exercised through sockets, JSON and headers exactly as in production: point META_GRAPH_URL
at `graph_url` and TWITTER_API_URL at `url`. It validates what the platforms would reject
(missing token, missing fields), answers platform-shaped ids, records every request, and can be
told to fail or stall the next calls. X tokens are accepted blindly until a test calls
`x_oauth`: from then on the fake plays X's OAuth 2.0 as well (access tokens that expire,
refresh tokens that rotate).

Routes:
    POST /vNN.N/<page_id>/messages            Messenger Send API
    GET  /vNN.N/<psid>                        Messenger user profile
    POST /2/dm_conversations/with/<id>/messages  X DM
    POST /2/tweets                            X post / reply
    GET  /2/users/<id>                        X user lookup
    POST /2/oauth2/token                      X token renewal (grant_type=refresh_token)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

GRAPH_VERSION = "v25.0"
# The X user id the fake plays the brand as (second half of dm_conversation_id).
BRAND_X_USER_ID = "1290000000000000001"

CallKind = Literal["send", "profile", "token", "subscription"]

_GRAPH_SEND = re.compile(r"^/v\d+\.\d+/(?P<page>[^/]+)/messages$")
_GRAPH_PROFILE = re.compile(r"^/v\d+\.\d+/(?P<id>[^/]+)$")
_X_DM = re.compile(r"^/2/dm_conversations/with/(?P<id>[^/]+)/messages$")
_X_TWEET = re.compile(r"^/2/tweets$")
_X_USER = re.compile(r"^/2/users/(?P<id>[^/]+)$")
_X_TOKEN = re.compile(r"^/2/oauth2/token$")
_GRAPH_SUBSCRIBED_APPS = re.compile(r"^/v\d+\.\d+/(?P<page>[^/]+)/subscribed_apps$")
_X_SUBSCRIPTION = re.compile(r"^/2/account_activity/webhooks/(?P<id>[^/]+)/subscriptions/all$")
FAKE_META_APP_ID = "1234567890"  # the app the fake lists on a subscribed page
X_TOKEN_PATH = "/2/oauth2/token"  # noqa: S105  # a URL path
X_TOKEN_LIFETIME = 7200  # seconds, as X's OAuth 2.0 user access tokens
X_SCOPES = "tweet.read tweet.write users.read dm.read dm.write offline.access"

_MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
_MAX_MESSENGER_TEXT = 2000
_MAX_DM_TEXT = 10000
_MAX_TWEET_TEXT = 280


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received. `headers` keys are lower-cased; `json` is the parsed body
    (None when there was none or it was not JSON); `form` the fields of a form-encoded body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int
    form: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Failure:
    status: int
    meta_code: int | None
    meta_subcode: int | None
    x_detail: str | None
    retry_after: float | None


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _XOAuth:
    """X's OAuth 2.0 as the fake plays it once a test turns it on: the access tokens X honours,
    the refresh tokens it would accept (each once), and the app's client credentials."""

    access_tokens: set[str]
    refresh_tokens: set[str]
    client_id: str | None
    client_secret: str | None
    issued: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _TokenCall:
    """What the token endpoint reads: the app's credentials travel in a header."""

    headers: dict[str, str]
    form: dict[str, str]


@dataclass(frozen=True)
class _SubscriptionCall:
    """A webhook subscription check (GET) or request (POST), made with a user's / page's token."""

    method: str
    query: dict[str, str]
    token: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once; the default is 5
    platform: FakePlatform

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """Hang up idle keep-alive connections so their threads end with the server."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe behind; that is expected.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    # Headers and body leave in two writes; with Nagle's algorithm the body then waits for the
    # client's delayed ACK of the headers, adding tens of milliseconds to every keep-alive call.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded (and reported through on_request) instead

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        form: dict[str, str] = {}
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        query = dict(parse_qsl(parts.query))
        reply = self.server.platform._answer(method, parts.path, headers, body, raw, form, query)
        recorded = RecordedRequest(
            method=method,
            path=parts.path,
            query=query,
            headers=headers,
            json=body,
            status=reply.status,
            form=form,
        )
        self.server.platform._record(recorded)
        payload = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client stopped waiting


class FakePlatform:
    """Fakes Meta's Graph Send API and the X API on one loopback port.

    Use as a context manager or call start()/stop(). Thread-safe: requests are served on their
    own threads while a test inspects `requests` or queues failures.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_request: Callable[[RecordedRequest], None] | None = None,
        meta_app_id: str = FAKE_META_APP_ID,
    ) -> None:
        self._host = host
        self._port = port
        self._on_request = on_request
        self.meta_app_id = meta_app_id  # the app listed on the pages it subscribes
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: dict[CallKind, deque[_Failure]] = {
            "send": deque(),
            "profile": deque(),
            "token": deque(),
            "subscription": deque(),
        }
        self._delays: dict[CallKind, deque[float]] = {
            "send": deque(),
            "profile": deque(),
            "token": deque(),
            "subscription": deque(),
        }
        # Webhook subscriptions: page id -> subscribed fields; (webhook id, X account id).
        self._page_subscriptions: dict[str, list[str]] = {}
        self._x_subscriptions: set[tuple[str, str]] = set()
        self._meta_ids = itertools.count(1)
        self._x_ids = itertools.count(1876543200000000001)
        self._x_token_ids = itertools.count(1)
        self._x_oauth: _XOAuth | None = None
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a background thread. Raises OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("FakePlatform is already running")
        server = _Server((self._host, self._port))
        server.platform = self
        self._stopping.clear()
        self._server = server
        # A short poll keeps stop() quick: tests start and stop a fake for every test.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-platform", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; stalled answers are cut short."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def wait(self) -> None:
        """Block until stop() is called from another thread or the process is interrupted
        (the management command's foreground mode)."""
        self._stopping.wait()

    def __enter__(self) -> FakePlatform:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8900: the TWITTER_API_URL to use."""
        if self._server is None:
            raise RuntimeError("FakePlatform is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def graph_url(self) -> str:
        """The META_GRAPH_URL to use (version included)."""
        return f"{self.url}/{GRAPH_VERSION}"

    # ---- inspection and scripting -------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def sends(self) -> list[RecordedRequest]:
        """The send calls (Messenger messages, X DMs and tweets) received so far."""
        return [r for r in self.requests if _kind(r.method, r.path) == "send"]

    def token_requests(self) -> list[RecordedRequest]:
        """The calls to X's token endpoint received so far."""
        return [r for r in self.requests if r.path == X_TOKEN_PATH]

    def reset(self) -> None:
        """Forget recorded requests, any queued failures or delays, and X's OAuth state (X
        tokens are accepted blindly again)."""
        with self._lock:
            self._requests.clear()
            for failures in self._failures.values():
                failures.clear()
            for delays in self._delays.values():
                delays.clear()
            self._x_oauth = None
            self._page_subscriptions.clear()
            self._x_subscriptions.clear()

    # ---- webhook subscriptions ----------------------------------------------------------

    def page_subscriptions(self) -> dict[str, list[str]]:
        """Page id -> the fields our app is subscribed to on it."""
        with self._lock:
            return {page: list(fields) for page, fields in self._page_subscriptions.items()}

    def drop_page_subscription(self, page_id: str) -> None:
        """What Meta does after an hour of failed deliveries: the page stops sending to us."""
        with self._lock:
            self._page_subscriptions.pop(page_id, None)

    def x_subscriptions(self) -> set[tuple[str, str]]:
        """(webhook id, subscribed X account id) pairs. The fake plays one account, the brand
        (BRAND_X_USER_ID), whatever token it is called with: as on X, renewing the token does
        not touch the subscription."""
        with self._lock:
            return set(self._x_subscriptions)

    def x_oauth(
        self,
        *,
        access_tokens: Iterable[str] = (),
        refresh_tokens: Iterable[str] = (),
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        """Play X's OAuth 2.0 from now on.

        X sends and user lookups answer 401 unless their bearer is one of `access_tokens` or
        a token the fake issued since (and not expired by `expire_x_token`). POST
        /2/oauth2/token takes each of `refresh_tokens`, and each refresh token it issued,
        once: it answers a new access token and a new refresh token, and 400
        `invalid_request` for a refresh token it does not know or that was already used.
        With `client_id` the form must name it; with `client_secret` too the client must
        authenticate with HTTP Basic (client_id:client_secret), else 401 `unauthorized_client`.
        """
        with self._lock:
            self._x_oauth = _XOAuth(
                access_tokens=set(access_tokens),
                refresh_tokens=set(refresh_tokens),
                client_id=client_id,
                client_secret=client_secret,
            )

    def expire_x_token(self, access_token: str) -> None:
        """The access token stops working, as X's do two hours after they were issued."""
        with self._lock:
            if self._x_oauth is not None:
                self._x_oauth.access_tokens.discard(access_token)

    def issued_x_tokens(self) -> list[tuple[str, str]]:
        """(access token, refresh token) pairs the token endpoint issued, oldest first."""
        with self._lock:
            return list(self._x_oauth.issued) if self._x_oauth is not None else []

    def fail_next(
        self,
        n: int,
        *,
        status: int = 500,
        meta_code: int | None = None,
        meta_subcode: int | None = None,
        x_detail: str | None = None,
        retry_after: float | None = None,
        on: CallKind = "send",
    ) -> None:
        """Make the next `n` send calls (profile reads with on="profile", X token renewals with
        on="token") fail.

        With `meta_code` the body is a Graph error object; otherwise an X problem body.
        `retry_after` becomes `Retry-After` on Graph routes and `x-rate-limit-reset` (epoch
        seconds) on X routes, as each platform does.
        """
        failure = _Failure(status, meta_code, meta_subcode, x_detail, retry_after)
        with self._lock:
            self._failures[on].extend([failure] * n)

    def delay_next(self, n: int, seconds: float, *, on: CallKind = "send") -> None:
        """Make the next `n` send calls (or profile reads, or token renewals) answer only after
        `seconds`."""
        with self._lock:
            self._delays[on].extend([seconds] * n)

    # ---- serving (called on request threads) --------------------------------------------

    def _record(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(recorded)
        if self._on_request is not None:
            self._on_request(recorded)

    def _next_id(self, counter: Iterator[int]) -> int:
        with self._lock:
            return next(counter)

    def _take(self, kind: CallKind) -> tuple[_Failure | None, float]:
        with self._lock:
            failure = self._failures[kind].popleft() if self._failures[kind] else None
            delay = self._delays[kind].popleft() if self._delays[kind] else 0.0
        return failure, delay

    def _answer(  # noqa: PLR0917  # the parts of one request
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        raw: bytes,
        form: dict[str, str],
        query: dict[str, str] | None = None,
    ) -> _Reply:
        route = _route(method, path)
        if route is None:
            return _Reply(404, {"title": "Not Found", "detail": f"no route {method} {path}"})
        platform, kind, handler, ident = route
        failure, delay = self._take(kind)
        if delay:
            self._stopping.wait(delay)
        if kind == "token":
            # Form-encoded, and authenticated as the app (HTTP Basic), not as a user.
            call = _TokenCall(headers, form)
            return (
                handler(self, ident, call) if failure is None else _failure_reply(platform, failure)
            )
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not self._token_valid(platform, token):
            return _unauthorized(platform)
        if failure is not None:
            return _failure_reply(platform, failure)
        if kind == "subscription":  # read from the query string, not a body
            body = _SubscriptionCall(method, query or {}, token)
        elif raw and body is None:
            return _invalid(platform, "The request body is not JSON.")
        return handler(self, ident, body)

    def _token_valid(self, platform: Literal["meta", "x"], token: str) -> bool:
        """Meta's tokens, and X's until `x_oauth` is called, are not checked."""
        with self._lock:
            oauth = self._x_oauth
            return platform == "meta" or oauth is None or token in oauth.access_tokens

    def _x_token(self, _: str, call: _TokenCall) -> _Reply:
        """X's token endpoint, refresh_token grant: spends the refresh token, issues a pair."""
        with self._lock:
            oauth = self._x_oauth
            refused = _token_call_problem(oauth, call)
            if refused is not None:
                return refused
            assert oauth is not None  # noqa: S101  # no OAuth state refuses every token
            oauth.refresh_tokens.discard(call.form["refresh_token"])
            number = next(self._x_token_ids)
            access_token = f"fake-x-access-{number}"
            refresh_token = f"fake-x-refresh-{number}"
            oauth.access_tokens.add(access_token)
            oauth.refresh_tokens.add(refresh_token)
            oauth.issued.append((access_token, refresh_token))
        return _Reply(
            200,
            {
                "token_type": "bearer",
                "expires_in": X_TOKEN_LIFETIME,
                "access_token": access_token,
                "scope": X_SCOPES,
                "refresh_token": refresh_token,
            },
        )

    def _graph_subscribed_apps(self, page_id: str, call: _SubscriptionCall) -> _Reply:
        """`GET` lists our app with its fields when the page is subscribed; `POST` with
        `subscribed_fields` subscribes it."""
        with self._lock:
            if call.method == "GET":
                fields = self._page_subscriptions.get(page_id)
                apps = (
                    []
                    if fields is None
                    else [{"id": self.meta_app_id, "name": "Parley", "subscribed_fields": fields}]
                )
                return _Reply(200, {"data": apps})
            wanted = [f for f in call.query.get("subscribed_fields", "").split(",") if f]
            if not wanted:
                return _meta_error(
                    400, 100, None, "(#100) The parameter subscribed_fields is required"
                )
            self._page_subscriptions[page_id] = wanted
            return _Reply(200, {"success": True})

    def _x_subscription(self, webhook_id: str, call: _SubscriptionCall) -> _Reply:
        """AAA v2: `GET` says whether the token's account is subscribed; `POST` subscribes it
        (409 DuplicateSubscription when it already is)."""
        key = (webhook_id, BRAND_X_USER_ID)
        with self._lock:
            subscribed = key in self._x_subscriptions
            if call.method == "GET":
                return _Reply(200, {"data": {"subscribed": subscribed}})
            if subscribed:
                return _x_problem(409, "DuplicateSubscription", "Already subscribed.")
            self._x_subscriptions.add(key)
            return _Reply(200, {"data": {"subscribed": True}})

    def _graph_send(self, page_id: str, body: Any) -> _Reply:
        problem = _graph_send_problem(body)
        if problem:
            return _meta_error(400, 100, None, f"(#100) {problem}", "OAuthException")
        return _Reply(
            200,
            {
                "recipient_id": body["recipient"]["id"],
                "message_id": f"m_fake_{self._next_id(self._meta_ids)}",
            },
        )

    def _graph_profile(self, psid: str, body: Any) -> _Reply:
        return _Reply(
            200,
            {
                "first_name": "Fake",
                "last_name": f"Customer {psid[-4:]}",
                "profile_pic": f"{self.url}/avatars/{psid}.png",
                "id": psid,
            },
        )

    def _x_dm(self, recipient_id: str, body: Any) -> _Reply:
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or len(text) > _MAX_DM_TEXT:
            return _invalid("x", "text is required and at most 10000 characters.")
        return _Reply(
            201,
            {
                "data": {
                    "dm_conversation_id": f"{recipient_id}-{BRAND_X_USER_ID}",
                    "dm_event_id": str(self._next_id(self._x_ids)),
                }
            },
        )

    def _x_tweet(self, _: str, body: Any) -> _Reply:
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or len(text) > _MAX_TWEET_TEXT:
            return _invalid("x", "text is required and at most 280 characters.")
        reply = body.get("reply")
        if reply is not None and not (
            isinstance(reply, dict) and isinstance(reply.get("in_reply_to_tweet_id"), str)
        ):
            return _invalid("x", "reply.in_reply_to_tweet_id must be a string.")
        return _Reply(201, {"data": {"id": str(self._next_id(self._x_ids)), "text": text}})

    def _x_user(self, user_id: str, body: Any) -> _Reply:
        return _Reply(
            200,
            {
                "data": {
                    "id": user_id,
                    "name": f"Fake User {user_id[-4:]}",
                    "username": f"fake_{user_id}",
                    "profile_image_url": f"{self.url}/avatars/{user_id}_normal.jpg",
                }
            },
        )


_Handle = Callable[[FakePlatform, str, Any], _Reply]
_Route = tuple[Literal["meta", "x"], CallKind, _Handle, str]


def _route(method: str, path: str) -> _Route | None:
    table: list[tuple[str, re.Pattern[str], Literal["meta", "x"], CallKind, _Handle]] = [
        ("POST", _GRAPH_SEND, "meta", "send", FakePlatform._graph_send),
        ("POST", _X_DM, "x", "send", FakePlatform._x_dm),
        ("POST", _X_TWEET, "x", "send", FakePlatform._x_tweet),
        ("GET", _X_USER, "x", "profile", FakePlatform._x_user),
        ("POST", _X_TOKEN, "x", "token", FakePlatform._x_token),
        (
            "GET",
            _GRAPH_SUBSCRIBED_APPS,
            "meta",
            "subscription",
            FakePlatform._graph_subscribed_apps,
        ),
        (
            "POST",
            _GRAPH_SUBSCRIBED_APPS,
            "meta",
            "subscription",
            FakePlatform._graph_subscribed_apps,
        ),
        ("GET", _X_SUBSCRIPTION, "x", "subscription", FakePlatform._x_subscription),
        ("POST", _X_SUBSCRIPTION, "x", "subscription", FakePlatform._x_subscription),
        ("GET", _GRAPH_PROFILE, "meta", "profile", FakePlatform._graph_profile),
    ]
    for verb, pattern, platform, kind, handler in table:
        match = pattern.match(path) if verb == method else None
        if match is not None:
            ident = next(iter(match.groupdict().values()), "")
            return platform, kind, handler, ident
    return None


def _kind(method: str, path: str) -> CallKind | None:
    route = _route(method, path)
    return None if route is None else route[1]


def _graph_send_problem(body: Any) -> str:
    """Why Meta would reject this Send API body ("" when it would not)."""
    if not isinstance(body, dict):
        return "Invalid parameter"
    recipient = body.get("recipient")
    messaging_type = body.get("messaging_type")
    message = body.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    checks = [
        (
            isinstance(recipient, dict) and isinstance(recipient.get("id"), str),
            "The parameter recipient is required",
        ),
        (messaging_type in _MESSAGING_TYPES, "The parameter messaging_type is required"),
        (
            messaging_type != "MESSAGE_TAG" or bool(body.get("tag")),
            "The parameter tag is required with MESSAGE_TAG",
        ),
        (
            isinstance(message, dict) and bool(text or message.get("attachment")),
            "The parameter message must have text or an attachment",
        ),
        (
            not isinstance(text, str) or len(text) <= _MAX_MESSENGER_TEXT,
            "param message[text] must be UTF-8 encoded and under 2000 characters",
        ),
    ]
    return next((problem for ok, problem in checks if not ok), "")


def _meta_error(
    status: int, code: int, subcode: int | None, message: str, type_: str = "OAuthException"
) -> _Reply:
    error: dict[str, Any] = {
        "message": message,
        "type": type_,
        "code": code,
        "fbtrace_id": "FakeTrace000",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return _Reply(status, {"error": error})


def _x_problem(status: int, title: str, detail: str) -> _Reply:
    return _Reply(
        status, {"title": title, "detail": detail, "type": "about:blank", "status": status}
    )


def _unauthorized(platform: Literal["meta", "x"]) -> _Reply:
    if platform == "meta":
        return _meta_error(401, 190, None, "An active access token must be used.")
    return _x_problem(401, "Unauthorized", "Unauthorized")


def _oauth_error(status: int, error: str, description: str) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description})


def _basic_credentials(authorization: str) -> str | None:
    """The `id:secret` of an HTTP Basic header, None when it is not one."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _token_call_problem(oauth: _XOAuth | None, call: _TokenCall) -> _Reply | None:
    """X's answer refusing a token request (None when X would issue tokens)."""
    if oauth is not None and oauth.client_secret is not None:
        expected = f"{oauth.client_id or ''}:{oauth.client_secret}"
        if _basic_credentials(call.headers.get("authorization", "")) != expected:
            return _oauth_error(401, "unauthorized_client", "Missing valid authorization header")
    if call.form.get("grant_type") != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be refresh_token.")
    if (
        oauth is not None
        and oauth.client_id is not None
        and call.form.get("client_id") != oauth.client_id
    ):
        return _oauth_error(400, "invalid_request", "Missing required parameter [client_id].")
    if oauth is None or call.form.get("refresh_token", "") not in oauth.refresh_tokens:
        return _oauth_error(400, "invalid_request", "Value passed for the token was invalid.")
    return None


def _invalid(platform: Literal["meta", "x"], detail: str) -> _Reply:
    if platform == "meta":
        return _meta_error(400, 100, None, f"(#100) {detail}")
    return _x_problem(400, "Invalid Request", detail)


def _failure_reply(platform: Literal["meta", "x"], failure: _Failure) -> _Reply:
    if failure.meta_code is not None:
        reply = _meta_error(
            failure.status,
            failure.meta_code,
            failure.meta_subcode,
            f"(#{failure.meta_code}) Fake failure",
        )
    else:
        title = (
            "Too Many Requests"
            if failure.status == HTTPStatus.TOO_MANY_REQUESTS
            else "Fake failure"
        )
        reply = _x_problem(failure.status, title, failure.x_detail or title)
    if failure.retry_after is not None:
        if platform == "meta":
            reply.headers["Retry-After"] = f"{failure.retry_after:g}"
        else:
            reset = int(time.time() + failure.retry_after + 0.999)
            reply.headers.update(
                {
                    "x-rate-limit-limit": "15",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(reset),
                }
            )
    return reply
