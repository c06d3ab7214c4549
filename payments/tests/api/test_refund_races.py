"""Parallel refunds of one order: their sum never exceeds what was captured.

Real threads on their own connections; the race is driven by the simulated gateway's gate
(the first refund is held at the gateway, holding the payment row) and by what PostgreSQL
says the second request waits for: no sleeps.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from payments.gateway import GatewayGate, SimulatedGateway
from payments.models import Invoice, Payment, Refund
from testkit.factories import api_key_for
from testkit.payments import confirmed_order
from tests.fixtures import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _post(raw_key: str, order, body: dict):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    try:
        return client.post(f"/api/v1/orders/{order.pk}/refunds", body, format="json")
    finally:
        connection.close()


class Request(threading.Thread):
    def __init__(self, raw_key, order, body):
        super().__init__()
        self.args_ = (raw_key, order, body)
        self.response = None

    def run(self):
        self.response = _post(*self.args_)


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            ["%payments_payment%"],
        )
        return cursor.fetchone()[0]


def test_a_refund_waits_for_the_one_in_flight_and_sees_what_it_gave_back(shop, products):
    order, _ = confirmed_order(shop)  # 59.70 captured
    raw_key = api_key_for(shop)
    first_key = f"order-{order.pk}-refund-1"
    GatewayGate.close("refund")
    try:
        # given a refund of 40.00 held at the gateway, holding the payment row
        first = Request(raw_key, order, {"amount": "40.00"})
        first.start()
        wait_for(lambda: GatewayGate.held("refund", first_key), what="the first refund held")
        # when a second refund of 40.00 arrives and waits for the row
        second = Request(raw_key, order, {"amount": "40.00"})
        second.start()
        wait_for(_waiting_on_a_lock, what="the second refund to wait for the payment row")
        assert not Refund.objects.exists()
    finally:
        GatewayGate.open("refund")
    first.join()
    second.join()

    # then the first gives back 40.00 and the second finds 19.70 left
    assert first.response.status_code == 201, first.response.content
    assert second.response.status_code == 400, second.response.content
    assert [e["code"] for e in second.response.json()["errors"]] == ["exceeds_refundable"]
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("40.00"))
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("40.00")]
    assert SimulatedGateway.effects("refund", first_key) == 1
    assert SimulatedGateway.calls("refund", f"order-{order.pk}-refund-2") == 0


def test_ten_parallel_refunds_never_give_back_more_than_was_captured(shop, products):
    order, _ = confirmed_order(shop)  # 59.70 captured: five refunds of 10.00 fit, not six
    raw_key = api_key_for(shop)
    barrier = threading.Barrier(10)

    def send(results, index):
        barrier.wait()
        results[index] = _post(raw_key, order, {"amount": "10.00", "reason": f"r{index}"})

    results: list = [None] * 10
    threads = [threading.Thread(target=send, args=(results, i)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in results) == [201] * 5 + [400] * 5
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("50.00"))
    assert Refund.objects.count() == 5
    for n in range(1, 6):
        assert SimulatedGateway.effects("refund", f"order-{order.pk}-refund-{n}") == 1
    assert SimulatedGateway.calls("refund", f"order-{order.pk}-refund-6") == 0
    # each refund has its own credit note, numbered without a gap after the invoice
    notes = Invoice.objects.filter(kind="credit_note").order_by("sequence")
    assert sorted(notes.values_list("refund_id", flat=True)) == sorted(
        Refund.objects.values_list("pk", flat=True)
    )
    assert list(Invoice.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, 7)
    )
    assert sum(note.total for note in notes) == Decimal("-50.00")
    assert sorted(r.json()["credit_note"] for r in results if r.status_code == 201) == sorted(
        notes.values_list("number", flat=True)
    )
