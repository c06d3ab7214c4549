"""The API's middlewares: every error under ``/api/`` answers as a problem document.

What a problem is and how DRF's errors become one is in :mod:`orderflow.api.problems`; these
cover what DRF never sees: a dependency outage in a plain view, an error page Django wrote
itself, and a body too large to read.
"""

import logging
from http import HTTPStatus

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from .problems import (
    API_PREFIX,
    CONTENT_TYPE,
    OUTAGE_ERRORS,
    OUTAGE_RETRY_AFTER_SECONDS,
    PROBLEM_TYPES,
    ServiceUnavailable,
    problem_body,
    problem_response,
)

logger = logging.getLogger(__name__)


class OutageMiddleware:
    """Answer a dependency outage raised in a non-DRF view 503, not 500 with a traceback page.

    DRF views answer their own outages (see :class:`ProblemExceptionHandler`); this covers
    the staff pages and any plain Django view, in problem+json under ``/api/``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGE_ERRORS):
            return None
        logger.warning(
            "%s answered 503 (%s: %s)", request.path, type(exception).__name__, exception
        )
        if request.path.startswith(API_PREFIX):
            response = problem_response(
                request,
                slug="service-unavailable",
                detail=ServiceUnavailable.default_detail,
                status_code=503,
            )
        else:
            response = HttpResponse(
                "Service unavailable: the database or the cache cannot be reached. "
                f"Retry in {OUTAGE_RETRY_AFTER_SECONDS} s.\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
        return response


#: the problem type answered for a status when Django, not DRF, produced the error response
_SLUG_BY_STATUS = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "request-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "server-error",
    503: "service-unavailable",
}
#: what a replaced response keeps: how to retry, which methods are allowed, how to log in
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
_JSON_TYPES = ("application/json", CONTENT_TYPE)


class ApiProblemMiddleware:
    """Answer every error under ``/api/`` as a problem document, whoever produced it.

    DRF views answer their own errors as problems, but Django answers the rest with
    pages: an unmatched URL (the HTML debug page when DEBUG is on, as in embedded mode),
    a plain view's 405, a Host it refuses (400) and the debug 500 page. A client reading
    ``application/problem+json`` must never be handed HTML by the API, so any non-JSON
    error response under ``/api/`` is replaced by the problem for its status. It keeps the
    headers a client acts on (``Allow``, ``Retry-After``) and never shows the page's text,
    which in DEBUG holds a traceback.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").split(";")[0].strip() in _JSON_TYPES
        ):
            return response
        return _problem_for(request, response)


def _problem_for(request, response: HttpResponse) -> JsonResponse:
    status_code = response.status_code
    slug = _SLUG_BY_STATUS.get(status_code, "")
    problem_type = PROBLEM_TYPES.get(slug)
    if status_code == 404:
        detail = "No such resource."
    elif status_code == 405:
        detail = f"{request.method} is not allowed here; allowed: {response.get('Allow', '')}."
    elif problem_type is not None:
        detail = problem_type.description
    else:
        detail = _status_phrase(status_code)
    body = problem_body(
        slug=slug,
        status_code=status_code,
        detail=detail,
        instance=request.path,
        title=None if problem_type else _status_phrase(status_code),
    )
    problem = JsonResponse(body, status=status_code, content_type=CONTENT_TYPE)
    for header in _KEPT_HEADERS:
        if header in response:
            problem[header] = response[header]
    return problem


def _status_phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Request failed"


class RequestBodyLimitMiddleware:
    """Refuse an API body over ``API_MAX_BODY_BYTES`` with 413 before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.API_MAX_BODY_BYTES

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > self.limit:
                return problem_response(
                    request,
                    slug="request-too-large",
                    detail=f"The request body is larger than {self.limit} bytes.",
                    status_code=413,
                )
        return self.get_response(request)
