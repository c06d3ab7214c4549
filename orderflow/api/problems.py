"""RFC 9457 problem details for every API error.

drf-standardized-errors does the hard part (flattening nested serializer errors into
``attr`` paths, turning unhandled exceptions into a 500 without leaking details); this
module only shapes its result as ``application/problem+json`` and maps the kernel's
:class:`~orderflow.errors.DomainError` and the few Django-level failures (body too large,
unknown URL) onto the same format.

A dependency outage (PostgreSQL or Redis unreachable, frozen or out of pooled
connections) is answered 503 ``service-unavailable`` with ``Retry-After``, never 500:
nothing is wrong with the request, and the same request may succeed in a moment. DRF
sends the errors of authentication, permissions and throttling through the same handler
as the view's own, so every API view answers an outage alike.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from drf_standardized_errors.formatter import ExceptionFormatter
from drf_standardized_errors.handler import ExceptionHandler
from drf_standardized_errors.types import ErrorResponse
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.settings import api_settings

from orderflow.correlation import get_correlation_id
from orderflow.errors import DomainError

CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

#: What a dependency outage raises. Django wraps the driver's errors (a pool timeout too,
#: when the pool is reached through Django) as OperationalError or InterfaceError; besides
#: a lost connection these include a statement timeout or a deadlock, transient as well.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    RedisConnectionError,
    RedisTimeoutError,
)
#: seconds a client is asked to wait before retrying during an outage
OUTAGE_RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int
    description: str

    @property
    def uri(self) -> str:
        return f"/api/problems/{self.slug}"


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in [
        ProblemType(
            "validation-error",
            "Invalid input",
            400,
            "One or more fields are invalid; `errors` lists each with its `attr` path.",
        ),
        ProblemType(
            "malformed-request",
            "Malformed request body",
            400,
            "The body is not valid JSON (or nests deeper than 1024 levels).",
        ),
        ProblemType(
            "bad-request",
            "Bad request",
            400,
            "The request itself cannot be served, e.g. its Host header names no site of ours.",
        ),
        ProblemType(
            "not-authenticated",
            "Authentication required",
            401,
            "Send a valid, unrevoked API key as `Authorization: Bearer <key>`.",
        ),
        ProblemType(
            "permission-denied", "Permission denied", 403, "The key is valid but may not do this."
        ),
        ProblemType(
            "not-found",
            "Not found",
            404,
            "No such resource for this shop (another shop's resources are never shown).",
        ),
        ProblemType(
            "method-not-allowed",
            "Method not allowed",
            405,
            "The resource does not support this HTTP method.",
        ),
        ProblemType("not-acceptable", "Not acceptable", 406, "The API answers with JSON only."),
        ProblemType(
            "invalid-transition",
            "Action not allowed in the order's state",
            409,
            "The order's state does not allow this action; `allowed_actions` lists "
            "what may be done now.",
        ),
        ProblemType(
            "return-not-allowed",
            "Return not possible in this state",
            409,
            "The order has not shipped (only a shipped or delivered order can have a return), "
            "or the return's status does not allow this step (`return_status` says where it "
            "stands). Nothing changed.",
        ),
        ProblemType(
            "return-refund-refused",
            "The return's refund was refused",
            409,
            "The payment could not give the return's money back (nothing captured is left, "
            "or the provider declined); the return stays received. Nothing changed.",
        ),
        ProblemType(
            "remainder-not-cancellable",
            "Nothing left to cancel",
            409,
            "The order is not partly shipped, so no units wait to be cancelled: nothing has "
            "shipped yet (cancel the whole order instead), or every unit has shipped or was "
            "cancelled (as a repeated request finds). `cause` (`not_shipped`, "
            "`fully_shipped`, `closed`) and `order_status` say which. Nothing changed.",
        ),
        ProblemType(
            "payment-in-flight",
            "The order's payment is still being captured",
            409,
            "The payment of the shipped part is captured when the first parcel leaves and "
            "that step has not run yet, so the rest's refund would find nothing to give "
            "back. Nothing changed; retry after `Retry-After` seconds.",
        ),
        ProblemType(
            "remainder-refund-refused",
            "The remainder's refund was refused",
            409,
            "The payment could not give back the units not shipped (earlier refunds already "
            "gave back that money or those units, or the provider declined). Nothing was "
            "cancelled; refund what is left first, then cancel the rest.",
        ),
        ProblemType(
            "tracking-number-in-use",
            "Tracking number already on the road",
            409,
            "The carrier's tracking number names a parcel that is not yet delivered; a "
            "parcel on the road has a number of its own.",
        ),
        ProblemType(
            "shipment-exceeds-order",
            "More than remains to ship",
            409,
            "The parcel names more units of a SKU than remain to ship (other parcels took "
            "them, perhaps meanwhile), so nothing was shipped; `sku`, `requested` and "
            "`remaining` say which and how many.",
        ),
        ProblemType(
            "ambiguous-parcel",
            "More than one parcel has this tracking number",
            409,
            "The carrier's report matches more than one parcel, so none was changed; the "
            "report is logged for support.",
        ),
        ProblemType(
            "external-reference-taken",
            "External reference already used",
            409,
            "The shop already has an order with this `external_reference`, so none was "
            "placed; `order_id`, `order_number` and `order_url` name the first one.",
        ),
        ProblemType(
            "discount-exhausted",
            "Discount code used up",
            409,
            "Another order took the code's last use while this one was placed, so none was "
            "placed; `discount_code` names it (`errors`: its place in `discount_codes`).",
        ),
        ProblemType(
            "discount-already-used",
            "Discount code already used by this customer",
            409,
            "The code is once per customer and this customer's e-mail address has used it, "
            "so no order was placed; `discount_code` names it.",
        ),
        ProblemType(
            "already-exists",
            "Already exists",
            409,
            "The shop already has a shipping method or discount code with this `code` (codes "
            "of discounts ignore case), or a tax rate for this class and country; change that "
            "one instead. Nothing was written.",
        ),
        ProblemType(
            "discount-in-use",
            "Discount code in use",
            409,
            "Orders carry this discount code, so it cannot be deleted; PATCH it with "
            '`{"active": false}` to stop it.',
        ),
        ProblemType(
            "webhook-endpoint-limit",
            "The shop has as many webhook endpoints as it may",
            409,
            "A shop has at most `limit` webhook endpoints (WEBHOOK_MAX_ENDPOINTS_PER_SHOP); "
            "delete one to register another.",
        ),
        ProblemType(
            "request-in-flight",
            "A request with this Idempotency-Key is in flight",
            409,
            "Another request with the same Idempotency-Key has not finished; retry "
            "after `Retry-After` seconds to receive its response.",
        ),
        ProblemType(
            "request-too-large",
            "Request body too large",
            413,
            "The body is larger than the API accepts.",
        ),
        ProblemType(
            "unsupported-media-type",
            "Unsupported media type",
            415,
            "Send the body as `Content-Type: application/json`.",
        ),
        ProblemType(
            "idempotency-key-reused",
            "Idempotency-Key reused with another request",
            422,
            "This Idempotency-Key was first used with a different request; use a new "
            "key for a new request.",
        ),
        ProblemType(
            "rate-limited",
            "Too many requests",
            429,
            "The shop's request rate limit is reached; retry after `Retry-After` seconds.",
        ),
        ProblemType(
            "server-error",
            "Internal server error",
            500,
            "Something failed on our side; the `correlation_id` identifies it in logs.",
        ),
        ProblemType(
            "service-unavailable",
            "Service unavailable",
            503,
            "The database or the cache cannot be reached; retry after `Retry-After` seconds.",
        ),
    ]
}

_BY_EXCEPTION: list[tuple[type[Exception], str]] = [
    (exceptions.ParseError, "malformed-request"),
    (exceptions.ValidationError, "validation-error"),
    (exceptions.NotAuthenticated, "not-authenticated"),
    (exceptions.AuthenticationFailed, "not-authenticated"),
    (exceptions.PermissionDenied, "permission-denied"),
    (exceptions.NotFound, "not-found"),
    (exceptions.MethodNotAllowed, "method-not-allowed"),
    (exceptions.NotAcceptable, "not-acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported-media-type"),
    (exceptions.Throttled, "rate-limited"),
]


class DomainProblem(exceptions.APIException):
    """A :class:`DomainError` carried through DRF's exception machinery."""

    def __init__(self, error: DomainError):
        self.status_code = error.status
        self.error = error
        super().__init__(detail=error.detail, code=error.code)


