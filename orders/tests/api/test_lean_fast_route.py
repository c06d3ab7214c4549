"""The intake as a fast route (orderflow/api/fast_routes.py): ahead of Django's middleware.

Each comparison sends the same requests through the WSGI application twice: with the fast
route (``FAST_ROUTES`` on, the full path made unreachable to prove it answered) and through
Django's full handler (``FAST_ROUTES = False``: every middleware, the URL resolver, the lean
view inside it). A shop must not tell them apart except by speed.
"""

import io
import logging
import sys
import uuid

import orjson
import pytest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections, connection
from django.urls import resolve

from orderflow.api import fast_routes
from orderflow.api.fast_routes import FastRoutesHandler
from orderflow.api.problems import OUTAGE_RETRY_AFTER_SECONDS
from orderflow.events import event_published
from orderflow.observability.logging_context import current_log_context
from orderflow.tests.observability import sample, spans_fixture  # noqa: F401 (a fixture)
from orders.api import views
from orders.apps import INTAKE_PATH
from orders.models import Order
from testkit.factories import api_key_for

from ..assertions import row_counts

pytestmark = pytest.mark.django_db

#: what must differ between two answers: the server's Date is not set by the application
VARYING = {"Date"}


class Answer:
    def __init__(self, status: str, headers: list, body: bytes):
        self.status_code = int(status.split()[0])
        self.status = status
        self.headers = headers
        self.body = body

    def __getitem__(self, name: str) -> str:
        return dict(self.headers)[name]

    def json(self):
        return orjson.loads(self.body)


@pytest.fixture
def wsgi():
    """Call the WSGI application as a server would (Django's test client keeps the test's
    connection the same way: no closing of connections around a request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    application = FastRoutesHandler()

    def call(body, *, headers=None, scheme="http", app=None) -> Answer:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": INTAKE_PATH,
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "443" if scheme == "https" else "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(raw),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(raw)),
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "testserver",
            **(headers or {}),
        }
        answer: dict = {}

        def start_response(status, response_headers, exc_info=None):
            answer.update(status=status, headers=response_headers)

        result = (app or application)(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()
        return Answer(answer["status"], answer["headers"], content)

    try:
        yield call
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def key(shop):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(shop)}"}


@pytest.fixture
def full_path_unreachable(monkeypatch):
    """Django's handler refuses: a test using it proves the fast route answered."""

    def refuse(self, request):
        raise AssertionError("Django's full handler answered")

    monkeypatch.setattr(FastRoutesHandler, "get_response", refuse)


def _headers(answer: Answer) -> list[tuple[str, str]]:
    return [(name, value) for name, value in answer.headers if name not in VARYING]


