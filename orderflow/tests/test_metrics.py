"""Metrics the kernel records and serves: deliveries, latencies, backlog, /metrics itself."""

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from notifications import metrics as notifications_metrics
from orderflow.events import publish
from orderflow.events.projectors import get_projector, projector_pass
from orderflow.events.pump import drain
from orderflow.events.relay import relay_batch
from orderflow.models import OutboxEvent
from orderflow.observability.metrics.collectors import ScrapeCollectors
from orderflow.tasks import events_pump_task
from orderflow.tests.observability import sample
from orderflow.tests.projector_probe import NAME, park_one, surface_projector
from orders import metrics as orders_metrics
from tests.probe.events import ProbeIgnored, ProbePinged
from tracking import metrics as tracking_metrics

__all__ = ["surface_projector"]

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"


def ping(**fields) -> OutboxEvent:
    with transaction.atomic():
        return publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1, **fields))


def scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    """GET /metrics and return {sample name: {sorted labels: value}}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


@pytest.mark.django_db(transaction=True)
def test_deliveries_count_outcomes_and_time_commit_to_handled_per_subscriber():
    before = {
        (sub, outcome): sample("orderflow_deliveries_total", subscriber=sub, outcome=outcome)
        for sub in (RECORD, ORDERED)
        for outcome in ("done", "retry", "dead")
    }
    latency_before = {
        sub: sample("orderflow_event_handled_latency_seconds_count", subscriber=sub)
        for sub in (RECORD, ORDERED)
    }
    published_before = sample("orderflow_events_published_total", type="probe.pinged")
    relayed_before = sample("orderflow_events_relayed_total")
    ping()
    ping()
    ping(behaviour="permanent")  # RECORD dead-letters it; ORDERED handles it

    drain()

    def delta(sub, outcome):
        return (
            sample("orderflow_deliveries_total", subscriber=sub, outcome=outcome)
            - before[(sub, outcome)]
        )

    assert [delta(RECORD, o) for o in ("done", "retry", "dead")] == [2, 0, 1]
    assert [delta(ORDERED, o) for o in ("done", "retry", "dead")] == [3, 0, 0]
    # commit -> handled latency is observed for what was handled, not for the dead letter
    assert (
        sample("orderflow_event_handled_latency_seconds_count", subscriber=RECORD)
        - latency_before[RECORD]
        == 2
    )
    assert (
        sample("orderflow_event_handled_latency_seconds_count", subscriber=ORDERED)
        - latency_before[ORDERED]
        == 3
    )
    assert sample("orderflow_events_published_total", type="probe.pinged") - published_before == 3
    assert sample("orderflow_events_relayed_total") - relayed_before == 3


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_is_never_counted():
    before = sample("orderflow_events_published_total", type="probe.pinged")

    def failing_use_case():
        with transaction.atomic():
            publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))
            raise RuntimeError("the use case failed after publishing")

    with pytest.raises(RuntimeError):
        failing_use_case()

    assert sample("orderflow_events_published_total", type="probe.pinged") == before


@pytest.mark.django_db(transaction=True)
def test_celery_task_runs_are_counted_and_timed():
    task = "orderflow.tasks.events_pump_task"
    runs = sample("orderflow_celery_tasks_total", task=task, state="SUCCESS")
    timed = sample("orderflow_celery_task_duration_seconds_count", task=task)

    events_pump_task.apply()

    assert sample("orderflow_celery_tasks_total", task=task, state="SUCCESS") - runs == 1
    assert sample("orderflow_celery_task_duration_seconds_count", task=task) - timed == 1


@pytest.mark.django_db(transaction=True)
def test_metrics_shows_the_backlog_and_dead_letters_read_at_scrape_time(client):
    ping(behaviour="permanent")
    drain()
    with transaction.atomic():
        publish(ProbeIgnored(probe_id=uuid.uuid4(), shop_id=1))
    ping()  # two events wait in the outbox, not yet relayed

    samples = scrape(client)

    assert samples["orderflow_outbox_unpublished_events"] == {(): 2.0}
    assert samples["orderflow_outbox_oldest_unpublished_age_seconds"][()] > 0
    assert samples["orderflow_dead_letters"] == {(("subscriber", RECORD),): 1.0}
    assert samples["orderflow_deliveries_open"] == {
        (("state", "due"),): 0.0,
        (("state", "in_flight"),): 0.0,
        (("state", "retry_scheduled"),): 0.0,
    }
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert samples["orderflow_celery_queue_length"][(("queue", queue),)] >= 0
    assert samples["orderflow_metrics_collector_up"] == {
        (("collector", "events"),): 1.0,
        (("collector", "projectors"),): 1.0,
        (("collector", "celery_queues"),): 1.0,
    }


@pytest.mark.django_db
def test_metrics_shows_each_projectors_lag_and_parked_events_per_batch(client, surface_projector):
    batches = sample("orderflow_projector_batch_events_count", projector=NAME)
    events = sample("orderflow_projector_batch_events_sum", projector=NAME)
    parked = park_one()  # one batch fails whole, then bisected down to the event, parked
    ping()
    ping()
    while relay_batch():
        pass

    before = scrape(client)
    while projector_pass(get_projector(NAME)).advanced:
        pass
    after = scrape(client)

    assert before["orderflow_projector_lag_events"][(("projector", NAME),)] == 2.0
    assert after["orderflow_projector_lag_events"][(("projector", NAME),)] == 0.0
    assert after["orderflow_projector_parked_events"][(("projector", NAME),)] == 1.0
    assert after["orderflow_projector_failing_attempts"][(("projector", NAME),)] == 0.0
    # batch-level: one observation for the batch of two events, not one per event
    assert sample("orderflow_projector_batch_events_count", projector=NAME) - batches == 1
    assert sample("orderflow_projector_batch_events_sum", projector=NAME) - events == 2
    assert sample("orderflow_projector_failures_total", projector=NAME, outcome="parked") >= 1
    assert parked.replayed_at is None


class _Broken:
    name = "broken"

    def collect(self):
        raise OSError("connection refused")


class _Fine:
    name = "fine"

    def collect(self):
        yield GaugeMetricFamily("orderflow_fine", "A gauge that reads fine.", value=1)


def test_a_failing_collector_drops_its_samples_and_reports_itself_down():
    families = list(ScrapeCollectors([_Broken(), _Fine()]).collect())

    assert [f.name for f in families] == ["orderflow_fine", "orderflow_metrics_collector_up"]
    assert {s.labels["collector"]: s.value for s in families[-1].samples} == {
        "broken": 0,
        "fine": 1,
    }


@pytest.mark.django_db
def test_metrics_wants_the_token_when_one_is_set(client):
    with override_settings(METRICS_TOKEN="s3cret-scrape-token"):
        missing = client.get("/metrics")
        wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
        right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert wrong.status_code == 401
    assert right.status_code == 200


@pytest.mark.django_db
def test_order_counters_name_no_shop(client):
    """Whoever reaches /metrics must not learn each shop's order volume."""
    placed = sample("orderflow_orders_placed_total")

    orders_metrics._order_event_committed(SimpleNamespace(type="order.placed"))
    samples = scrape(client)

    assert samples["orderflow_orders_placed_total"] == {(): placed + 1}
    order_samples = {name: labels for name, labels in samples.items() if "orders_" in name}
    assert order_samples
    assert all(not any(labels) for by_labels in order_samples.values() for labels in by_labels)


