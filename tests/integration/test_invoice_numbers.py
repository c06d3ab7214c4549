"""Invoice numbers under concurrency: gapless and unique per shop and year.

A hundred confirmations of one shop's orders issue their invoices at the same moment
from threads of this process, each on its own database connection, as a hundred
worker processes would.
"""

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from orderflow.models import OutboxEvent
from orders.choices import OrderStatus
from payments.models import Invoice, InvoiceSequence
from payments.services import invoice_issue
from testkit.factories import ProductFactory, ShopFactory, advance, order_for

pytestmark = pytest.mark.django_db(transaction=True)


class HandlerFailedAfterIssuing(Exception):
    """Stands for anything that rolls a delivery back after the invoice took its number."""


def confirmed_orders(count: int):
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", on_hand=count)
    orders = []
    for _ in range(count):
        order = order_for(shop)
        advance(order, to=OrderStatus.CONFIRMED)
        orders.append(order)
    return shop, orders


def issue_all_at_once(order_ids: list, *, roll_back: set = frozenset()) -> list:
    """Call invoice_issue for every order from its own thread, all released together.

    For the orders in ``roll_back`` the issuing transaction fails after the invoice took
    its number, as a handler failing later in the same delivery would.
    """
    barrier = threading.Barrier(len(order_ids))
    outcomes: list = [None] * len(order_ids)

    def issue(index: int) -> None:
        order_id = order_ids[index]
        try:
            barrier.wait()
            if order_id in roll_back:
                try:
                    with transaction.atomic():
                        invoice_issue(order_id=order_id)
                        raise HandlerFailedAfterIssuing
                except HandlerFailedAfterIssuing:
                    outcomes[index] = "rolled back"
            else:
                outcomes[index] = invoice_issue(order_id=order_id).number
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(len(order_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_100_concurrent_confirmations_get_gapless_unique_numbers():
    shop, orders = confirmed_orders(100)
    year = timezone.now().year

    numbers = issue_all_at_once([order.id for order in orders])

    expected = [f"{year}-{n:06d}" for n in range(1, 101)]
    assert sorted(numbers) == expected
    assert sorted(Invoice.objects.filter(shop_id=shop.pk).values_list("number", flat=True)) == (
        expected
    )
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == list(range(1, 101))
    assert sorted(Invoice.objects.values_list("order_id", flat=True)) == sorted(
        order.id for order in orders
    )
    assert InvoiceSequence.objects.get(shop_id=shop.pk, year=year).last == 100
    assert (
        sorted(
            OutboxEvent.objects.filter(type="invoice.issued").values_list("data__number", flat=True)
        )
        == expected
    )


def test_numbers_taken_by_rolled_back_issues_are_given_back_without_gaps():
    shop, orders = confirmed_orders(100)
    year = timezone.now().year
    failing = {order.id for order in orders[::5]}  # 20 of them, spread over the batch

    outcomes = issue_all_at_once([order.id for order in orders], roll_back=failing)

    assert outcomes.count("rolled back") == 20
    assert sorted(n for n in outcomes if n != "rolled back") == [
        f"{year}-{n:06d}" for n in range(1, 81)
    ]
    assert not Invoice.objects.filter(order_id__in=failing).exists()
    assert InvoiceSequence.objects.get(shop_id=shop.pk, year=year).last == 80

    # the deliveries are retried: the twenty take the next numbers, and a redelivery of
    # an order already invoiced takes none
    retried = issue_all_at_once([order.id for order in orders[::5]] + [orders[1].id])

    assert sorted(retried[:20]) == [f"{year}-{n:06d}" for n in range(81, 101)]
    assert retried[20] == Invoice.objects.get(order_id=orders[1].id).number
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == list(range(1, 101))
    assert OutboxEvent.objects.filter(type="invoice.issued").count() == 100
