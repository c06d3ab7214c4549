"""Invoices and credit notes: gapless numbers per shop and year, exact tax, never changed."""

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.models import OutboxEvent
from payments.exceptions import InvoiceImmutable
from payments.models import Invoice, InvoiceSequence
from payments.services import credit_note_issue, invoice_issue
from payments.services.invoicing import split_tax
from testkit.factories import ProductFactory
from testkit.payments import cancel, confirmed_order, reserved_order, settle_cancellation

pytestmark = pytest.mark.django_db


@pytest.fixture
def year() -> int:
    return timezone.now().year


def _numbers(shop) -> list[str]:
    return list(
        Invoice.objects.filter(shop_id=shop.pk)
        .order_by("sequence")
        .values_list("number", flat=True)
    )


@pytest.mark.parametrize(
    ("total", "rate", "net", "tax"),
    [
        ("59.70", "0", "59.70", "0.00"),
        ("120.00", "0.2", "100.00", "20.00"),
        ("59.70", "0.2", "49.75", "9.95"),
        ("0.01", "0.2", "0.01", "0.00"),
        ("107.00", "0.07", "100.00", "7.00"),
        ("10.00", "0.07", "9.35", "0.65"),
        ("9.99", "0.07", "9.34", "0.65"),
    ],
)
def test_split_tax_is_exact_to_the_cent_and_adds_up(total, rate, net, tax):
    split = split_tax(Decimal(total), Decimal(rate))

    assert tuple(str(part) for part in split) == (net, tax)
    assert split[0] + split[1] == Decimal(total)


def test_issues_the_invoice_of_a_confirmed_order(shop, products, year):
    order, _ = confirmed_order(shop)

    invoice = invoice_issue(order_id=order.pk)

    saved = Invoice.objects.get()
    assert saved.pk == invoice.pk
    assert (saved.shop_id, saved.order_id, saved.order_number, saved.kind) == (
        shop.pk,
        order.pk,
        order.number,
        "invoice",
    )
    assert (saved.number, saved.year, saved.sequence, saved.credits) == (
        f"{year}-000001",
        year,
        1,
        None,
    )
    assert (saved.currency, saved.subtotal, saved.tax_rate, saved.tax, saved.total) == (
        "EUR",
        Decimal("49.75"),
        Decimal("0.2"),
        Decimal("9.95"),
        Decimal("59.70"),
    )
    assert saved.seller == {
        "name": "Beans & Co",
        "email": shop.contact_email,
        "address": "Rua B 2\n01000-000 São Paulo",
        "legal_name": "Beans & Co Ltda",
        "tax_id": "BR12345678",
    }
    assert saved.buyer == {
        "name": "Ana Souza",
        "email": "ana@example.com",
        "address": "Rua A 1\n01000-000 São Paulo\nBR",
        "legal_name": "",
        "tax_id": "",
    }
    assert saved.lines == [
        {
            "sku": "COFFEE-1KG",
            "name": "Coffee 1 kg",
            "unit_price": "24.90",
            "quantity": 2,
            "discount_amount": "0.00",
            "line_total": "49.80",
            "tax_rate": "0.2000",
            "tax_amount": "8.30",
        },
        {
            "sku": "MUG",
            "name": "Mug",
            "unit_price": "9.90",
            "quantity": 1,
            "discount_amount": "0.00",
            "line_total": "9.90",
            "tax_rate": "0.2000",
            "tax_amount": "1.65",
        },
    ]
    # tax rounded per line (8.30 + 1.65), as the order was priced; one rate, one band
    assert saved.taxes == [{"rate": "0.2000", "net": "49.75", "tax": "9.95"}]
    event = OutboxEvent.objects.get(type="invoice.issued")
    assert (event.aggregate, event.aggregate_id, event.sequence, event.tenant_id) == (
        "invoice",
        str(saved.pk),
        1,
        str(shop.pk),
    )
    assert parse_datetime(event.data.pop("issued_at")) == saved.issued_at
    assert event.data == {
        "invoice_id": str(saved.pk),
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": f"{year}-000001",
        "kind": "invoice",
        "total": "59.70",
        "currency": "EUR",
        "credits_invoice": None,
        "refund_id": None,
        "order_number": order.number,
    }


def test_numbers_follow_each_other_per_shop_and_year(shop, other_shop, products, year):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    ProductFactory(shop=other_shop, sku="MUG")
    InvoiceSequence.objects.create(shop_id=shop.pk, year=year - 1, last=41)
    orders = [confirmed_order(shop)[0] for _ in range(2)]
    theirs = confirmed_order(other_shop)[0]

    for order in [orders[0], theirs, orders[1]]:
        invoice_issue(order_id=order.pk)

    assert _numbers(shop) == [f"{year}-000001", f"{year}-000002"]
    assert _numbers(other_shop) == [f"{year}-000001"]
    assert list(
        InvoiceSequence.objects.filter(shop_id=shop.pk).order_by("year").values_list("year", "last")
    ) == [(year - 1, 41), (year, 2)]