@pytest.mark.django_db
def test_metrics_speaks_openmetrics_when_asked(client):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


def test_notification_and_websocket_calls_move_their_metrics():
    sent = sample("orderflow_webhook_deliveries_total", outcome="sent")
    timed = sample("orderflow_webhook_delivery_duration_seconds_count", outcome="sent")
    failed_mail = sample("orderflow_emails_total", outcome="failed")
    consumer = "OrderTimelineConsumer"
    open_ = sample("orderflow_websocket_connections", consumer=consumer)
    pushes = sample("orderflow_websocket_pushes_total", consumer=consumer)

    notifications_metrics.record_webhook_delivery(outcome="sent", seconds=0.2)
    notifications_metrics.record_email(outcome="failed")
    tracking_metrics.websocket_connected(consumer=consumer)
    tracking_metrics.websocket_connected(consumer=consumer)
    tracking_metrics.websocket_disconnected(consumer=consumer)
    tracking_metrics.record_websocket_push(consumer=consumer, messages=3)

    assert sample("orderflow_webhook_deliveries_total", outcome="sent") - sent == 1
    assert sample("orderflow_webhook_delivery_duration_seconds_count", outcome="sent") - timed == 1
    assert sample("orderflow_emails_total", outcome="failed") - failed_mail == 1
    assert sample("orderflow_websocket_connections", consumer="OrderTimelineConsumer") - open_ == 1
    assert (
        sample("orderflow_websocket_pushes_total", consumer="OrderTimelineConsumer") - pushes == 3
    )


@pytest.mark.parametrize(
    "call", [notifications_metrics.record_email, notifications_metrics.record_webhook_delivery]
)
def test_an_unknown_outcome_is_refused(call):
    kwargs = {"seconds": 0.1} if call is notifications_metrics.record_webhook_delivery else {}

    with pytest.raises(ValueError, match="outcome must be one of"):
        call(outcome="delivered-ish", **kwargs)


@pytest.mark.django_db
def test_cache_gets_count_hits_and_misses():
    key = f"orderflow:test-metrics:{uuid.uuid4()}"
    gets, hits, misses = (
        sample(f"django_cache_get{suffix}_total", backend="redis")
        for suffix in ("", "_hits", "_misses")
    )

    cache.get(key)
    cache.set(key, 0, 10)
    cache.get(key)  # a falsy value is a hit too
    cache.delete(key)

    assert sample("django_cache_get_total", backend="redis") - gets == 2
    assert sample("django_cache_get_hits_total", backend="redis") - hits == 1
    assert sample("django_cache_get_misses_total", backend="redis") - misses == 1


@pytest.mark.django_db
def test_placed_to_confirmed_is_read_from_the_event_without_a_query():
    name = "orderflow_order_placed_to_confirmed_seconds"
    count, total = sample(f"{name}_count"), sample(f"{name}_sum")
    confirmed = SimpleNamespace(
        type="order.confirmed", placed_at=timezone.now() - timedelta(seconds=2)
    )

    with CaptureQueriesContext(connection) as queries:
        orders_metrics._order_event_committed(confirmed)

    assert len(queries) == 0
    assert sample(f"{name}_count") - count == 1
    assert 2.0 <= sample(f"{name}_sum") - total < 60.0
