"""Tracing in the kernel: the trace context rides in the outbox row and deliveries continue it."""

import json
import uuid

import pytest
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind, StatusCode

from orderflow.events import publish
from orderflow.events.pump import drain
from orderflow.models import OutboxEvent
from orderflow.observability import tracing
from orderflow.tests.observability import delivery_spans, spans_fixture  # noqa: F401
from tests.probe.events import ProbeChained, ProbePinged

pytestmark = pytest.mark.django_db

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"
CHAINED = "probe.publish_noop_on_probe_chained"
NOOP = "probe.nothing_on_probe_noop"

tracer = trace.get_tracer("orderflow.tests")


def publish_in_span(event, name: str = "POST /api/v1/probes"):
    """Publish ``event`` inside a server span, as a request would; return (span, row)."""
    with tracer.start_as_current_span(name, kind=SpanKind.SERVER) as span, transaction.atomic():
        row = publish(event)
    return span, row


def test_publish_stores_the_current_span_context_in_the_outbox_row(spans):
    span, row = publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))

    stored = OutboxEvent.objects.get(pk=row.pk).trace_context
    context = span.get_span_context()
    assert set(stored) == {"traceparent"}
    version, trace_id, span_id, flags = stored["traceparent"].split("-")
    assert (version, trace_id, span_id) == (
        "00",
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )
    assert int(flags, 16) & 0x01  # sampled


def test_without_tracing_the_row_carries_no_trace_context():
    with transaction.atomic():
        row = publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))

    assert not tracing.enabled()
    assert OutboxEvent.objects.get(pk=row.pk).trace_context == {}


def test_each_delivery_is_a_child_of_the_publishing_span(spans):
    request, row = publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))

    drain()

    finished = spans.get_finished_spans()
    deliveries = delivery_spans(finished)
    assert set(deliveries) == {RECORD, ORDERED}
    request_context = request.get_span_context()
    for subscriber, span in deliveries.items():
        assert span.context.trace_id == request_context.trace_id
        assert span.parent.span_id == request_context.span_id
        assert span.kind == SpanKind.CONSUMER
        assert span.status.status_code == StatusCode.UNSET
        assert span.attributes["messaging.message.id"] == str(row.event_id)
        assert span.attributes["orderflow.subscriber"] == subscriber
        assert span.attributes["orderflow.attempt"] == 1
    (relay,) = [s for s in finished if s.name == "relay probe.pinged"]
    assert relay.context.trace_id == request_context.trace_id
    assert relay.start_time == int(OutboxEvent.objects.get().created_at.timestamp() * 1e9)


def test_what_a_handler_publishes_continues_the_same_trace(spans):
    request, _ = publish_in_span(ProbeChained(probe_id=uuid.uuid4()))

    drain()

    deliveries = delivery_spans(spans.get_finished_spans())
    assert set(deliveries) == {CHAINED, NOOP}
    trace_id = request.get_span_context().trace_id
    assert {span.context.trace_id for span in deliveries.values()} == {trace_id}
    # probe.noop was published by the chained handler, inside its delivery span
    assert deliveries[NOOP].parent.span_id == deliveries[CHAINED].context.span_id


def test_a_failing_delivery_marks_its_span_failed_with_the_exception(spans):
    publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1, behaviour="permanent"))

    drain()

    failed = delivery_spans(spans.get_finished_spans())[RECORD]
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.status.description == "PermanentError: this event can never be handled"
    assert [event.name for event in failed.events] == ["exception"]
    assert failed.events[0].attributes["exception.type"] == "orderflow.events.relay.PermanentError"


def test_client_span_joins_a_trace_context_kept_for_later(spans):
    request, _ = publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))
    kept = OutboxEvent.objects.get().trace_context

    with tracing.client_span("webhook POST", trace_context=kept, attributes={"k": "v"}):
        pass

    (client,) = [s for s in spans.get_finished_spans() if s.name == "webhook POST"]
    assert client.kind == SpanKind.CLIENT
    assert client.context.trace_id == request.get_span_context().trace_id
    assert client.parent.span_id == request.get_span_context().span_id


def _decision(sampler, *, kind, attributes=None, parent=None):
    result = sampler.should_sample(parent, 0x1234, "span", kind=kind, attributes=attributes)
    return result.decision == Decision.RECORD_AND_SAMPLE


