"""Keyset (cursor) pagination over a fixed ordering of (field, id).

A page costs one indexed range scan whatever its depth: the cursor holds the last row's sort
values, and the next query starts right after them. Lists answer
`{"next": <absolute URL or null>, "previous": <absolute URL or null>, "results": [...]}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.db import models
from django.db.models import F, OrderBy, Q
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

M = TypeVar("M", bound=models.Model)

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


def _encode(values: Sequence[Any], *, backwards: bool) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps({"v": plain, "b": backwards}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[list[Any], bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        values, backwards = data["v"], bool(data["b"])
        if not isinstance(values, list):
            raise TypeError
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ValidationError({"cursor": ["Invalid cursor."]}) from None
    return values, backwards


class KeysetPagination:
    """Paginate by `ordering`: a unique field, or a sort field then "id" (same direction);
    "-" marks descending. With `nulls_last`, the sort field may be NULL and those rows come
    after all others (in the walk's forward direction), ordered by id."""

    def __init__(self, ordering: tuple[str] | tuple[str, str], *, nulls_last: bool = False) -> None:
        self.ordering = ordering
        self.fields = [name.lstrip("-") for name in ordering]
        self.descending = ordering[0].startswith("-")
        self.nulls_last = nulls_last and len(ordering) == 2  # noqa: PLR2004  # field, then id

    def _order(self, *, reverse: bool) -> list[str | OrderBy]:
        names = [
            (name[1:] if name.startswith("-") else f"-{name}") if reverse else name
            for name in self.ordering
        ]
        if not self.nulls_last:
            return list(names)
        first = names[0]
        column = F(first.lstrip("-"))
        # Forward: NULLs last; walking back: NULLs first.
        nulls: dict[str, bool] = {"nulls_first": True} if reverse else {"nulls_last": True}
        expression = column.desc(**nulls) if first.startswith("-") else column.asc(**nulls)
        return [expression, names[1]]

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if raw is None:
            return DEFAULT_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": ["An integer."]}) from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [f"Between 1 and {MAX_PAGE_SIZE}."]})
        return size

    def _parse(self, values: list[Any], model: type[models.Model]) -> list[Any]:
        if len(values) != len(self.fields):
            raise ValidationError({"cursor": ["Invalid cursor."]})
        parsed: list[Any] = []
        for index, (name, value) in enumerate(zip(self.fields, values, strict=True)):
            field = model._meta.get_field(name)
            if value is None and self.nulls_last and index == 0:
                parsed.append(None)
            elif isinstance(field, models.DateTimeField):
                when = parse_datetime(value) if isinstance(value, str) else None
                if when is None:
                    raise ValidationError({"cursor": ["Invalid cursor."]})
                parsed.append(when)
            elif isinstance(value, int) and not isinstance(value, bool):
                parsed.append(value)
            else:
                raise ValidationError({"cursor": ["Invalid cursor."]})
        return parsed

    def _after(self, values: list[Any], *, forward: bool) -> Q:
        """Rows strictly after `values` in the walk direction (lexicographic on the fields).

        The redundant `first <= x` / `first >= x` term lets the database start the index scan
        at the cursor instead of filtering from the top.
        """
        smaller = self.descending == forward
        op = "lt" if smaller else "gt"
        if len(self.fields) == 1:
            return Q(**{f"{self.fields[0]}__{op}": values[0]})
        (first, second), (x, y) = self.fields, values
        if self.nulls_last:
            return self._after_nullable(first, second, x, y, op=op, forward=forward)
        bound = "lte" if smaller else "gte"
        return Q(**{f"{first}__{bound}": x}) & (
            Q(**{f"{first}__{op}": x}) | Q(**{first: x, f"{second}__{op}": y})
        )

    @staticmethod
    def _after_nullable(first: str, second: str, x: Any, y: Any, *, op: str, forward: bool) -> Q:
        """As _after, where NULLs of `first` sort after every value going forward."""
        null = Q(**{f"{first}__isnull": True})
        if x is None:
            among_nulls = null & Q(**{f"{second}__{op}": y})
            return among_nulls if forward else ~null | among_nulls
        later = Q(**{f"{first}__{op}": x}) | Q(**{first: x, f"{second}__{op}": y})
        return later | null if forward else later

    def paginate(
        self, queryset: models.QuerySet[M], request: Request
    ) -> tuple[list[M], str | None, str | None]:
        """Returns (rows, next cursor, previous cursor)."""
        size = self._page_size(request)
        cursor = request.query_params.get("cursor")
        reverse = self._order(reverse=True)
        forward = self._order(reverse=False)
        nxt: str | None
        prev: str | None
        if cursor:
            values, backwards = _decode(cursor)
            values = self._parse(values, queryset.model)
            condition = self._after(values, forward=not backwards)
            if backwards:
                rows = list(queryset.filter(condition).order_by(*reverse)[: size + 1])
                more_before = len(rows) > size
                rows = rows[:size][::-1]
                prev = self._cursor(rows[0], backwards=True) if more_before and rows else None
                nxt = (
                    self._cursor(rows[-1], backwards=False)
                    if rows
                    else _encode(values, backwards=False)
                )
                return rows, nxt, prev
            rows = list(queryset.filter(condition).order_by(*forward)[: size + 1])
            more_after = len(rows) > size
            rows = rows[:size]
            nxt = self._cursor(rows[-1], backwards=False) if more_after else None
            prev = (
                self._cursor(rows[0], backwards=True) if rows else _encode(values, backwards=True)
            )
            return rows, nxt, prev
        rows = list(queryset.order_by(*forward)[: size + 1])
        more_after = len(rows) > size
        rows = rows[:size]
        return rows, (self._cursor(rows[-1], backwards=False) if more_after else None), None

    def _cursor(self, row: models.Model, *, backwards: bool) -> str:
        return _encode([getattr(row, f) for f in self.fields], backwards=backwards)

    def response(
        self, request: Request, data: list[Any], nxt: str | None, prev: str | None
    ) -> Response:
        return Response(
            {
                "next": self._link(request, nxt),
                "previous": self._link(request, prev),
                "results": data,
            }
        )

    @staticmethod
    def _link(request: Request, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        params = request.query_params.copy()
        params["cursor"] = cursor
        query = urlencode(sorted(params.lists()), doseq=True)
        return request.build_absolute_uri(f"{request.path}?{query}")
