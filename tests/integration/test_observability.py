"""Observability across the contexts: an order's metrics, its trace, and what operators scrape.

In-process tests run the saga with the relay's own loop (``drain``) after a real API
request. The process tests start what a deployment starts — a Celery worker and gunicorn,
each with several processes sharing one Prometheus multiprocess directory — and read
what Prometheus, promtool and the trace viewer would.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from django.db import connection, transaction
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from devtools.processes import ManagedProcess, ProcessFailedToStart
from orderflow.events import publish
from orderflow.events.pump import drain
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from orderflow.tests.observability import delivery_spans, sample, spans_fixture  # noqa: F401
from testkit.factories import ProductFactory, ShopFactory, api_key_for
from tests.fixtures import wait_for
from tests.probe.events import ProbePinged
from tests.probe.models import ProbeEffect

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
SAGA = [
    "orders.reserve_stock_on_order_placed",
    "payments.charge_on_stock_reserved",
    "orders.confirm_order_on_payment_captured",
    "payments.issue_invoice_on_order_confirmed",
]
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None,
    reason="promtool is not installed (Debian package prometheus; .ci/run installs it)",
)


@pytest.fixture
def shop():
    return ShopFactory(tax_rate=Decimal("0.2"))


@pytest.fixture
def api(shop) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client


@pytest.fixture
def coffee(shop):
    return ProductFactory(shop=shop, sku="COFFEE-1KG", price=Decimal("24.90"), on_hand=10)


def place(api: APIClient, *, quantity: int = 1, **headers) -> UUID:
    response = api.post(
        "/api/v1/orders",
        {
            "customer": {"name": "Ana Souza", "email": "ana@example.com"},
            "shipping_address": {
                "line1": "Rua A 1",
                "city": "São Paulo",
                "postal_code": "01000-000",
                "country": "BR",
            },
            "lines": [{"sku": "COFFEE-1KG", "quantity": quantity}],
            "payment": {"token": "tok_ok"},
        },
        format="json",
        **headers,
    )
    assert response.status_code == 201, response.content
    return UUID(response.json()["id"])


def done_per_subscriber() -> dict[str, int]:
    counts: dict[str, int] = {}
    for delivery in Delivery.objects.filter(status=DeliveryStatus.DONE):
        counts[delivery.subscriber] = counts.get(delivery.subscriber, 0) + 1
    return counts


def samples_of(text: str) -> dict[str, dict[tuple, float]]:
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def run_promtool_check_metrics(exposition: str) -> None:
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- metrics --------------------------------------------------------------------------------
def test_metrics_move_exactly_as_an_order_flows(api, shop, coffee):
    counters = [
        "orderflow_orders_placed_total",
        "orderflow_orders_confirmed_total",
        "orderflow_orders_cancelled_total",
        "orderflow_orders_rejected_total",
    ]
    before = {name: sample(name) for name in counters}
    intake = sample("orderflow_order_intake_seconds_count")
    to_confirmed = sample("orderflow_order_placed_to_confirmed_seconds_count")
    relayed = sample("orderflow_events_relayed_total")
    created = {
        "status": "201",
        "view": "orders",
        "method": "POST",
    }
    http_201 = sample("django_http_responses_total_by_status_view_method_total", **created)
    queries = sample("django_db_execute_total", alias="default", vendor="postgresql")
    subscribers = [*SAGA, "orders.release_stock_on_order_cancelled"]
    deliveries = {
        sub: (
            sample("orderflow_deliveries_total", subscriber=sub, outcome="done"),
            sample("orderflow_event_handled_latency_seconds_count", subscriber=sub),
        )
        for sub in SAGA
    }
    published = {
        t: sample("orderflow_events_published_total", type=t)
        for t in ("order.placed", "stock.reserved", "payment.captured", "order.confirmed")
    }

    # when: one order is placed and confirmed, a second one is rejected (no stock)
    confirmed_id = place(api, quantity=2)
    drain()
    place(api, quantity=50)
    drain()

    # then
    after = {name: sample(name) for name in counters}
    assert {name: after[name] - before[name] for name in counters} == {
        "orderflow_orders_placed_total": 2,
        "orderflow_orders_confirmed_total": 1,
        "orderflow_orders_cancelled_total": 0,
        "orderflow_orders_rejected_total": 1,
    }
    assert sample("orderflow_order_intake_seconds_count") - intake == 2
    assert sample("orderflow_order_placed_to_confirmed_seconds_count") - to_confirmed == 1
    assert sample("orderflow_events_relayed_total") - relayed == OutboxEvent.objects.count()
    assert (
        sample("django_http_responses_total_by_status_view_method_total", **created) - http_201 == 2
    )
    assert sample("django_db_execute_total", alias="default", vendor="postgresql") > queries
    done = done_per_subscriber()
    for sub in SAGA:
        handled, timed = deliveries[sub]
        assert done[sub] == (2 if sub == SAGA[0] else 1)
        assert (
            sample("orderflow_deliveries_total", subscriber=sub, outcome="done") - handled
            == (done[sub])
        )
        assert (
            sample("orderflow_event_handled_latency_seconds_count", subscriber=sub) - timed
            == done[sub]
        )
    for event_type, count in published.items():
        committed = OutboxEvent.objects.filter(type=event_type).count()
        assert sample("orderflow_events_published_total", type=event_type) - count == committed

    # and a cancellation by the shop counts once
    response = api.post(f"/api/v1/orders/{confirmed_id}/cancel", {}, format="json")
    assert response.status_code == 200, response.content
    drain()
    assert sample("orderflow_orders_cancelled_total") - before[counters[2]] == 1
    assert subscribers  # the release handler ran as a plain delivery; no counter of its own


def test_a_refused_order_is_no_intake(api, coffee):
    intake = sample("orderflow_order_intake_seconds_count")

    response = api.post("/api/v1/orders", {"lines": []}, format="json")

    assert response.status_code == 400
    assert sample("orderflow_order_intake_seconds_count") == intake


@needs_promtool
def test_promtool_accepts_the_web_exposition_after_an_order(api, coffee, client):
    place(api)
    drain()

    response = client.get("/metrics")

    assert response.status_code == 200
    exposition = response.content.decode()
    assert re.search(r"^orderflow_orders_placed_total [1-9]", exposition, re.M)
    run_promtool_check_metrics(exposition)


# --- the dashboard and the alerts name metrics the app exports ------------------------------
_PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "le", "bool", "offset", "vector", "humanizeDuration", "humanizePercentage",
}  # fmt: skip


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers and functions removed)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    grouping = set(re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", without_ranges))
    labels = {label.strip() for group in grouping for label in group.split(",")}
    numbers = {n for n in names if n.replace("_", "").isdigit()}
    return names - _PROMQL_WORDS - labels - numbers


def exported_names(exposition: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        suffixes = {
            "counter": ["_total", "_created"],
            "histogram": ["_bucket", "_count", "_sum", "_created"],
        }.get(family.type, [])
        names.update(family.name + suffix for suffix in suffixes)
        names.update(s.name for s in family.samples)
    return names


def test_dashboard_and_alerts_query_only_metrics_the_app_exports(api, coffee, client):
    place(api)
    drain()
    exported = exported_names(client.get("/metrics").content.decode())
    dashboard = json.loads((REPO_ROOT / "deploy/grafana/dashboards/orderflow.json").read_text())
    alerts = yaml.safe_load((REPO_ROOT / "deploy/prometheus/alerts.yml").read_text())

    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    exprs += [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    assert len(exprs) > 30

    named = set().union(*(metric_names_in(e.replace("$__rate_interval", "5m")) for e in exprs))
    assert named - exported == set()
    # every panel reads the provisioned Prometheus data source
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"} == {
        "prometheus"
    }
    # the headline series are there
    assert {
        "orderflow_orders_placed_total",
        "orderflow_order_intake_seconds_bucket",
        "orderflow_order_placed_to_confirmed_seconds_bucket",
        "orderflow_outbox_unpublished_events",
        "orderflow_dead_letters",
        "orderflow_webhook_deliveries_total",
        "django_http_responses_total_by_status_view_method_total",
    } <= named


# --- traces ---------------------------------------------------------------------------------
def test_one_orders_spans_share_a_trace_from_the_request_to_every_handler(api, coffee, spans):
    order_id = place(api, HTTP_X_CORRELATION_ID="corr-trace-1")
    drain()

    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.kind == SpanKind.SERVER and "POST" in s.name]
    trace_id = request.context.trace_id
    deliveries = delivery_spans(finished)
    assert set(SAGA) <= set(deliveries)
    # every handler of every event of the order, whichever context, continues the trace
    assert {span.context.trace_id for span in deliveries.values()} == {trace_id}
    order_events = OutboxEvent.objects.filter(data__order_id=str(order_id))
    assert {row.trace_context["traceparent"].split("-")[1] for row in order_events} == {
        f"{trace_id:032x}"
    }
    # the database work of the request and of the handlers is in it too
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    assert any(s.attributes.get("db.system") == "postgresql" for s in in_trace)
    relays = [s for s in in_trace if s.name.startswith("relay ")]
    assert {s.name for s in relays} >= {"relay order.placed", "relay order.confirmed"}
    assert deliveries[SAGA[0]].parent.span_id == request.context.span_id


class _OtlpReceiver(BaseHTTPRequestHandler):
    """A trace viewer's OTLP/HTTP endpoint: keeps the spans workers export."""

    spans: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((service, span))
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def otlp_receiver(monkeypatch):
    """An OTLP endpoint on loopback, named in the environment that the workers inherit."""
    _OtlpReceiver.spans = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OtlpReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orderflow-worker")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    try:
        yield _OtlpReceiver
    finally:
        server.shutdown()


