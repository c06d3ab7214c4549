"""Refuse admin URLs whose query the change lists cannot take: a 400 page, never a 500.

Django's admin hands list filters and the date hierarchy to the database as typed, and
two kinds of hand-typed (or forged) values escape its own checks: a NUL character, which
PostgreSQL refuses in text (a ``DataError`` while the page renders), and a date-hierarchy
year past the calendar (``created_at__year=99999999999999999999`` overflows ``datetime``,
and 9999 overflows once the admin adds a year to it). Both were answered 500. This sits
before the admin and refuses them with a plain message; every other value is the admin's
to judge (an unknown lookup still gets its "?e=1" page).
"""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.urls import reverse

#: the admin adds a year to a date-hierarchy year, and ``datetime`` stops at 9999
MAX_HIERARCHY_YEAR = 9998
_DATE_PARTS = ("__year", "__month", "__day")


def query_problem(query: QueryDict) -> str | None:
    """Why the admin cannot take this query, or None when it can."""
    for key, values in query.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return "A filter or search contains a NUL character."
        if key.endswith(_DATE_PARTS):
            for value in values:
                if not (value.isascii() and value.isdigit() and len(value) <= 4):
                    return f"{key} must be a number of at most four digits."
                if key.endswith("__year") and not 1 <= int(value) <= MAX_HIERARCHY_YEAR:
                    return f"{key} must be a year from 1 to {MAX_HIERARCHY_YEAR}."
    return None


class AdminQueryGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.prefix is None:
            self.prefix = reverse("admin:index")
        if request.path.startswith(self.prefix):
            problem = query_problem(request.GET)
            if problem:
                return HttpResponseBadRequest(
                    f"{problem}\n", content_type="text/plain; charset=utf-8"
                )
        return self.get_response(request)