class ServiceUnavailable(exceptions.APIException):
    """A dependency outage: answered 503 with ``Retry-After`` (DRF's ``wait``)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service-unavailable"
    default_detail = (
        "A service the API depends on is unavailable; retry after `Retry-After` seconds."
    )
    wait = OUTAGE_RETRY_AFTER_SECONDS


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request-too-large"

    def __init__(self, limit: int):
        super().__init__(detail=f"The request body is larger than {limit} bytes.")


def _slug_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, DomainProblem):
        return exc.error.code
    if isinstance(exc, RequestTooLarge):
        return "request-too-large"
    for cls, slug in _BY_EXCEPTION:
        if isinstance(exc, cls):
            return slug
    if exc.status_code >= 500:
        return "server-error" if exc.status_code != 503 else "service-unavailable"
    return "client-error"


def problem_body(
    *, slug: str, status_code: int, detail: str, instance: str | None, title: str | None = None
) -> dict:
    problem_type = PROBLEM_TYPES.get(slug)
    body = {
        "type": problem_type.uri if problem_type else "about:blank",
        "title": title or (problem_type.title if problem_type else "Request failed"),
        "status": status_code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    correlation_id = get_correlation_id()
    if correlation_id:
        body["correlation_id"] = correlation_id
    body["errors"] = []
    return body


class ProblemFormatter(ExceptionFormatter):
    """Shape drf-standardized-errors' result as an RFC 9457 problem document."""

    def format_error_response(self, error_response: ErrorResponse) -> dict:
        exc = self.exc
        request = self.context.get("request")
        errors = [
            {"attr": _attr_path(e.attr), "code": e.code, "detail": e.detail}
            for e in error_response.errors
        ]
        if isinstance(exc, DomainProblem):
            errors = [
                {"attr": e.attr, "code": e.code, "detail": e.detail} for e in exc.error.errors
            ]
            detail = exc.error.detail
            title = exc.error.title
        elif isinstance(exc, exceptions.ValidationError):
            title = None
            detail = _summarise(errors)
        else:
            title = None
            detail = errors[0]["detail"] if errors else str(exc.detail)
            # a single non-field error repeats the detail; only field errors are listed
            errors = [e for e in errors if e["attr"]]
        body = problem_body(
            slug=_slug_for(exc),
            status_code=exc.status_code,
            detail=detail,
            instance=request.path if request is not None else None,
            title=title,
        )
        body["errors"] = errors
        if isinstance(exc, DomainProblem):
            body.update(exc.error.extra)
        return body