def test_a_worker_process_continues_the_trace_of_the_request(
    otlp_receiver, event_workers, api, coffee, spans
):
    order_id = place(api)
    (request,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    trace_id = request.context.trace_id.to_bytes(16, "big")

    def worker_deliveries():
        return {
            {a.key: a.value.string_value for a in span.attributes}.get("orderflow.subscriber")
            for service, span in otlp_receiver.spans
            if service == "orderflow-worker" and span.trace_id == trace_id
        }

    wait_for(
        lambda: set(SAGA) <= worker_deliveries(),
        timeout=30,
        what=f"the worker's spans of order {order_id} in the request's trace",
    )


# --- several processes: Prometheus multiprocess mode ----------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (loopback)
        return response.read().decode()


@pytest.fixture
def worker_metrics(monkeypatch, tmp_path) -> str:
    """The workers of ``event_workers`` share one multiprocess directory and serve it."""
    port = free_port()
    directory = tmp_path / "metrics"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    monkeypatch.setenv("WORKER_METRICS_PORT", str(port))
    monkeypatch.setenv("WORKER_METRICS_ADDRESS", "127.0.0.1")
    return f"http://127.0.0.1:{port}/metrics"


def test_a_workers_processes_are_summed_on_its_metrics_port(worker_metrics, event_workers):
    for _ in range(20):
        with transaction.atomic():
            publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))
    wait_for(lambda: ProbeEffect.objects.count() == 40, what="40 effects")

    def handled() -> float:
        samples = samples_of(fetch(worker_metrics)).get("orderflow_deliveries_total", {})
        key = (("outcome", "done"), ("subscriber", "probe.record_on_probe_pinged"))
        return samples.get(key, 0.0)

    # whichever pool process ran each delivery, the counts arrive summed on one port
    wait_for(lambda: handled() == 20, what="20 handled deliveries on the worker's port")
    exposition = fetch(worker_metrics)
    assert "orderflow_celery_tasks_total{" in exposition
    if promtool:
        run_promtool_check_metrics(exposition)