def _shape(value):
    """A document's keys and value types, without the values (ids, numbers, dates differ)."""
    if isinstance(value, dict):
        return {name: _shape(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def _full_path(settings, send):
    settings.FAST_ROUTES = False
    try:
        return send()
    finally:
        settings.FAST_ROUTES = True


def test_the_route_is_the_intake_views():
    match = resolve(INTAKE_PATH)

    assert match.func.view_class is views.OrderListCreateApi
    assert match.func.csrf_exempt
    assert ("POST", INTAKE_PATH) in fast_routes._routes


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("idempotency_key", [None, "fast-1"])
def test_a_new_order_and_its_replay_answer_as_the_full_path_does(
    wsgi, key, products, order_body, settings, monkeypatch, scheme, idempotency_key
):
    def send(suffix: str) -> tuple[Answer, Answer]:
        headers = {**key, "HTTP_X_CORRELATION_ID": "corr-same"}
        if idempotency_key:
            headers["HTTP_IDEMPOTENCY_KEY"] = f"{idempotency_key}-{suffix}"
        return (
            wsgi(order_body(), headers=headers, scheme=scheme),
            wsgi(order_body(), headers=headers, scheme=scheme),
        )

    full = _full_path(settings, lambda: send("full"))
    with monkeypatch.context() as patch:
        patch.setattr(FastRoutesHandler, "get_response", None)  # the fast route answers
        fast = send("fast")

    assert [a.status for a in full] == [a.status for a in fast] == ["201 Created"] * 2
    for full_answer, fast_answer in zip(full, fast, strict=True):
        assert _headers(fast_answer) == _headers(full_answer)
        assert _shape(fast_answer.json()) == _shape(full_answer.json())
    names = {name for name, _ in fast[0].headers}
    assert {"X-Content-Type-Options", "X-Frame-Options", "Content-Length"} <= names
    assert ("Strict-Transport-Security" in names) is (scheme == "https")
    assert fast[0]["X-Correlation-ID"] == "corr-same"
    assert (idempotency_key is not None) is (fast[1].json() == fast[0].json())
    if idempotency_key:
        assert fast[1]["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 4 - 2 * bool(idempotency_key)


def test_a_request_the_fast_route_declines_is_answered_by_the_full_path_as_before(
    wsgi, key, products, order_body, settings
):
    bad = order_body(lines=[{"sku": "NOPE", "quantity": 1}])
    headers = {**key, "HTTP_X_CORRELATION_ID": "corr-bad"}
    before = row_counts()

    fast = wsgi(bad, headers=headers)
    full = _full_path(settings, lambda: wsgi(bad, headers=headers))
    unauthenticated = wsgi(order_body(), headers={"HTTP_AUTHORIZATION": "Bearer nope"})

    assert (fast.status_code, _headers(fast), fast.json()) == (
        full.status_code,
        _headers(full),
        full.json(),
    )
    assert fast.status_code == 400
    assert unauthenticated.status_code == 401
    assert unauthenticated["Content-Type"] == "application/problem+json"
    assert row_counts() == before


def test_a_body_over_the_limit_is_a_413_and_writes_nothing(
    wsgi, key, products, order_body, settings, full_path_unreachable
):
    settings.API_MAX_BODY_BYTES = 64
    before = row_counts()

    answer = wsgi(order_body(), headers=key)

    assert answer.status_code == 413
    assert answer.json()["type"] == "/api/problems/request-too-large"
    assert row_counts() == before


def _failing_write(execute, sql, params, many, context):
    if sql.lstrip().upper().startswith("WITH"):
        raise OperationalError("server closed the connection unexpectedly")
    return execute(sql, params, many, context)


def test_a_database_lost_during_the_write_is_the_full_paths_503(
    wsgi, key, products, order_body, settings, monkeypatch
):
    """The handler's exception is raised again inside the full path: same 503, and the DRF
    view does not run the request a second time."""
    headers = {**key, "HTTP_X_CORRELATION_ID": "corr-outage"}
    before = row_counts()
    with connection.execute_wrapper(_failing_write):
        full = _full_path(settings, lambda: wsgi(order_body(), headers=headers))
        monkeypatch.setattr(
            views.OrderListCreateApi, "post", lambda *a: pytest.fail("the DRF view ran")
        )
        fast = wsgi(order_body(), headers=headers)

    assert fast.status_code == full.status_code == 503
    assert _headers(fast) == _headers(full)
    assert fast.json() == full.json()
    assert fast["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    assert row_counts() == before


def test_the_rate_limit_counts_each_request_once(wsgi, key, products, order_body, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": f"fast-{uuid.uuid4().hex}"}
    }  # fmt: skip
    settings.API_RATE_LIMIT = "3/minute"
    bad = order_body(lines=[{"sku": "NOPE", "quantity": 1}])

    answers = [wsgi(body, headers=key) for body in (bad, order_body(), order_body(), order_body())]

    assert [a.status_code for a in answers] == [400, 201, 201, 429]
    assert int(answers[-1]["Retry-After"]) >= 1


def _metrics(status: str, transport: str = "http") -> tuple[float, ...]:
    view = resolve(INTAKE_PATH).view_name
    return (
        sample("django_http_requests_before_middlewares_total"),
        sample("django_http_responses_before_middlewares_total"),
        sample("django_http_requests_total_by_method_total", method="POST"),
        sample(
            "django_http_requests_total_by_view_transport_method_total",
            view=view,
            transport=transport,
            method="POST",
        ),
        sample("django_http_responses_total_by_status_total", status=status),
        sample(
            "django_http_responses_total_by_status_view_method_total",
            status=status,
            view=view,
            method="POST",
        ),
        sample(
            "django_http_requests_latency_seconds_by_view_method_count", view=view, method="POST"
        ),
        sample("orderflow_orders_placed_total"),
        sample("orderflow_order_intake_seconds_count"),
    )


@pytest.mark.django_db(transaction=True)  # the order counters move when the order commits
@pytest.mark.parametrize("fast", [True, False])
def test_a_request_is_counted_as_the_full_path_counts_it(
    wsgi, key, products, order_body, settings, fast
):
    settings.FAST_ROUTES = fast
    placed, refused = _metrics("201"), _metrics("400")

    wsgi(order_body(), headers=key)
    after_placed, after_refused = _metrics("201"), _metrics("400")
    wsgi(order_body(lines=[{"sku": "NOPE", "quantity": 1}]), headers=key)

    assert [b - a for a, b in zip(placed, after_placed, strict=True)] == [1] * 9
    assert [b - a for a, b in zip(after_refused, _metrics("400"), strict=True)] == [
        1, 1, 1, 1, 1, 1, 1, 0, 0
    ]  # fmt: skip
    assert refused[4] == after_refused[4]


@pytest.mark.django_db(transaction=True)  # the order counters move when the order commits
@pytest.mark.parametrize("fast", [True, False])
def test_a_request_over_https_is_counted_by_its_transport_and_charset(
    wsgi, key, products, order_body, settings, fast
):
    settings.FAST_ROUTES = fast

    def counts():
        return (
            *_metrics("201", transport="https"),
            sample("django_http_requests_total_by_transport_total", transport="https"),
            sample("django_http_requests_total_by_transport_total", transport="http"),
            sample("django_http_responses_total_by_charset_total", charset="utf-8"),
            sample("django_http_requests_body_total_bytes_count"),
            sample("django_http_responses_body_total_bytes_count"),
        )

    before = counts()
    assert wsgi(order_body(), headers=key, scheme="https").status_code == 201

    assert [b - a for a, b in zip(before, counts(), strict=True)] == [1] * 9 + [1, 0, 1, 1, 1]


def test_a_fast_route_is_for_a_method_its_metrics_can_name():
    with pytest.raises(ValueError, match="BREW"):
        fast_routes.register("BREW", "/api/v1/coffee", "orders.api.lean.place")


@pytest.mark.parametrize("fast", [True, False])
def test_a_413_is_counted_as_the_full_path_counts_it(wsgi, key, order_body, settings, fast):
    """The body limit answers before the view: the innermost middleware's counts stay."""
    settings.FAST_ROUTES = fast
    settings.API_MAX_BODY_BYTES = 64
    before = _metrics("413")

    app = FastRoutesHandler()  # the middleware read the limit as the handler was built

    assert wsgi(order_body(), headers=key, app=app).status_code == 413

    assert [b - a for a, b in zip(before, _metrics("413"), strict=True)] == [
        1, 1, 0, 0, 0, 0, 0, 0, 0
    ]  # fmt: skip


@pytest.mark.parametrize("fast", [True, False])
def test_the_request_has_its_correlation_id_and_log_context(
    wsgi, key, shop, products, order_body, settings, caplog, fast
):
    settings.FAST_ROUTES = fast
    seen = []

    def note(sender, event, **kwargs):
        seen.append(current_log_context())
        logging.getLogger("orders.tests").warning("placed")

    event_published.connect(note, dispatch_uid="test-fast-route-note")
    try:
        answer = wsgi(order_body(), headers=key)
    finally:
        event_published.disconnect(dispatch_uid="test-fast-route-note")

    order = Order.objects.get()
    assert seen == [{"order_id": str(order.pk), "shop_id": str(shop.pk)}]
    [record] = [r for r in caplog.records if r.name == "orders.tests"]
    assert record.correlation_id == answer["X-Correlation-ID"]
    assert answer.json()["id"] == str(order.pk)


def test_a_refused_request_logs_its_one_line(wsgi, key, products, order_body, caplog):
    wsgi(order_body(lines=[{"sku": "NOPE", "quantity": 1}]), headers=key)

    lines = [r for r in caplog.records if r.name == "django.request"]
    assert [(r.levelname, r.status_code) for r in lines] == [("WARNING", 400)]


def test_a_request_with_a_cookie_takes_the_full_path(wsgi, key, products, order_body, monkeypatch):
    tried = []
    monkeypatch.setattr(FastRoutesHandler, "_ready", lambda *a: tried.append(1))

    answer = wsgi(order_body(), headers={**key, "HTTP_COOKIE": "sessionid=x"})

    assert answer.status_code == 201
    assert tried == []


@pytest.mark.parametrize(
    "change",
    [
        lambda middleware: [*middleware, "tests.probe.SomeMiddleware"],
        lambda middleware: [m for m in middleware if "PrometheusAfter" not in m],
    ],
    ids=["unknown", "prometheus-half"],
)
def test_a_middleware_the_fast_routes_do_not_know_turns_them_off(settings, change):
    handler = FastRoutesHandler.__new__(FastRoutesHandler)
    assert handler._fast_middleware_paths() == settings.MIDDLEWARE

    settings.MIDDLEWARE = change(settings.MIDDLEWARE)

    assert handler._fast_middleware_paths() is None


def test_with_tracing_on_the_request_has_its_server_span(
    wsgi,
    key,
    products,
    order_body,
    spans,
):
    answer = wsgi(order_body(), headers=key, app=FastRoutesHandler())

    assert answer.status_code == 201
    servers = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert [s.attributes.get("http.status_code") for s in servers] == [201]
