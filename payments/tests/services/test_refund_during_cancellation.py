"""A shop's refund while its order's cancellation is being settled still gets a credit note.

``order.cancelled`` reaches two subscribers of the payments context, the cancellation's
refund and the cancellation's credit note, in either order and with a shop's refund
possibly between them. Whatever the order, every succeeded refund the shop asked for has
exactly one credit note, the cancellation's credit note credits what they left, and the
credit notes together cancel the invoice exactly, rate by rate.

The threaded test drives the race with the simulated gateway's gate (the shop's refund is
held at the gateway, holding the payment row) and with what PostgreSQL says the credit
note's delivery waits for: no sleeps.
"""

import itertools
import threading
from decimal import Decimal

import pytest
from django.db import connection

from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orders.models import Product, TaxRate
from payments.exceptions import RefundNotPossible
from payments.gateway import GatewayGate
from payments.models import Invoice, Payment, Refund
from payments.services import RefundLine, invoice_issue, payment_refund
from testkit.payments import cancel, confirmed_order
from tests.fixtures import wait_for

REFUND = "payments.refund_on_order_cancelled"
CREDIT_NOTE = "payments.issue_credit_note_on_order_cancelled"


@pytest.fixture
def two_rates(shop, products):
    """Coffee at the reduced 7 % (to BR), the mug at the shop's standard 20 %."""
    TaxRate.objects.create(shop=shop, tax_class="reduced", country="BR", rate=Decimal("0.07"))
    Product.objects.filter(pk=products["COFFEE-1KG"].pk).update(tax_class="reduced")
    return products


def _cancellation_deliveries() -> dict:
    relay_batch()
    return {d.subscriber: d for d in claim_batch() if d.subscriber in (REFUND, CREDIT_NOTE)}


def _assert_every_refund_has_one_credit_note(order, invoice) -> None:
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("refunded", invoice.total)
    notes = Invoice.objects.filter(kind="credit_note", credits=invoice)
    for refund in Refund.objects.filter(payment=payment, status="succeeded"):
        if refund.idempotency_key.endswith("-refund"):  # the cancellation's own
            assert notes.filter(refund__isnull=True).count() == 1
        else:
            assert notes.filter(refund=refund).count() == 1, refund
            assert notes.get(refund=refund).total == -refund.amount
    # together they cancel the invoice exactly, rate by rate
    credited: dict[str, tuple[Decimal, Decimal]] = {}
    for note in notes:
        for band in note.taxes:
            net, tax = credited.get(band["rate"], (Decimal(0), Decimal(0)))
            credited[band["rate"]] = (net - Decimal(band["net"]), tax - Decimal(band["tax"]))
    assert credited == {b["rate"]: (Decimal(b["net"]), Decimal(b["tax"])) for b in invoice.taxes}
    assert sum(note.total for note in notes) == -invoice.total


@pytest.mark.django_db(transaction=True)
def test_a_refund_held_at_the_gateway_keeps_its_credit_note_when_the_order_is_cancelled(
    shop, two_rates
):
    order, _ = confirmed_order(shop)  # 59.70 captured, at 7 % and 20 %
    invoice = invoice_issue(order_id=order.pk)
    key = f"order-{order.pk}-refund-1"
    outcome: dict = {}

    def refund():
        try:
            outcome["refund"] = payment_refund(
                order_id=order.pk, shop_id=shop.pk, amount=Decimal("10.00"), reason="dented"
            )
        finally:
            connection.close()

    def credit_note(delivery):
        try:
            outcome["credit_note"] = run_delivery(delivery)
        finally:
            connection.close()

    GatewayGate.close("refund", key)
    try:
        # given a shop's refund of 10.00 held at the gateway, holding the payment row
        shop_refund = threading.Thread(target=refund)
        shop_refund.start()
        wait_for(lambda: GatewayGate.held("refund", key), what="the shop's refund held")
        # when the order is cancelled and the cancellation's credit note is delivered first
        cancel(order)
        deliveries = _cancellation_deliveries()
        issuing = threading.Thread(target=credit_note, args=(deliveries[CREDIT_NOTE],))
        issuing.start()
        wait_for(
            lambda: not issuing.is_alive() or _waiting_on_the_payment_row(),
            what="the credit note's delivery to finish or wait for the payment row",
        )
    finally:
        GatewayGate.open("refund", key)
    shop_refund.join()
    issuing.join()
    # and the cancellation's refund after both
    assert run_delivery(deliveries[REFUND]) == "done"

    # then the shop's refund has its credit note, the cancellation's credits the rest
    assert outcome["credit_note"] == "done"
    assert outcome["refund"].credit_note.total == Decimal("-10.00")
    cancellation = Invoice.objects.get(credits=invoice, refund__isnull=True)
    assert cancellation.total == Decimal("-49.70")
    _assert_every_refund_has_one_credit_note(order, invoice)


def _waiting_on_the_payment_row() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            ["%payments_payment%"],
        )
        return cursor.fetchone()[0]


STEPS = ("refund_step", "credit_note_step", "shop_refund")


@pytest.mark.django_db
@pytest.mark.parametrize("steps", list(itertools.permutations(STEPS)), ids="-then-".join)
@pytest.mark.parametrize("by", ["amount", "lines"])
def test_every_refund_has_one_credit_note_whichever_order_the_steps_run(shop, two_rates, steps, by):
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)
    payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("5.00"), reason="late")
    cancel(order)
    deliveries = _cancellation_deliveries()

    for step in steps:
        if step == "refund_step":
            assert run_delivery(deliveries[REFUND]) == "done"
        elif step == "credit_note_step":
            assert run_delivery(deliveries[CREDIT_NOTE]) == "done"
        else:
            wanted = (
                {"amount": Decimal("7.50")}
                if by == "amount"
                else {"lines": [RefundLine(sku="MUG", quantity=1)]}
            )
            try:
                payment_refund(order_id=order.pk, shop_id=shop.pk, reason="dented", **wanted)
            except RefundNotPossible:
                # only once the cancellation gave back the rest
                assert steps.index("refund_step") < steps.index("shop_refund")

    _assert_every_refund_has_one_credit_note(order, invoice)


INVOICE = "payments.issue_invoice_on_order_confirmed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "steps", list(itertools.permutations((INVOICE, CREDIT_NOTE, REFUND))), ids="-then-".join
)
def test_a_refund_before_the_invoice_of_a_cancelled_order_gets_its_credit_note_later(
    shop, two_rates, steps
):
    # given a confirmed order, cancelled before its invoice was issued
    order, _ = confirmed_order(shop)
    cancel(order)
    relay_batch()
    deliveries = {d.subscriber: d for d in claim_batch()}
    # and a shop's refund in that window: no invoice yet, so no credit note yet
    lines = payment_refund(
        order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="MUG", quantity=1)]
    )
    amount = payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("5.00"))
    assert not Invoice.objects.exists()

    # when the invoice, the cancellation's credit note and its refund run in any order
    for step in steps:
        assert run_delivery(deliveries[step]) == "done"

    # then each refund has its own credit note, and the cancellation's credits the rest
    invoice = Invoice.objects.get(kind="invoice")
    assert Invoice.objects.get(refund=lines).taxes == [
        {"rate": "0.2000", "net": "-8.25", "tax": "-1.65"}
    ]
    assert Invoice.objects.get(refund=amount).total == Decimal("-5.00")
    assert Invoice.objects.get(credits=invoice, refund__isnull=True).total == Decimal("-44.80")
    _assert_every_refund_has_one_credit_note(order, invoice)
