"""Each saga step of the payments context sends a fixed number of statements, no savepoint.

As ``orders/tests/test_saga_step_statements.py``: the step runs in its delivery's
transaction and every statement on the connection is counted (ORM and prepared alike);
the gateway's side is one Redis command per operation (``test_gateway.py``).
"""

import pytest

from payments.models import Invoice, Payment, PaymentAttempt
from payments.services import invoice_issue, payment_charge
from testkit.payments import confirmed_order, reserved_order
from tests.fixtures import statements_in_transaction

pytestmark = pytest.mark.django_db


def test_charging_is_four_statements(shop, products):
    order = reserved_order(shop)

    sent = statements_in_transaction(lambda: payment_charge(order_id=order.pk, attempt=1))

    assert [statement.split()[0] for statement in sent] == [
        "SELECT",  # what to charge (the orders context's read)
        "INSERT",  # the payment row, created or found, locked
        "WITH",  # the two gateway calls recorded with the captured payment
        "INSERT",  # payment.captured
    ], sent
    payment = Payment.objects.get(order_id=order.pk)
    assert payment.status == "captured"
    assert list(
        PaymentAttempt.objects.filter(payment=payment).values_list("operation", "outcome")
    ) == [("authorize", "succeeded"), ("capture", "succeeded")]


def test_a_declined_charge_is_four_statements(shop, products):
    order = reserved_order(shop, payment_token="tok_declined")

    sent = statements_in_transaction(lambda: payment_charge(order_id=order.pk, attempt=1))

    assert [statement.split()[0] for statement in sent] == ["SELECT", "INSERT", "WITH", "INSERT"]
    assert Payment.objects.get(order_id=order.pk).status == "failed"


def test_issuing_the_invoice_is_five_statements(shop, products):
    order, _ = confirmed_order(shop)

    sent = statements_in_transaction(lambda: invoice_issue(order_id=order.pk))

    assert [statement.split()[0] for statement in sent] == [
        "SELECT",  # the order's invoice, if issued already
        "SELECT",  # the order, its shop and lines
        "INSERT",  # the year's next number (upsert)
        "INSERT",  # the invoice
        "INSERT",  # invoice.issued
    ], sent
    invoice = Invoice.objects.get(order_id=order.pk)
    assert (invoice.sequence, len(invoice.lines)) == (1, 2)


def test_a_redelivered_invoice_is_one_statement(shop, products):
    order, _ = confirmed_order(shop)
    issued = invoice_issue(order_id=order.pk)

    sent = statements_in_transaction(lambda: invoice_issue(order_id=order.pk))

    assert len(sent) == 1
    assert Invoice.objects.get(order_id=order.pk) == issued
