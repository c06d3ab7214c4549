"""Cursor pagination whose ``limit`` and ``cursor`` are checked like any other parameter.

DRF's own falls back to the default page size for a ``limit`` it cannot read or that is out
of range. Here that is a 400 problem naming the parameter, as the event feed's ``limit`` and
every filter are: a client that sends ``limit=abc`` learns it at once instead of silently
getting a page of another size.

A ``cursor`` is opaque but not trusted: it is base64 that anyone can forge. DRF decodes its
offset and direction but hands its position (``p=``) straight to the database, so
``p=not-a-date`` or a NUL in a SKU was a 500. Every part of a cursor is checked here against
the field the page is ordered by, and a cursor that fails any check is a 400 naming
``cursor``, whether it is garbage base64 or a well-formed forgery.
"""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.pagination import CursorPagination

INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link of a page as it is."


class CheckedCursorPagination(CursorPagination):
    page_size_query_param = "limit"

    def paginate_queryset(self, queryset, request, view=None):
        # the field the position is compared with, for decode_cursor() to check it against
        first = self.get_ordering(request, queryset, view)[0].lstrip("-")
        self._position_field = queryset.model._meta.get_field(first)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        return cursor._replace(position=self._checked_position(cursor.position))

    def _checked_position(self, position: str) -> str:
        """Return the position as the database can compare it, or refuse the cursor."""
        if "\x00" in position:
            raise _invalid_cursor()
        try:
            value = self._position_field.to_python(position)
        except DjangoValidationError:
            raise _invalid_cursor() from None
        if value is None:
            raise _invalid_cursor()
        if isinstance(value, datetime):
            # PostgreSQL takes offsets up to ±15:59 only, and a bound near year 1 or 9999
            # may leave the calendar in UTC: compare in UTC, written as DRF writes positions
            try:
                value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
            except OverflowError:
                raise _invalid_cursor() from None
            return str(value)
        return position

    @classmethod
    def limit_parameter(cls) -> OpenApiParameter:
        """Document ``limit`` with the range get_page_size() accepts."""
        return OpenApiParameter(
            cls.page_size_query_param,
            {"type": "integer", "minimum": 1, "maximum": cls.max_page_size},
            description=f"Items per page (default {cls.page_size}).",
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """Describe ``next`` and ``previous`` as OrderFlow writes them (DRF's examples name
        ``api.example.org/accounts/``, which the docs then showed on every page)."""
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = ["next", "previous", "results"]
        paginated["properties"]["next"] |= {
            "description": "The next page: this operation's URL with the page's cursor; null "
            "on the last page.",
            "example": f"http://127.0.0.1:8000/api/v1/…?{self.cursor_query_param}=cD0yMDI2LTEx"
            f"LTI1KzEwJTNBNTMlM0EzMi4zNDUyNjglMkIwMCUzQTAw&{self.page_size_query_param}=1",
        }
        paginated["properties"]["previous"] |= {
            "description": "The page before, as `next`; null on the first page.",
            "example": None,
        }
        return paginated

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError(
                {self.page_size_query_param: ["Must be a whole number."]}
            ) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Must be between 1 and {self.max_page_size}."]}
            )
        return size


def _invalid_cursor() -> ValidationError:
    return ValidationError({"cursor": [ErrorDetail(INVALID_CURSOR, code="invalid")]})
