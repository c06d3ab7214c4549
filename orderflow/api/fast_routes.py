"""Fast routes: an exact (method, path) served ahead of Django's middleware and URL resolver.

A context registers a handler for one exact route (``register``, from its ``AppConfig.ready``)
by dotted path, so the kernel imports no context. :class:`FastRoutesHandler`, the WSGI
application (``orderflow/wsgi.py``), gives a request for that route to the handler, which
answers with an ``HttpResponse`` or **declines** with ``None``. A declined request goes on,
as the same ``WSGIRequest`` object (its body read once, whatever the handler noted on it),
through Django's full handler as if the fast route did not exist; declining must therefore
be safe: the handler declines only before it writes anything.

A shop must not be able to tell a fast answer from the full path's except by speed, so the
middlewares of ``settings.MIDDLEWARE`` are taken one by one (:data:`_PASSIVE`, :data:`_RUN`):

- those that add headers or shape the answer (security headers, ``X-Frame-Options``,
  ``Content-Length``, the correlation id, the body limit's 413, the problem documents), or
  open a per-request scope (log context, a context's own metrics declared with
  :func:`run_around`), **run**, as real instances of the same classes, in the same order;
- a served request is counted in django-prometheus's metrics exactly as its two
  middlewares would count it (:class:`_Counts`: the same series, the route's view name as
  label, each series looked up once);
- the rest are no-ops for an API route that sends no cookie and whose handler touches no
  session, user or message (sessions, CSRF, auth, messages, axes, static files, staff
  language, the admin guard) — a request carrying a ``Cookie`` header takes the full path;
- an exception raised by the handler is not answered here: the request goes to the full
  path with the exception noted (:data:`HANDED_ON`) for the handler to raise again where it
  runs in the full path, so the outage answer (503), the error log and the exception metrics
  are the full path's own.

Any middleware not listed here (the demo's, OpenTelemetry's, a new one) turns every fast
route off, and so does tracing being on (its server span is made by Django's middleware):
a new middleware can never be skipped unnoticed. ``FAST_ROUTES=false`` (environment or
setting) turns them off too.
"""

import logging
import os
from dataclasses import dataclass

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.urls import Resolver404, resolve, set_script_prefix, set_urlconf
from django.utils.log import log_response
from django.utils.module_loading import import_string
from django_prometheus.utils import Time, TimeSince

from orderflow.correlation import HEADER as CORRELATION_HEADER
from orderflow.observability import tracing
from orderflow.staff_language import STAFF_PREFIXES

logger = logging.getLogger(__name__)

#: set on a request a fast route declined: ``True``, or the exception its handler raised
HANDED_ON = "fast_route_handed_on"
_CORRELATION_META = "HTTP_" + CORRELATION_HEADER.upper().replace("-", "_")
_ON_BY_DEFAULT = os.environ.get("FAST_ROUTES", "true").strip().lower() != "false"

_PROMETHEUS_BEFORE = "django_prometheus.middleware.PrometheusBeforeMiddleware"
_PROMETHEUS_AFTER = "django_prometheus.middleware.PrometheusAfterMiddleware"
#: run around the handler, as instances of the same classes, in settings' order
_RUN = {
    "orderflow.observability.logging_context.LogContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "orderflow.correlation.CorrelationIdMiddleware",
    "orderflow.api.middleware.ApiProblemMiddleware",
    "orderflow.api.middleware.RequestBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
}
#: no-ops for a fast route's request (no cookie; the handler touches no session, user or
#: message, its path is not static, staff or admin), each with why
_PASSIVE = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "serves STATIC_URL only",
    "orderflow.staff_language.StaffLanguageMiddleware": "acts on STAFF_PREFIXES only",
    "django.contrib.sessions.middleware.SessionMiddleware": "no cookie, no session touched",
    "django.middleware.csrf.CsrfViewMiddleware": "no cookie; the route's view is csrf-exempt",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "request.user is lazy, unused",
    "orderflow.admin_guard.AdminQueryGuardMiddleware": "acts on the admin's paths only",
    "django.contrib.messages.middleware.MessageMiddleware": "no message added",
    "axes.middleware.AxesMiddleware": "acts on a locked-out login only",
    "orderflow.api.middleware.OutageMiddleware": "exceptions go to the full path",
}
#: the methods a fast route may serve (django-prometheus labels any other "<invalid method>";
#: TRACE and CONNECT are not for an API route)
_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}
#: (method, path) -> the handler's dotted path
_routes: dict[tuple[str, str], str] = {}
_around: set[str] = set()


