"""Tracing of notifications: a queued webhook or e-mail is sent in the trace that queued it."""

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from notifications import services
from notifications.models import Notification, WebhookDelivery
from orderflow.tests.observability import spans_fixture  # noqa: F401
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

tracer = trace.get_tracer("notifications.tests")


def _traceparent_ids(trace_context: dict) -> tuple[str, str]:
    version, trace_id, span_id, _ = trace_context["traceparent"].split("-")
    assert version == "00"
    return trace_id, span_id


def test_a_webhook_delivery_keeps_the_events_trace_and_its_post_joins_it(
    spans, shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint = endpoint_at("/hooks", event_types=["order.placed"])
    with tracer.start_as_current_span("POST /api/v1/orders", kind=SpanKind.SERVER) as request:
        order_for(shop)

    run_events()
    send_webhooks()

    trace_id = request.get_span_context().trace_id
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    stored_trace, stored_span = _traceparent_ids(delivery.trace_context)
    assert stored_trace == f"{trace_id:032x}"
    (post,) = [s for s in spans.get_finished_spans() if s.name == "webhook POST"]
    assert post.kind == SpanKind.CLIENT
    assert post.context.trace_id == trace_id
    assert f"{post.parent.span_id:016x}" == stored_span
    attempt = delivery.log.get()
    assert dict(post.attributes) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "messaging.message.id": str(delivery.event_id),
        "orderflow.webhook.delivery_id": str(delivery.pk),
        "orderflow.webhook.endpoint_id": str(endpoint.pk),
        "orderflow.attempt": 1,
        "orderflow.request_id": str(attempt.request_id),
    }
    assert len(receiver.received) == 1


def test_a_test_event_joins_the_trace_of_the_request_that_asked_for_it(
    spans, receiver, endpoint_at, send_webhooks
):
    endpoint = endpoint_at("/hooks")
    with tracer.start_as_current_span("POST /api/v1/webhooks/test", kind=SpanKind.SERVER) as span:
        delivery = services.webhook_endpoint_send_test(endpoint=endpoint)

    send_webhooks()

    request = span.get_span_context()
    assert _traceparent_ids(WebhookDelivery.objects.get(pk=delivery.pk).trace_context) == (
        f"{request.trace_id:032x}",
        f"{request.span_id:016x}",
    )
    (post,) = [s for s in spans.get_finished_spans() if s.name == "webhook POST"]
    assert (post.context.trace_id, post.parent.span_id) == (request.trace_id, request.span_id)


def test_an_email_queued_in_a_span_is_sent_in_that_trace(spans, shop, send_emails):
    with tracer.start_as_current_span("deliver", kind=SpanKind.CONSUMER) as handler:
        services.email_notifications_queue_for_event(
            event_type="webhook_endpoint.disabled",
            event_id="0b8e6a4e-1c7e-4a55-9a2b-5d1f6f7c8a91",
            shop_id=shop.pk,
            data={
                "endpoint_id": "0b8e6a4e-1c7e-4a55-9a2b-5d1f6f7c8a92",
                "shop_id": shop.pk,
                "url": "https://93.184.215.14/",
                "failing_since": "2026-05-01T10:00:00Z",
                "last_error": "HTTP 500",
            },
        )

    send_emails()

    context = handler.get_span_context()
    notification = Notification.objects.get()
    assert _traceparent_ids(notification.trace_context) == (
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )
    (sent,) = [s for s in spans.get_finished_spans() if s.name == "email send"]
    assert sent.kind == SpanKind.CLIENT
    assert (sent.context.trace_id, sent.parent.span_id) == (context.trace_id, context.span_id)
    assert dict(sent.attributes) == {
        "orderflow.notification.id": notification.pk,
        "orderflow.notification.template": "webhook_endpoint.disabled/shop",
        "orderflow.attempt": 1,
    }


def test_without_tracing_rows_carry_no_trace_context_and_still_send(
    shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint = endpoint_at("/hooks", event_types=["order.placed"])
    order_for(shop)
    run_events()

    assert send_webhooks().sent == 1
    assert WebhookDelivery.objects.get(endpoint=endpoint).trace_context == {}
    assert list(Notification.objects.values_list("trace_context", flat=True)) == [{}]
