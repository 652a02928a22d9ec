"""One error format for the whole API, problem+json style (RFC 9457).

Every error body has `type`, `title`, `status`, `detail` and `code`; validation errors add
`errors` (field → list of messages); a closed reply window adds `window_closed_at`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from inbox.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    WindowClosedError,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ForbiddenError, status.HTTP_403_FORBIDDEN),
    (InvalidError, status.HTTP_400_BAD_REQUEST),
    (ConflictError, status.HTTP_409_CONFLICT),
]

_TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Server error",
}

API_PREFIX = "/api/"


def _problem_body(
    status_code: int, detail: str, *, code: str, errors: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://parley.dev/problems/{code.replace('_', '-')}",
        "title": _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem(
    status_code: int,
    detail: str,
    *,
    code: str,
    errors: dict[str, Any] | None = None,
    **extra: Any,
) -> Response:
    body = _problem_body(status_code, detail, code=code, errors=errors, **extra)
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _flatten(data: Any) -> dict[str, list[str]]:
    if isinstance(data, dict):
        return {
            str(key): [str(v) for v in value] if isinstance(value, list) else [str(value)]
            for key, value in data.items()
        }
    if isinstance(data, list):
        return {"non_field_errors": [str(v) for v in data]}
    return {"non_field_errors": [str(data)]}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, WindowClosedError):
        closed = exc.window_closed_at.isoformat() if exc.window_closed_at else None
        return problem(409, exc.detail, code=exc.code, window_closed_at=closed)
    if isinstance(exc, DomainError):
        for cls, status_code in _DOMAIN_STATUS:
            if isinstance(exc, cls):
                return problem(status_code, exc.detail, code=exc.code, errors=exc.field_errors)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return problem(
            400, "The request has invalid fields.", code="invalid", errors=_flatten(exc.detail)
        )
    if isinstance(exc, exceptions.APIException):
        response = exception_handler(exc, context)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        result = problem(exc.status_code, str(detail), code=str(exc.default_code))
        if response is not None:
            for header in ("WWW-Authenticate", "Retry-After", "Allow"):
                if header in response:
                    result[header] = response[header]
        return result
    return None


# Django-level handlers (config/urls.py): an unrouted /api/ path or an unhandled exception never
# reaches DRF, but an API client still gets the one error format instead of an HTML page.


def not_found_handler(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not request.path_info.startswith(API_PREFIX):
        return defaults.page_not_found(request, exception)
    body = _problem_body(404, "Not found.", code="not_found", errors=None)
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)


def server_error_handler(request: HttpRequest) -> HttpResponse:
    if not request.path_info.startswith(API_PREFIX):
        return defaults.server_error(request)
    body = _problem_body(500, "Something went wrong on our side.", code="server_error", errors=None)
    return JsonResponse(body, status=500, content_type=PROBLEM_CONTENT_TYPE)
