"""``manage.py check_invariants``: a clean saga passes; each seeded violation is caught."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from orderflow.correlation import reset_correlation_id, set_correlation_id
from orderflow.events import publish
from orderflow.events.projectors import get_projector, parked_event_replay, projector_pass
from orderflow.events.pump import drain
from orderflow.events.relay import relay_batch
from orderflow.models import Delivery, DeliveryStatus, InboxEntry, OutboxEvent
from orderflow.tests.projector_probe import NAME, fix, park_one, surface_projector
from orders.models import OrderTransition, Product
from orders.services.dispatch import ShipmentLineInput, shipment_create
from payments.choices import AttemptOutcome, GatewayOperation
from payments.models import Payment, PaymentAttempt
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_for
from tests.probe.events import ProbePinged
from tracking.models import TrackedOrder, TrackingEntry

__all__ = ["surface_projector"]

pytestmark = pytest.mark.django_db


def check(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_invariants", *args, stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


def verdicts(output: str) -> dict[str, str]:
    """{invariant name: PASS or FAIL} from the command's lines."""
    return {
        line.split()[1]: line.split()[0]
        for line in output.splitlines()
        if line.startswith(("PASS", "FAIL"))
    }


def failed(output: str) -> set[str]:
    return {name for name, verdict in verdicts(output).items() if verdict == "FAIL"}


@pytest.fixture
def shop():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", on_hand=50)
    return shop


@pytest.fixture
def confirmed_orders(shop):
    """Two orders taken through the whole saga by the real subscribers."""
    orders = [order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}) for _ in range(2)]
    drain()
    return orders


def test_a_clean_saga_passes_every_invariant(confirmed_orders):
    code, output = check()

    assert code == 0, output
    assert set(verdicts(output).values()) == {"PASS"}
    assert len(verdicts(output)) == 17
    assert output.rstrip().endswith("17 passed, 0 failed")


def test_json_reports_counts(confirmed_orders):
    code, output = check("--json", "--only", "orders.")

    document = json.loads(output)
    assert code == 0
    assert document["passed"] is True
    placed = next(i for i in document["invariants"] if i["name"] == "orders.placed_event")
    assert (placed["checked"], placed["violations"], placed["examples"]) == (2, 0, [])


def test_two_orders_under_one_idempotency_key_fail(shop):
    order_for(shop, idempotency_key="client-key-1")
    order_for(shop, idempotency_key="client-key-1")

    code, output = check("--only", "orders.")

    assert code == 1
    assert failed(output) == {"orders.one_order_per_key"}
    assert f"shop {shop.pk} key client-key-1: 2 orders" in output


def test_orders_sharing_only_a_correlation_id_pass(shop):
    token = set_correlation_id("client-session-1")
    try:
        order_for(shop)
        order_for(shop)
    finally:
        reset_correlation_id(token)

    code, output = check("--only", "orders.")

    assert code == 0, output


def test_an_order_without_its_placed_event_fails(shop):
    order = order_for(shop)
    OutboxEvent.objects.filter(aggregate_id=str(order.pk)).delete()

    code, output = check("--only", "orders.")

    assert code == 1
    assert failed(output) == {"orders.placed_event"}
    assert f"order {order.pk} ({order.number})" in output


def test_a_status_entered_twice_fails(confirmed_orders):
    order = confirmed_orders[0]
    OrderTransition.objects.create(
        order=order, from_status="placed", to_status="reserved", actor="system"
    )

    code, output = check("--only", "orders.")

    assert code == 1
    # the extra row is also the last one, so the status no longer matches the history
    assert failed(output) == {"orders.transition_once", "orders.status_matches_history"}


def test_stock_held_twice_fails(confirmed_orders):
    Product.objects.filter(sku="MUG").update(reserved=3)  # the two orders hold 2

    code, output = check("--only", "orders.stock")

    assert code == 1
    assert "product MUG (shop" in output
    assert "on hand 50, reserved 3, held by open orders 2" in output