@dataclass
class _Served:
    """A route as one handler serves it: its own middleware instances, as Django's are."""

    match: object
    chain: object
    prometheus: "_Counts | None" = None


def register(method: str, path: str, handler: str) -> None:
    """Serve ``method path`` (exact, e.g. ``"POST", "/api/v1/orders"``) with ``handler``.

    ``handler`` is a dotted path to ``f(request) -> HttpResponse | None``; None declines.
    The path must resolve in the URLconf to a csrf-exempt view (the full path's), whose
    name labels the request's metrics.
    """
    if path.startswith((*STAFF_PREFIXES, "/" + settings.STATIC_URL.lstrip("/"))):
        raise ValueError(f"{path}: not a path a fast route may serve")
    if method.upper() not in _METHODS:  # a method its metrics label as itself
        raise ValueError(f"{method}: not a method a fast route may serve")
    _routes[(method.upper(), path)] = handler


def run_around(middleware: str) -> None:
    """Declare a context's middleware (a dotted path in MIDDLEWARE) safe to run around fast
    routes: a plain ``__call__`` wrapper that changes neither the request nor the response
    (a per-request scope or measurement), so it runs around the handler as it does around
    the view."""
    _around.add(middleware)


def enabled() -> bool:
    return getattr(settings, "FAST_ROUTES", _ON_BY_DEFAULT) and not tracing.enabled()


class _Declined(Exception):
    """A fast route's handler declined (``error``: the exception it raised, if it did)."""

    def __init__(self, error: Exception | None):
        self.error = error