def test_a_redelivery_returns_the_issued_invoice_and_takes_no_number(shop, products, year):
    order, _ = confirmed_order(shop)
    first = invoice_issue(order_id=order.pk)

    again = invoice_issue(order_id=order.pk)

    assert (again.pk, again.number) == (first.pk, f"{year}-000001")
    assert Invoice.objects.count() == 1
    assert InvoiceSequence.objects.get(shop_id=shop.pk, year=year).last == 1
    assert OutboxEvent.objects.filter(type="invoice.issued").count() == 1


def test_an_issued_invoice_never_changes(shop, products):
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)
    invoice.total = Decimal("0.01")

    with pytest.raises(InvoiceImmutable, match="cannot change; issue a credit note"):
        invoice.save()

    assert Invoice.objects.get().total == Decimal("59.70")


def test_a_credit_note_cancels_the_invoice_with_the_next_number(shop, products, year):
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)
    cancel(order)

    credit_note = settle_cancellation(order)

    saved = Invoice.objects.get(kind="credit_note")
    assert saved.pk == credit_note.pk
    assert (saved.number, saved.sequence, saved.credits_id, saved.order_id) == (
        f"{year}-000002",
        2,
        invoice.pk,
        order.pk,
    )
    assert (saved.subtotal, saved.tax, saved.total, saved.tax_rate, saved.currency) == (
        Decimal("-49.75"),
        Decimal("-9.95"),
        Decimal("-59.70"),
        Decimal("0.2"),
        "EUR",
    )
    assert (saved.seller, saved.buyer, saved.lines) == (
        invoice.seller,
        invoice.buyer,
        invoice.lines,
    )
    assert list(Invoice.objects.get(kind="invoice").credit_notes.all()) == [saved]
    assert saved.is_cancellation
    event = OutboxEvent.objects.get(type="invoice.issued", aggregate_id=str(saved.pk))
    assert parse_datetime(event.data.pop("issued_at")) == saved.issued_at
    assert event.data == {
        "invoice_id": str(saved.pk),
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": f"{year}-000002",
        "kind": "credit_note",
        "total": "-59.70",
        "currency": "EUR",
        "credits_invoice": f"{year}-000001",
        "order_number": order.number,
        "refund_id": None,
    }


def test_a_credit_note_redelivery_returns_the_issued_one(shop, products, year):
    order, _ = confirmed_order(shop)
    invoice_issue(order_id=order.pk)
    cancel(order)
    first = settle_cancellation(order)

    again = credit_note_issue(order_id=order.pk, previous_status="confirmed")

    assert again.pk == first.pk
    assert Invoice.objects.count() == 2
    assert InvoiceSequence.objects.get(shop_id=shop.pk, year=year).last == 2
    assert OutboxEvent.objects.filter(type="invoice.issued").count() == 2


def test_an_order_cancelled_before_confirmation_gets_no_credit_note(shop, products):
    order = cancel(reserved_order(shop))

    assert credit_note_issue(order_id=order.pk) is None
    assert Invoice.objects.count() == 0
    assert InvoiceSequence.objects.filter(last__gt=0).count() == 0
    assert OutboxEvent.objects.filter(type="invoice.issued").count() == 0


def _run(deliveries, subscriber: str) -> str:
    (delivery,) = [d for d in deliveries if d.subscriber == subscriber]
    return run_delivery(delivery)


CANCELLED_CONFIRMED_ORDER = (
    "payments.issue_invoice_on_order_confirmed",
    "payments.issue_credit_note_on_order_cancelled",
    "payments.refund_on_order_cancelled",
)


@pytest.mark.parametrize(
    "subscribers", list(itertools.permutations(CANCELLED_CONFIRMED_ORDER)), ids=str
)
def test_a_cancelled_confirmed_order_has_its_invoice_and_credit_note_in_any_order(
    shop, products, year, subscribers
):
    order, _ = confirmed_order(shop)
    cancel(order)
    relay_batch()
    deliveries = claim_batch()

    outcomes = [_run(deliveries, subscriber) for subscriber in subscribers]

    assert outcomes == ["done", "done", "done"]
    assert list(Invoice.objects.order_by("sequence").values_list("kind", "number", "total")) == [
        ("invoice", f"{year}-000001", Decimal("59.70")),
        ("credit_note", f"{year}-000002", Decimal("-59.70")),
    ]
    assert Invoice.objects.get(kind="credit_note").credits == Invoice.objects.get(kind="invoice")
    assert OutboxEvent.objects.filter(type="invoice.issued").count() == 2