def test_a_partly_shipped_order_holds_only_its_units_not_yet_in_a_parcel(confirmed_orders):
    shipment_create(
        order_id=confirmed_orders[0].pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD1",
        lines=[ShipmentLineInput("COFFEE-1KG", 1)],
    )
    assert Product.objects.get(sku="COFFEE-1KG").reserved == 3  # 2 + the 1 still to ship

    assert "orders.stock_balanced" not in failed(check("--only", "orders.stock")[1])

    Product.objects.filter(sku="COFFEE-1KG").update(reserved=4)  # as if the parcel held it
    code, output = check("--only", "orders.stock")
    assert code == 1
    assert "reserved 4, held by open orders 3" in output


def test_a_delivery_due_past_the_threshold_fails(confirmed_orders):
    Delivery.objects.filter(pk=Delivery.objects.order_by("pk").values("pk")[:1]).update(
        status=DeliveryStatus.PENDING, available_at=timezone.now() - timedelta(minutes=5)
    )

    code, output = check("--only", "events.")

    assert code == 1
    assert failed(output) == {"events.nothing_stuck"}


def test_a_dead_letter_fails(confirmed_orders):
    Delivery.objects.filter(pk=Delivery.objects.order_by("pk").values("pk")[:1]).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now(), last_error="boom"
    )

    code, output = check("--only", "events.no_dead")

    assert code == 1
    assert "boom" in output


def test_a_parked_event_fails_until_replayed(surface_projector):
    parked = park_one()

    code, output = check("--only", "events.no_parked")

    assert code == 1
    assert failed(output) == {"events.no_parked_events"}
    assert f"probe.pinged {parked.event_id} parked by {NAME}: RuntimeError" in output
    fix()
    parked_event_replay(parked_ids=[parked.pk], actor="staff:ana")
    assert check("--only", "events.no_parked")[0] == 0


def test_a_projector_behind_the_feed_past_the_threshold_fails(surface_projector):
    with transaction.atomic():
        event = publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1))
    relay_batch()
    assert check("--only", "events.projectors")[0] == 0  # behind, but not for long yet
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    code, output = check("--only", "events.projectors")

    assert code == 1
    assert f"projector {NAME} at 0 has not applied" in output
    while projector_pass(get_projector(NAME)).advanced:
        pass
    assert check("--only", "events.projectors")[0] == 0


def test_a_done_delivery_without_its_inbox_entry_fails(confirmed_orders):
    InboxEntry.objects.filter(pk=InboxEntry.objects.order_by("pk").values("pk")[:1]).delete()

    code, output = check("--only", "events.")

    assert code == 1
    assert failed(output) == {"events.done_has_inbox_entry"}


def test_a_gap_in_an_aggregates_events_fails(confirmed_orders):
    order = confirmed_orders[0]
    OutboxEvent.objects.filter(aggregate_id=str(order.pk), sequence=2).delete()

    code, output = check("--only", "events.sequence")

    assert code == 1
    assert f"order:{order.pk} has" in output


def test_a_second_capture_fails(confirmed_orders):
    payment = Payment.objects.get(order_id=confirmed_orders[0].pk)
    PaymentAttempt.objects.create(
        payment=payment,
        operation=GatewayOperation.CAPTURE,
        idempotency_key="again",
        outcome=AttemptOutcome.SUCCEEDED,
        delivery_attempt=2,
    )

    code, output = check("--only", "payments.")

    assert code == 1
    assert failed(output) == {"payments.one_capture_per_order"}


def test_a_gap_in_the_tracking_history_fails(confirmed_orders):
    order = confirmed_orders[0]
    TrackingEntry.objects.filter(order_id=order.pk, aggregate="order", sequence=2).delete()

    code, output = check("--only", "tracking.")

    assert code == 1
    assert failed(output) == {"tracking.history_gap_free"}


def test_tracking_showing_another_status_fails(confirmed_orders):
    order = confirmed_orders[0]
    TrackedOrder.objects.filter(order_id=order.pk).update(status="placed")

    code, output = check("--only", "tracking.")

    assert code == 1
    assert f"order {order.pk}: tracked placed, order confirmed" in output


@pytest.mark.django_db(transaction=True)
def test_runs_read_only_in_its_own_transaction(shop):
    order_for(shop)

    code, output = check("--only", "orders.placed")

    assert (code, verdicts(output)) == (0, {"orders.placed_event": "PASS"})