class FastRoutesHandler(WSGIHandler):
    """Django's WSGI handler, with the registered fast routes served ahead of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fast_middleware = self._fast_middleware_paths()
        #: each route's chain, built at its first request (None: the route cannot be served)
        self._served: dict[tuple[str, str], _Served | None] = {}

    def _fast_middleware_paths(self) -> list[str] | None:
        unknown = [
            path
            for path in settings.MIDDLEWARE
            if path not in _RUN
            and path not in _PASSIVE
            and path not in _around
            and path not in (_PROMETHEUS_BEFORE, _PROMETHEUS_AFTER)
        ]
        middleware = settings.MIDDLEWARE
        if (_PROMETHEUS_BEFORE in middleware) != (_PROMETHEUS_AFTER in middleware):
            unknown.append("django-prometheus's middlewares, one without the other")
        if unknown:
            if _routes:
                logger.info("fast routes off: middleware %s is not known to them", unknown)
            return None
        return list(settings.MIDDLEWARE)

    def __call__(self, environ, start_response):
        route_key = (environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if route_key not in _routes or self._fast_middleware is None or not enabled():
            return super().__call__(environ, start_response)
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = self.request_class(environ)
        response = self._serve(route_key, request)
        if response is None:
            response = self.get_response(request)
        response._handler_class = self.__class__
        status = f"{response.status_code} {response.reason_phrase}"
        response_headers = [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        start_response(status, response_headers)
        if getattr(response, "file_to_stream", None) is not None and environ.get(
            "wsgi.file_wrapper"
        ):  # as Django's handler does
            response.file_to_stream.close = response.close
            response = environ["wsgi.file_wrapper"](response.file_to_stream, response.block_size)
        return response

    # --- the route ------------------------------------------------------------------------------
    def _ready(self, route_key: tuple[str, str], request) -> _Served | None:
        if route_key in self._served:
            return self._served[route_key]
        self._served[route_key] = served = self._prepare(_routes[route_key], request.path_info)
        return served

    def _prepare(self, handler_path: str, path: str) -> _Served | None:
        try:
            match = resolve(path)
        except Resolver404:
            logger.warning("fast route %s: no view at that path", path)
            return None
        if not getattr(match.func, "csrf_exempt", False):
            logger.warning("fast route %s: its view is not csrf-exempt", path)
            return None
        handler = import_string(handler_path)

        def handle(request):
            request.fast_route_started = Time()  # django-prometheus's "after" latency
            try:
                response = handler(request)
            except Exception as exc:  # answered by the full path, which raises it again
                raise _Declined(exc) from exc
            if response is None:
                raise _Declined(None)
            return response

        served = _Served(match=match, chain=handle)
        for middleware in reversed(self._fast_middleware):
            if middleware in _RUN or middleware in _around:
                served.chain = import_string(middleware)(served.chain)
        if _PROMETHEUS_BEFORE in self._fast_middleware:  # and the after one (see above)
            served.prometheus = _Counts(
                *(import_string(path)(handle) for path in (_PROMETHEUS_BEFORE, _PROMETHEUS_AFTER)),
                view=match.view_name or "<unnamed view>",
            )
        return served

    def _serve(self, route_key: tuple[str, str], request):
        meta = request.META
        if "HTTP_COOKIE" in meta:
            return None
        served = self._ready(route_key, request)
        if served is None:
            return None
        try:
            request.get_host()
        except DisallowedHost:
            return None  # the full path answers 400
        set_urlconf(settings.ROOT_URLCONF)
        started = Time()
        request.resolver_match = served.match
        try:
            response = served.chain(request)
        except _Declined as declined:
            setattr(request, HANDED_ON, declined.error or True)
            request.resolver_match = None
            correlation_id = getattr(request, "correlation_id", None)
            if correlation_id and meta.get(_CORRELATION_META) != correlation_id:
                meta[_CORRELATION_META] = correlation_id  # one id for the request's log lines
            return None
        if served.prometheus is not None:
            served.prometheus.count(
                request, response, started, getattr(request, "fast_route_started", None)
            )
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response


class _Counts:
    """What django-prometheus's two middlewares count for a route's request, as they count it.

    The same metrics (their ``Metrics`` instance) and the same series, each looked up once
    per label set rather than on every request: a route's view and method are fixed, so a
    request's series follow from its transport, status and charset alone. The "after"
    middleware is innermost: it sees only what reached the handler, not an answer a
    middleware gave first (the 413, a redirect), as in the full path.
    """

    def __init__(self, before, after, view: str):
        self.before, self.after, self.view = before.metrics, after.metrics, view
        self._series: dict[tuple, tuple] = {}

    def count(self, request, response, started, handler_started) -> None:
        before = self.before
        before.requests_total.inc()
        if handler_started is not None:
            self._count_after(request, response, handler_started)
        before.responses_total.inc()
        before.requests_latency_before.observe(TimeSince(started))

    def _count_after(self, request, response, handler_started) -> None:
        metrics, meta = self.after, request.META
        key = (request.is_secure(), request.method, response.status_code, response.charset)
        series = self._series.get(key) or self._series.setdefault(key, self._series_for(*key))
        by_method, by_transport, by_view, by_status, by_status_view, by_charset, latency = series
        by_method.inc()
        by_transport.inc()
        if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            metrics.requests_ajax.inc()
        metrics.requests_body_bytes.observe(int(meta.get("CONTENT_LENGTH") or 0))
        by_view.inc()
        by_status.inc()
        by_status_view.inc()
        by_charset.inc()
        if response.streaming:
            metrics.responses_streaming.inc()
        else:
            metrics.responses_body_bytes.observe(len(response.content))
        latency.observe(TimeSince(handler_started))

    def _series_for(self, secure: bool, method: str, status: int, charset: str) -> tuple:
        metrics, view = self.after, self.view
        transport = "https" if secure else "http"
        status = str(status)
        return (
            metrics.requests_by_method.labels(method=method),
            metrics.requests_by_transport.labels(transport=transport),
            metrics.requests_by_view_transport_method.labels(
                view=view, transport=transport, method=method
            ),
            metrics.responses_by_status.labels(status=status),
            metrics.responses_by_status_view_method.labels(status=status, view=view, method=method),
            metrics.responses_by_charset.labels(charset=str(charset)),
            metrics.requests_latency_by_view_method.labels(view=view, method=method),
        )


def application() -> FastRoutesHandler:
    """The WSGI application (as ``django.core.wsgi.get_wsgi_application``, with fast routes)."""
    import django

    django.setup(set_prefix=False)
    return FastRoutesHandler()