@pytest.fixture
def gunicorn(tmp_path, live_server_env):
    """The `http` role: gunicorn with two worker processes and one multiprocess directory."""
    port = free_port()
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**live_server_env, "PROMETHEUS_MULTIPROC_DIR": str(directory), "WEB_CONCURRENCY": "2"}
    process = ManagedProcess(
        "gunicorn",
        [
            sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "orderflow.wsgi:application",
        ],
        env,
        ready_marker="Booting worker",
    )  # fmt: skip
    try:
        process.start()
    except ProcessFailedToStart as error:
        pytest.fail(str(error))
    try:
        wait_for(
            lambda: sum("Booting worker" in line for line in process.output) == 2,
            what="gunicorn's 2 worker processes",
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
def live_server_env() -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }


def test_gunicorns_worker_processes_are_summed_on_metrics(gunicorn):
    for _ in range(30):
        assert fetch(f"{gunicorn}/healthz") == '{"status": "ok"}'

    exposition = fetch(f"{gunicorn}/metrics")

    samples = samples_of(exposition)["django_http_responses_total_by_status_view_method_total"]
    key = (("method", "GET"), ("status", "200"), ("view", "healthz"))
    assert samples[key] == 30
    assert samples_of(exposition)["orderflow_metrics_collector_up"][(("collector", "events"),)] == 1
    if promtool:
        run_promtool_check_metrics(exposition)
