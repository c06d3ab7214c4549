"""Cursor pagination whose ``limit`` is checked like any other parameter.

DRF's own falls back to the default page size for a ``limit`` it cannot read or that is out
of range. Here that is a 400 problem naming the parameter, as the event feed's ``limit`` and
every filter are: a client that sends ``limit=abc`` learns it at once instead of silently
getting a page of another size. (A forged ``cursor`` stays DRF's 404.)
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination


class CheckedCursorPagination(CursorPagination):
    page_size_query_param = "limit"

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
