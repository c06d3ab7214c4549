"""The data migration that hands the tracking subscribers' open deliveries to the projector."""

import importlib

from django.apps import apps
from django.utils import timezone

from orderflow.models import Delivery, DeliveryStatus, OutboxEvent

migration = importlib.import_module("tracking.migrations.0003_tracking_deliveries_to_projector")


def _delivery(event, subscriber: str, status: str) -> Delivery:
    return Delivery.objects.create(
        event=event,
        subscriber=subscriber,
        aggregate=event.aggregate,
        aggregate_id=event.aggregate_id,
        sequence=event.sequence,
        status=status,
        available_at=timezone.now(),
    )


def test_open_tracking_deliveries_are_done_and_nothing_else_changes(place):
    order = place()
    event = OutboxEvent.objects.filter(aggregate_id=str(order.id)).first()
    Delivery.objects.filter(event=event).delete()
    pending = _delivery(event, "tracking.record_on_order_placed", DeliveryStatus.PENDING)
    running = _delivery(event, "tracking.record_on_stock_reserved", DeliveryStatus.RUNNING)
    dead = _delivery(event, "tracking.record_on_order_paid", DeliveryStatus.DEAD)
    saga = _delivery(event, "orders.reserve_stock_on_order_placed", DeliveryStatus.PENDING)

    migration.close_open_tracking_deliveries(apps, None)

    def status(delivery):
        return Delivery.objects.get(pk=delivery.pk).status

    assert (status(pending), status(running)) == (DeliveryStatus.DONE, DeliveryStatus.DONE)
    assert Delivery.objects.get(pk=pending.pk).done_at is not None
    assert status(dead) == DeliveryStatus.DEAD  # the history of what failed stays
    assert status(saga) == DeliveryStatus.PENDING