def test_the_default_sampler_starts_traces_only_where_work_starts():
    sampler = tracing.default_sampler()
    outbox = {"messaging.system": "orderflow.outbox"}
    sampled_parent = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(1, 2, is_remote=True, trace_flags=trace.TraceFlags(1))
        )
    )

    assert _decision(sampler, kind=SpanKind.SERVER)  # an HTTP request
    assert _decision(sampler, kind=SpanKind.CONSUMER, attributes=outbox)  # an untraced event
    assert not _decision(sampler, kind=SpanKind.CLIENT)  # a query outside any request
    assert not _decision(sampler, kind=SpanKind.CONSUMER)  # beat's sweep, run by a worker
    assert _decision(sampler, kind=SpanKind.CLIENT, parent=sampled_parent)  # inside a trace


def test_the_sampler_keeps_the_share_it_is_given(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")

    assert not _decision(tracing.default_sampler(), kind=SpanKind.SERVER)


def test_no_exporter_leaves_tracing_off(settings, monkeypatch):
    installed = []
    monkeypatch.setattr(tracing, "install", installed.append)
    settings.OTEL_ENABLED = True
    settings.OTEL_TRACES_EXPORTER = "none"

    tracing.configure()

    assert installed == []
    assert not tracing.enabled()


def test_a_batch_is_one_span_linked_to_the_traces_of_its_events(spans):
    first, _ = publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1), "POST /a")
    second, _ = publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1), "POST /b")
    untraced = OutboxEvent(type="probe.pinged", trace_context={})
    batch = [*OutboxEvent.objects.order_by("created_at", "event_id"), untraced]

    with tracing.batch_span("project probes", events=batch, attributes={"orderflow.p": "x"}):
        pass

    (span,) = [s for s in spans.get_finished_spans() if s.name == "project probes"]
    linked = {link.context.trace_id for link in span.links}
    assert linked == {first.get_span_context().trace_id, second.get_span_context().trace_id}
    assert span.context.trace_id not in linked  # a root of its own, not a child of one order
    assert span.parent is None
    assert span.kind == SpanKind.CONSUMER
    assert span.attributes["messaging.batch.message_count"] == 3
    assert span.attributes["orderflow.p"] == "x"


def test_a_batch_span_links_a_bounded_number_of_events(spans):
    for n in range(tracing.BATCH_SPAN_LINKS + 3):
        publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1), f"POST /{n}")

    with tracing.batch_span("project probes", events=list(OutboxEvent.objects.all())):
        pass

    (span,) = [s for s in spans.get_finished_spans() if s.name == "project probes"]
    assert len(span.links) == tracing.BATCH_SPAN_LINKS


def test_without_tracing_a_batch_span_records_nothing():
    with transaction.atomic():
        publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))

    context = tracing.batch_span("project probes", events=list(OutboxEvent.objects.all()))

    assert not tracing.enabled()
    assert type(context).__name__ == "nullcontext"


def test_an_untraced_event_gets_no_relay_span_whatever_form_its_context_takes(spans):
    with transaction.atomic():
        publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))  # no span: trace_context {}
    stored = OutboxEvent.objects.get()
    as_text = OutboxEvent(type=stored.type, trace_context="{}", created_at=stored.created_at)

    tracing.record_relay([stored, as_text])

    assert [s for s in spans.get_finished_spans() if s.name.startswith("relay ")] == []


def test_a_trace_context_read_as_json_text_is_continued(spans):
    request, row = publish_in_span(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))
    stored = OutboxEvent.objects.get(pk=row.pk)
    raw = OutboxEvent(
        type=stored.type,
        event_id=stored.event_id,
        position=1,
        created_at=stored.created_at,
        trace_context=json.dumps(stored.trace_context),  # as a raw SQL read returns it
    )

    tracing.record_relay([raw])
    with tracing.client_span("webhook POST", trace_context=raw.trace_context):
        pass

    finished = spans.get_finished_spans()
    trace_id = request.get_span_context().trace_id
    (relay,) = [s for s in finished if s.name == "relay probe.pinged"]
    (client,) = [s for s in finished if s.name == "webhook POST"]
    assert relay.context.trace_id == client.context.trace_id == trace_id
