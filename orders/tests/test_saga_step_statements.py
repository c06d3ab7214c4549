"""Each saga step of the orders context sends a fixed number of statements, no savepoint.

A step runs inside its delivery's transaction (the lane opens it), so here each step runs
in ``transaction.atomic()`` and every statement sent on the connection is counted through
an execute wrapper (the ORM's and the prepared ones alike). A regression — one more
query, an ORM fallback, a savepoint — changes the count and fails.
"""

import uuid

import pytest

from orders import services
from orders.models import Order
from testkit.factories import order_for, order_in
from tests.fixtures import statements_in_transaction

pytestmark = pytest.mark.django_db


def test_reserving_a_three_line_order_is_five_statements(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1, "FILTER": 3})

    sent = statements_in_transaction(lambda: services.order_reserve_stock(order_id=order.pk))

    assert [statement.split()[0] for statement in sent] == [
        "SELECT",  # the order, locked
        "SELECT",  # its lines' products, locked, and what each has free
        "UPDATE",  # every line held
        "WITH",  # the status and its history row
        "INSERT",  # stock.reserved in the outbox
    ], sent
    assert Order.objects.get(pk=order.pk).status == "reserved"


def test_rejecting_a_short_order_is_four_statements_and_holds_nothing(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 51, "MUG": 1})

    sent = statements_in_transaction(lambda: services.order_reserve_stock(order_id=order.pk))

    assert [statement.split()[0] for statement in sent] == ["SELECT", "SELECT", "WITH", "INSERT"]
    assert Order.objects.get(pk=order.pk).status == "rejected"


def test_confirming_a_paid_order_is_four_statements(shop, products):
    order = order_in(shop, "reserved", lines={"COFFEE-1KG": 2, "MUG": 1})

    sent = statements_in_transaction(
        lambda: services.order_confirm_payment(
            order_id=order.pk, payment_id=uuid.uuid4(), amount=order.total, currency="EUR"
        )
    )

    assert [statement.split()[0] for statement in sent] == [
        "SELECT",  # the order, locked
        "WITH",  # paid, then confirmed: one update, two history rows
        "INSERT",  # order.paid
        "INSERT",  # order.confirmed
    ], sent
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version) == ("confirmed", 4)
    assert list(saved.transitions.values_list("from_status", "to_status")) == [
        ("placed", "reserved"),
        ("reserved", "paid"),
        ("paid", "confirmed"),
    ]


def test_a_redelivered_step_reads_the_order_and_stops(shop, products):
    order = order_in(shop, "confirmed")

    sent = statements_in_transaction(lambda: services.order_reserve_stock(order_id=order.pk))

    assert len(sent) == 1