def _attr_path(attr: str | None) -> str | None:
    """Point a nested list's or object's own error at it: ``lines``, not ``lines.non_field_errors``.

    A top-level ``non_field_errors`` stays: it is about the body as a whole.
    """
    suffix = f".{api_settings.NON_FIELD_ERRORS_KEY}"
    if attr and attr.endswith(suffix):
        return attr.removesuffix(suffix)
    return attr


def _summarise(errors: list[dict]) -> str:
    if not errors:
        return "The request is invalid."
    first = errors[0]
    where = f"{first['attr']}: " if first["attr"] and first["attr"] != "non_field_errors" else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{first['detail']}{more}"


class ProblemExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, DomainError):
            return DomainProblem(exc)
        if isinstance(exc, Http404):
            # keep the view's own words ("No such order.") instead of a bare "Not found."
            return exceptions.NotFound(*exc.args)
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge(settings.API_MAX_BODY_BYTES)
        if isinstance(exc, OUTAGE_ERRORS):
            return ServiceUnavailable()
        return super().convert_known_exceptions(exc)

    def get_headers(self, exc: exceptions.APIException) -> dict:
        headers = super().get_headers(exc)
        if isinstance(exc, DomainProblem):
            headers.update(exc.error.headers)
        return headers

    def get_response(self, exc, data):
        response = super().get_response(exc, data)
        response.content_type = CONTENT_TYPE
        return response

    def report_exception(self, exc: exceptions.APIException, response) -> None:
        if isinstance(exc, ServiceUnavailable):
            # the dependency's failure, not the app's: one warning line per request, no
            # traceback and no got_request_exception (error trackers would fill with them)
            request = self.context.get("request")
            logger.warning(
                "%s answered 503 (%s: %s)",
                getattr(request, "path", ""),
                type(self.exc).__name__,
                self.exc,
            )
            return
        super().report_exception(exc, response)


def problem_response(request, *, slug: str, detail: str, status_code: int) -> JsonResponse:
    """Answer outside DRF (middleware, URL resolver) in the same problem format."""
    body = problem_body(slug=slug, status_code=status_code, detail=detail, instance=request.path)
    return JsonResponse(body, status=status_code, content_type=CONTENT_TYPE)
