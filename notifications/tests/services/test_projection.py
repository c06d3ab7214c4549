"""The notifications projection: a batch of feed events in a fixed number of statements."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.utils import timezone

from notifications import services
from notifications.choices import SendStatus
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from notifications.services.projection import notifications_project
from testkit.factories import ShopFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class FeedEvent:
    """A feed event as the projector engine hands it over (only what the projection reads)."""

    type: str
    tenant_id: str
    data: dict
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 1
    aggregate: str = "order"
    aggregate_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence: int = 1
    correlation_id: str = "c"
    causation_id: str = ""
    occurred_at: datetime = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    trace_context: dict = field(default_factory=dict)


@pytest.fixture
def shops(allow_private):
    """Three shops, each with an endpoint for everything and one for invoices only."""
    result = []
    for n in range(3):
        shop = ShopFactory()
        services.webhook_endpoint_create(shop_id=shop.pk, url=f"http://127.0.0.1:9/{n}/all")
        services.webhook_endpoint_create(
            shop_id=shop.pk, url=f"http://127.0.0.1:9/{n}/inv", event_types=["invoice.issued"]
        )
        result.append(shop)
    return result


def _events(shops, count: int) -> list[FeedEvent]:
    events = []
    for n in range(count):
        shop = shops[n % len(shops)]
        if n % 2:
            events.append(
                FeedEvent(
                    type="invoice.issued",
                    tenant_id=str(shop.pk),
                    aggregate="invoice",
                    data={
                        "order_id": str(uuid.uuid4()),
                        "kind": "invoice",
                        "number": f"INV-{n}",
                        "total": "10.00",
                        "currency": "EUR",
                    },
                )
            )
        else:
            events.append(
                FeedEvent(type="order.placed", tenant_id=str(shop.pk), data={"order_id": "x"})
            )
    return events


def _apply(events) -> tuple[services.projection.Projected, int]:
    """Project ``events``; count the statements sent (prepared ones included)."""
    sent: list[str] = []

    def count(execute, sql, params, many, context):
        sent.append(str(sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count), transaction.atomic():
        projected = notifications_project(events=events)
    # the savepoint's own statements are the engine's, not the projection's
    return projected, len([sql for sql in sent if "SAVEPOINT" not in sql])


def test_a_batch_of_fifty_costs_the_same_statements_as_a_batch_of_one(shops):
    one, fifty = _events(shops, 2)[1:], _events(shops, 50)

    projected_one, statements_one = _apply(one)
    projected_fifty, statements_fifty = _apply(fifty)

    assert statements_one == statements_fifty == 2  # webhooks, then the e-mail ledger
    # an invoice goes to both of its shop's endpoints, an order.placed to one
    assert projected_one == services.projection.Projected(webhooks=2, emails=1)
    assert projected_fifty == services.projection.Projected(webhooks=25 * 2 + 25, emails=25)
    assert WebhookDelivery.objects.count() == 2 + 75
    assert Notification.objects.filter(template="invoice.issued/customer").count() == 26


def test_a_reapplied_batch_adds_nothing_in_the_same_statements(shops):
    events = _events(shops, 20)
    _apply(events)
    before = (WebhookDelivery.objects.count(), Notification.objects.count())

    projected, statements = _apply(events)

    assert projected == services.projection.Projected(webhooks=0, emails=0)
    assert statements == 2
    assert (WebhookDelivery.objects.count(), Notification.objects.count()) == before


def test_a_batch_without_shop_endpoints_or_triggers_costs_one_statement(shops):
    events = [FeedEvent(type="order.paid", tenant_id=str(ShopFactory().pk), data={})]

    projected, statements = _apply(events)

    assert (projected, statements) == (services.projection.Projected(), 1)


def test_an_inactive_endpoint_gets_skipped_rows_and_no_kick(shops):
    shop = shops[0]
    WebhookEndpoint.objects.filter(shop_id=shop.pk).update(active=False)
    event = FeedEvent(type="order.placed", tenant_id=str(shop.pk), data={})

    projected, _ = _apply([event])

    assert projected.webhooks == 0
    assert list(WebhookDelivery.objects.values_list("status", "next_attempt_at")) == [
        (SendStatus.SKIPPED, None)
    ]


def test_a_credit_note_queues_no_confirmation(shops):
    event = FeedEvent(
        type="invoice.issued",
        tenant_id=str(shops[0].pk),
        data={"order_id": str(uuid.uuid4()), "kind": "credit_note", "number": "CN-1"},
    )

    projected, _ = _apply([event])

    assert projected.emails == 0
    assert not Notification.objects.exists()


def test_the_ledger_keeps_when_the_invoice_was_issued(shops):
    [event] = _events(shops, 2)[1:]

    _apply([event])

    notification = Notification.objects.get()
    assert notification.data["occurred_at"] == "2026-12-03T22:00:00+00:00"
    assert notification.data["number"] == event.data["number"]


def test_an_order_confirmed_under_the_former_trigger_gets_no_second_confirmation(shops):
    [event] = _events(shops, 2)[1:]
    Notification.objects.create(
        event_id=uuid.uuid4(),
        event_type="order.confirmed",
        template="order.confirmed/customer",
        shop_id=shops[0].pk,
        order_id=event.data["order_id"],
        data={},
        status=SendStatus.SENT,
    )

    projected, statements = _apply([event])

    assert (projected.emails, statements) == (0, 2)
    assert not Notification.objects.filter(template="invoice.issued/customer").exists()


def test_the_projector_starts_where_the_open_deliveries_stood(db):
    import importlib

    from django.apps import apps

    from orderflow.models import Delivery, OutboxEvent, ProjectorCheckpoint

    migration = importlib.import_module(
        "notifications.migrations.0003_notifications_deliveries_to_projector"
    )
    events = [
        OutboxEvent.objects.create(
            type="order.paid",
            aggregate="order",
            aggregate_id=str(uuid.uuid4()),
            sequence=1,
            tenant_id="1",
            data={},
            occurred_at=datetime(2026, 12, 3, tzinfo=UTC),
            position=position,
        )
        for position in (7, 8, 9)
    ]
    ProjectorCheckpoint.objects.filter(name="notifications").delete()

    def delivery(event, status):
        return Delivery.objects.create(
            event=event,
            subscriber="notifications.webhook_on_order_paid",
            aggregate="order",
            aggregate_id=event.aggregate_id,
            sequence=1,
            status=status,
            available_at=timezone.now(),
        )

    done, pending = delivery(events[0], "done"), delivery(events[1], "pending")

    migration.start_projector_where_deliveries_stood(apps, None)

    assert ProjectorCheckpoint.objects.get(name="notifications").position == 7
    pending.refresh_from_db()
    done.refresh_from_db()
    assert (pending.status, done.status) == ("done", "done")


def test_the_projector_reads_every_shop_event_and_every_trigger():
    from orderflow.events.projectors import get_projector

    registered = get_projector("notifications")

    assert registered is not None
    # (the test-only probe app declares its types after the projector is registered)
    assert registered.event_types <= frozenset(services.projected_event_types())
    assert {"invoice.issued", "order.placed", "webhook_endpoint.disabled"} <= registered.event_types
    assert "order.confirmed" in registered.event_types  # a webhook type, no longer an e-mail's
